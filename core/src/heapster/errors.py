"""Error types: user mistakes, runtime failures, and export outcomes that sinks report."""

from __future__ import annotations

import sys
from dataclasses import dataclass


class HeapsterError(Exception):
    """Base class of every error heapster raises on purpose."""

    exit_code = 1


class UsageError(HeapsterError):
    """A user mistake in a flag or URI: printed as one line, exit status 2."""

    exit_code = 2


class RuntimeFailure(HeapsterError):
    """A failure at run time (missing credentials, unreachable API): one line, exit status 1."""

    exit_code = 1


class PluginError(HeapsterError):
    """A plugin could not be loaded or registered something twice."""

    exit_code = 1


class DuplicatePluginError(PluginError):
    """Two installed distributions claim one plugin key or entry-point name: an installation to fix before
    the daemon can start, so exit status 2 as for a bad flag."""

    exit_code = 2


class ExportError(HeapsterError):
    """Raised by a sink's ``export``; the subclass tells the sink queue what to do."""


class RetryableError(ExportError):
    """The export may succeed later (server down, 429, 5xx): the batch is kept and retried."""


class PermanentError(ExportError):
    """The export can never succeed (4xx, schema conflict): the batch is dropped and counted.

    ``dropped`` is how many items (points, documents) were lost, for self-metrics.
    """

    def __init__(self, message: str, dropped: int = 1) -> None:
        super().__init__(message)
        self.dropped = dropped


@dataclass(slots=True)
class Rejections:
    """Values of a batch a sink could not encode: how many, and the first one, for the error it reports.

    An encoder's result extends it with the items it did encode::

        @dataclass(slots=True)
        class Encoded(Rejections):
            lines: list[str] = field(default_factory=list)
    """

    rejected: int = 0
    first_rejected: str = ""

    def reject(self, what: str) -> None:
        """Count one value left out; ``what`` describes it (kept when it is the first)."""
        self.rejected += 1
        self.first_rejected = self.first_rejected or what

    def raise_if_any(self, why: str) -> None:
        """:class:`PermanentError` ``"<count> <why>, e.g. <first>"`` (dropping them) when values were left out."""
        if self.rejected:
            raise PermanentError(f"{self.rejected} {why}, e.g. {self.first_rejected}", dropped=self.rejected)


def describe_error(exc: BaseException) -> str:
    """One readable line for a network or client error, for logs and error messages.

    aiohttp renders a failed connection as ``Cannot connect to host h:p ssl:<ssl.SSLContext
    object at 0x...> [...]``; this gives ``cannot connect to h:p: <the OS error>`` instead.
    Other errors are ``Type: text``, or just the type when the text is empty (a bare timeout).
    """
    aiohttp = sys.modules.get("aiohttp")  # only if loaded: the eventer (heapster.http1) never loads it
    if aiohttp is not None and isinstance(exc, aiohttp.ClientConnectorError):
        host = f"[{exc.host}]" if ":" in exc.host else exc.host
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            reason = f"certificate verification failed: {exc.certificate_error}"
        else:
            cause = exc.os_error
            reason = (cause.strerror or str(cause) or type(cause).__name__).strip()
        return f"cannot connect to {host}:{exc.port}: {reason}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class CheckpointConflict(RuntimeFailure):
    """A checkpoint store was written by someone else since it was read (another replica leads now).

    Raised by :meth:`heapster.interfaces.CheckpointStore.save`; the eventer stops exporting (is fenced).
    """
