"""The ``wavefront:`` URI (HEAPSTER.md §9.1): ``wavefront:<proxy host>:<port>?clusterName=&prefix=&...``."""

from __future__ import annotations

from dataclasses import dataclass

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.sinks.lines import split_host_port
from heapster.uri import PluginConfig

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 2878
"""The Wavefront proxy's default port for the Wavefront data format."""

OPTIONS: tuple[Option, ...] = (
    Option("clusterName", default="k8s-cluster", help="value of the 'cluster' tag (and source of cluster metrics)"),
    Option("prefix", default="heapster.", help="text put before every metric name"),
    Option("includeLabels", OptionKind.BOOL, False, help="send the pods' and nodes' own labels as label.<name> tags"),
    Option("includeContainers", OptionKind.BOOL, True, help="send the metrics of pod containers"),
    Option("testMode", OptionKind.BOOL, False, help="log the lines instead of sending them (Heapster's test switch)"),
)
"""Every option of the ``wavefront`` sink, as Heapster's ``metrics/sinks/wavefront/wavefront.go``."""


@dataclass(frozen=True, slots=True)
class WavefrontConfig:
    """The proxy's address and what is written."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    cluster_name: str = "k8s-cluster"
    prefix: str = "heapster."
    include_labels: bool = False
    include_containers: bool = True
    test_mode: bool = False


def proxy_address(config: PluginConfig) -> str:
    """The ``host:port`` of the URI in its three spellings.

    ``wavefront:proxy:2878`` (Heapster's documented form: URL parsers read the host as a scheme and the
    port as the rest, which Heapster glued back together), ``wavefront:10.0.0.1:2878`` (no scheme) and
    ``wavefront:tcp://proxy:2878``.
    """
    url = config.url
    if url.netloc:
        return url.netloc
    if url.scheme:
        return f"{url.scheme}:{url.path}"
    return url.path


def build_config(config: PluginConfig) -> WavefrontConfig:
    """Check and type a ``wavefront:`` URI; :class:`UsageError` naming the bad part."""
    try:
        host, port = split_host_port(proxy_address(config), DEFAULT_HOST, DEFAULT_PORT)
    except ValueError as exc:
        msg = f"bad proxy address for sink 'wavefront' (expected wavefront:<host>:<port>): {exc}"
        raise UsageError(msg) from None
    opts = config.options
    return WavefrontConfig(host=host, port=port, cluster_name=str(opts["clusterName"]), prefix=str(opts["prefix"]),
                           include_labels=bool(opts["includeLabels"]),
                           include_containers=bool(opts["includeContainers"]), test_mode=bool(opts["testMode"]))
