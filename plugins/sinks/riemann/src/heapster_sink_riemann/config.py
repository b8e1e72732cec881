"""The ``riemann`` sink's URI options (Heapster's ``common/riemann``) and the typed configuration."""

from __future__ import annotations

from dataclasses import dataclass

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.uri import PluginConfig

DEFAULT_HOST = "riemann-heapster:5555"

OPTIONS: tuple[Option, ...] = (
    Option("ttl", OptionKind.FLOAT, 60.0, help="time to live of the events, seconds"),
    Option("state", default="", help="state of the metric events (events of Kubernetes events: ok/warning)"),
    Option("tags", OptionKind.LIST, ["heapster"], help="tag of every event; repeat for several (default heapster)"),
    Option("batchsize", OptionKind.INT, 1000, help="events per message"),
    Option("storeEvents", OptionKind.BOOL,
           True, help="listed in Heapster's docs, never read by it; accepted and ignored"),
    Option("timeout", OptionKind.DURATION, 5.0,
           help="ours: connect and reply timeout (Heapster connected with 5s and waited forever for replies)"),
)
"""Every option of the ``riemann`` sink, for metrics and events alike."""


@dataclass(frozen=True, slots=True)
class RiemannConfig:
    """Where to connect and what every event carries."""

    host: str = "riemann-heapster"
    port: int = 5555
    ttl: float = 60.0
    state: str = ""
    tags: tuple[str, ...] = ("heapster",)
    batch_size: int = 1000
    timeout: float = 5.0
    masked_uri: str = ""


def _address(config: PluginConfig) -> str:
    """``host:port`` from ``riemann:tcp://host:port`` (what Heapster read), or from ``riemann:host:port``."""
    url = config.url
    if url.netloc:
        return url.netloc
    if url.scheme and url.path.isdigit():  # "riemann:localhost:5555" parses as scheme "localhost"
        return f"{url.scheme}:{url.path}"
    return DEFAULT_HOST


def build_config(config: PluginConfig) -> RiemannConfig:
    """Check and type the options of a ``riemann:`` URI; :class:`UsageError` names the bad part."""
    opts = config.options
    address = _address(config)
    host, _, port_text = address.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        msg = f"sink 'riemann': bad address {address!r}; expected riemann:tcp://HOST:PORT"
        raise UsageError(msg)
    if int(opts["batchsize"]) < 1:
        msg = f"sink 'riemann': bad value {opts['batchsize']!r} for option 'batchsize': must be at least 1"
        raise UsageError(msg)
    if float(opts["ttl"]) < 0:
        msg = f"sink 'riemann': bad value {opts['ttl']!r} for option 'ttl': must not be negative"
        raise UsageError(msg)
    if float(opts["timeout"]) <= 0:
        msg = "sink 'riemann': option 'timeout' must be positive"
        raise UsageError(msg)
    return RiemannConfig(
        host=host.strip("[]"), port=int(port_text), ttl=float(opts["ttl"]), state=str(opts["state"]),
        tags=tuple(opts["tags"]) or ("heapster",), batch_size=int(opts["batchsize"]), timeout=float(opts["timeout"]),
        masked_uri=config.uri.masked(),
    )
