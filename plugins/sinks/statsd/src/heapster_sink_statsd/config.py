"""The ``statsd:`` URI (HEAPSTER.md §9.1): ``statsd:udp://host:port?prefix=&protocolType=&numMetricsPerMsg=...``."""

from __future__ import annotations

from dataclasses import dataclass, field

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.sinks.lines import split_host_port
from heapster.uri import PluginConfig

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 8125
PROTOCOLS = ("etsystatsd", "influxstatsd")
LABEL_STYLES = ("lowerCamelCase", "upperCamelCase")

OPTIONS: tuple[Option, ...] = (
    Option("prefix", default="", help="text put before every metric name"),
    Option("protocolType", default="etsystatsd", help=f"line format: {' or '.join(PROTOCOLS)}"),
    Option("numMetricsPerMsg", OptionKind.INT, 5, help="metric lines per UDP datagram (> 0)"),
    Option("renameLabels", default="", help="label renames, old:new,old2:new2"),
    Option("allowedLabels", default="", help="comma-separated labels to keep (default: all)"),
    Option("labelStyle", default="", help=f"label name style: {' or '.join(LABEL_STYLES)} (default: as is)"),
)
"""Every option of the ``statsd`` sink, as Heapster's ``metrics/sinks/statsd/driver.go``."""


@dataclass(frozen=True, slots=True)
class StatsdConfig:
    """Where the statsd daemon listens and how lines are formatted."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    prefix: str = ""
    protocol: str = "etsystatsd"
    metrics_per_message: int = 5
    rename_labels: dict[str, str] = field(default_factory=dict)
    allowed_labels: frozenset[str] = frozenset()
    label_style: str = ""


def _bad(option: str, value: str, why: str) -> UsageError:
    return UsageError(f"bad value {value!r} for option {option!r} of sink 'statsd': {why}")


def build_config(config: PluginConfig) -> StatsdConfig:
    """Check and type a ``statsd:`` URI; :class:`UsageError` naming the bad part and the valid choices."""
    opts = config.options
    protocol = str(opts["protocolType"]).lower()
    if protocol not in PROTOCOLS:
        raise _bad("protocolType", opts["protocolType"], f"valid: {', '.join(PROTOCOLS)}")
    per_message = int(opts["numMetricsPerMsg"])
    if per_message <= 0:
        raise _bad("numMetricsPerMsg", str(per_message), "must be a positive integer")
    renames: dict[str, str] = {}
    for item in filter(None, str(opts["renameLabels"]).split(",")):
        old, sep, new = item.partition(":")
        if not sep:
            raise _bad("renameLabels", item, "expected old:new pairs separated by commas")
        renames[old] = new
    style = str(opts["labelStyle"])
    if style and style not in LABEL_STYLES:
        raise _bad("labelStyle", style, f"valid: {', '.join(LABEL_STYLES)}")
    try:
        host, port = split_host_port(config.url.netloc, DEFAULT_HOST, DEFAULT_PORT)
    except ValueError as exc:
        msg = f"bad address for sink 'statsd': {exc}"
        raise UsageError(msg) from None
    return StatsdConfig(
        host=host, port=port, prefix=str(opts["prefix"]), protocol=protocol, metrics_per_message=per_message,
        rename_labels=renames, allowed_labels=frozenset(filter(None, str(opts["allowedLabels"]).split(","))),
        label_style=style)
