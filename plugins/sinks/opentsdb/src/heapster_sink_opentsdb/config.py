"""The ``opentsdb:`` URI (HEAPSTER.md §9.1): ``opentsdb:http://host:4242?cluster=<name>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from heapster.errors import UsageError
from heapster.interfaces import Option
from heapster.sinks.lines import split_host_port
from heapster.uri import PluginConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4242
DEFAULT_CLUSTER = "k8s-cluster"
BATCH_SIZE = 1000
"""Data points per ``/api/put`` request, as Heapster."""

_INVALID = re.compile(r"[^\w\-./]")

OPTIONS: tuple[Option, ...] = (
    Option("cluster", default=DEFAULT_CLUSTER, help="value of the 'cluster' tag on every data point"),
)
"""Every option of the ``opentsdb`` sink: Heapster had only ``cluster``."""


@dataclass(frozen=True, slots=True)
class OpentsdbConfig:
    """Where OpenTSDB listens and the cluster tag."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    cluster: str = DEFAULT_CLUSTER

    @property
    def put_url(self) -> str:
        """``/api/put`` over plain http (Heapster ignored the URI's scheme), asking for error details."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/api/put?details"


def build_config(config: PluginConfig) -> OpentsdbConfig:
    """Check and type an ``opentsdb:`` URI; :class:`UsageError` naming the bad part."""
    try:
        host, port = split_host_port(config.url.netloc, DEFAULT_HOST, DEFAULT_PORT)
    except ValueError as exc:
        msg = f"bad address for sink 'opentsdb': {exc}"
        raise UsageError(msg) from None
    cluster = str(config["cluster"])
    if not cluster or _INVALID.search(cluster):
        msg = (f"bad value {cluster!r} for option 'cluster' of sink 'opentsdb': OpenTSDB tag values need "
               "at least one character, all of them letters, digits, '-', '_', '.' or '/'")
        raise UsageError(msg)
    return OpentsdbConfig(host=host, port=port, cluster=cluster)
