"""The ``gcl`` event sink's options. Heapster's took none (project and credentials came from the
environment); ours add the project and an endpoint for emulators."""

from __future__ import annotations

from dataclasses import dataclass

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.uri import PluginConfig

OPTIONS: tuple[Option, ...] = (
    Option("project", default="", help="ours: project ID (default: $GOOGLE_PROJECT_ID, credentials, metadata)"),
    Option("endpoint", default="", help="ours: API endpoint host:port (default logging.googleapis.com)"),
    Option("insecure", OptionKind.BOOL, False, help="ours: plaintext gRPC without credentials, for emulators only"),
    Option("timeout", OptionKind.DURATION, 30.0, help="ours: timeout of one write request"),
)


@dataclass(frozen=True, slots=True)
class GclConfig:
    """The options, typed."""

    project: str = ""
    endpoint: str = ""
    insecure: bool = False
    timeout: float = 30.0
    masked_uri: str = ""


def build_config(config: PluginConfig) -> GclConfig:
    """Type the options of a ``gcl:`` URI; :class:`UsageError` names the bad one."""
    opts = config.options
    if opts["insecure"] and not opts["endpoint"]:
        msg = "event sink 'gcl': option 'insecure' needs 'endpoint' (an emulator's host:port)"
        raise UsageError(msg)
    if float(opts["timeout"]) <= 0:
        msg = "event sink 'gcl': option 'timeout' must be positive"
        raise UsageError(msg)
    return GclConfig(project=str(opts["project"]), endpoint=str(opts["endpoint"]), insecure=bool(opts["insecure"]),
                     timeout=float(opts["timeout"]), masked_uri=config.uri.masked())
