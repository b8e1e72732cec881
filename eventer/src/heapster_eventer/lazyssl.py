"""Load the ``ssl`` module (OpenSSL: ~4.5 MiB resident) only once something speaks TLS.

asyncio imports ``ssl`` as it is imported, whether or not a connection ever uses TLS; an eventer
that watches an ``http://`` API server and writes to the log sink never does. :func:`defer_ssl`
imports asyncio as if ``ssl`` were missing, then puts a lazy ``ssl`` module in ``sys.modules``: an
``import ssl`` costs nothing, and the first use of a name the module lacks (an ``SSLContext`` for
an ``https`` URL, a library that reads ``ssl.*`` as it is imported, asyncio asked for
``ssl=True``) runs the real module in place (as :class:`importlib.util.LazyLoader` does, whose
modules an ``import`` statement already runs) and hands it to asyncio, which from then on works
exactly as if it had imported it itself.

Before that first use no ``ssl.SSLSocket`` can exist, so asyncio's guard against passing one to its
``sock_*`` methods (the only other place its modules read ``ssl``) has nothing to catch.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

ASYNCIO_MODULES = ("asyncio.base_events", "asyncio.selector_events", "asyncio.sslproto")
"""asyncio's modules that import ``ssl`` (``None`` in them means "no TLS available")."""


_loading = threading.RLock()
_running: set[str] = set()
"""Lazy modules being run now (a name they lack while they run is missing, as in any circular import)."""


class _LazyModule(ModuleType):
    """A module created but not run yet: the first name asked of it that it lacks runs it (in place)."""

    def __getattr__(self, name: str) -> Any:
        with _loading:
            if type(self) is _LazyModule and self.__name__ not in _running:
                _running.add(self.__name__)
                try:
                    self.__spec__.loader.exec_module(self)  # type: ignore[union-attr]
                finally:
                    _running.discard(self.__name__)
                self.__class__ = ModuleType  # type: ignore[assignment]
                hand_to_asyncio(self)
        try:
            return self.__dict__[name]
        except KeyError:
            msg = f"module {self.__name__!r} has no attribute {name!r}"
            raise AttributeError(msg) from None


def hand_to_asyncio(ssl: ModuleType) -> None:
    """Give asyncio's modules the ``ssl`` module, as their own ``import ssl`` would have."""
    for name in ASYNCIO_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            module.ssl = ssl  # type: ignore[attr-defined]
    sslproto = sys.modules.get("asyncio.sslproto")
    if sslproto is not None:
        sslproto.SSLAgainErrors = (ssl.SSLWantReadError, ssl.SSLSyscallError)  # type: ignore[attr-defined]


def defer_ssl() -> bool:
    """Import asyncio without ``ssl`` and make ``ssl`` load on first use; ``False`` if it is too late or unknown.

    Call before anything imports asyncio or ``ssl``. With an asyncio whose modules do not look as
    expected, ``ssl`` is loaded at once (as without this function).
    """
    if "ssl" in sys.modules or "asyncio" in sys.modules:
        return False
    spec = importlib.util.find_spec("ssl")
    if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
        return False
    sys.modules["ssl"] = None  # type: ignore[assignment]  # asyncio's `import ssl` fails: TLS off for now
    try:
        import asyncio
        import asyncio.base_events
        import asyncio.selector_events
        import asyncio.sslproto
    finally:
        del sys.modules["ssl"]
    if not all(getattr(sys.modules[name], "ssl", False) is None for name in ASYNCIO_MODULES):
        import ssl

        hand_to_asyncio(ssl)
        return False
    lazy = importlib.util.module_from_spec(spec)
    lazy.__class__ = _LazyModule
    sys.modules["ssl"] = lazy
    # sslproto reads `ssl` only while a TLS connection is made or used: it may load it (``ssl=True``).
    asyncio.sslproto.ssl = lazy  # type: ignore[attr-defined]
    return True
