"""The ``otlp`` sink's URI options and the typed configuration built from them."""

from __future__ import annotations

from dataclasses import dataclass, field

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.logs import replace_all
from heapster.uri import PluginConfig, parse_header

SINK = "sink 'otlp'"
COMPRESSIONS = ("gzip", "none")
PROTOCOLS = ("http", "grpc")

OPTIONS: tuple[Option, ...] = (
    Option("protocol", default="http",
           help="http (OTLP/HTTP protobuf, port 4318) or grpc (OTLP/gRPC, port 4317)"),
    Option("headers", OptionKind.LIST,
           [], help="extra request header 'Name: value' (repeatable), e.g. Authorization: Bearer x"),
    Option("compression", default="gzip", help="request body compression: gzip or none"),
    Option("metrics_path", default="/v1/metrics", help="path of the metrics endpoint under the URL"),
    Option("logs_path", default="/v1/logs", help="path of the logs endpoint under the URL (eventer)"),
    Option("batch_size", OptionKind.INT, 1000, help="maximum resources (metric sets) per metrics request"),
    Option("cluster_name", default="", help="k8s.cluster.name resource attribute on everything sent"),
    Option("timeout", OptionKind.DURATION, 30.0, help="timeout of one request"),
    Option("insecuressl", OptionKind.BOOL, False, help="skip TLS certificate verification"),
)
"""Every option the ``otlp`` sink accepts, for metrics and events alike."""


@dataclass(frozen=True, slots=True)
class OtlpConfig:
    """Where the OTLP/HTTP receiver is and how to talk to it."""

    endpoint: str
    headers: dict[str, str] = field(default_factory=dict)
    gzip: bool = True
    metrics_path: str = "/v1/metrics"
    logs_path: str = "/v1/logs"
    batch_size: int = 1000
    cluster_name: str = ""
    timeout: float = 30.0
    insecure_ssl: bool = False
    secrets: tuple[str, ...] = ()
    protocol: str = "http"
    """``http`` (POST to ``endpoint`` + path) or ``grpc`` (the collector services at ``endpoint``'s host:port)."""

    def redact(self, text: str) -> str:
        """``text`` with header values (tokens) replaced, for logs and error messages."""
        return replace_all(text, (secret for secret in self.secrets if len(secret) >= 3))


def build_config(config: PluginConfig) -> OtlpConfig:
    """Check and type the options of an ``otlp:`` URI; :class:`UsageError` on a bad value."""
    opts = config.options
    url = config.url
    if url.scheme not in ("http", "https") or not url.hostname:
        msg = (f"{SINK} needs the receiver's http(s) URL, e.g. otlp:http://otel-collector:4318; "
               f"got {config.uri.masked()!r}")
        raise UsageError(msg)
    compression = str(opts["compression"]).lower()
    if compression not in COMPRESSIONS:
        msg = f"bad value {compression!r} for option 'compression' of {SINK}; valid: {', '.join(COMPRESSIONS)}"
        raise UsageError(msg)
    protocol = str(opts["protocol"]).lower()
    if protocol not in PROTOCOLS:
        msg = f"bad value {protocol!r} for option 'protocol' of {SINK}; valid: {', '.join(PROTOCOLS)}"
        raise UsageError(msg)
    if int(opts["batch_size"]) <= 0:
        msg = f"bad value {opts['batch_size']!r} for option 'batch_size' of {SINK}: must be > 0"
        raise UsageError(msg)
    for name in ("metrics_path", "logs_path"):
        if not str(opts[name]).startswith("/"):
            msg = f"bad value {opts[name]!r} for option {name!r} of {SINK}: must start with '/'"
            raise UsageError(msg)
    headers = dict(parse_header(raw, "headers", SINK) for raw in opts["headers"])
    endpoint = url._replace(query="", fragment="").geturl().rstrip("/")
    return OtlpConfig(
        endpoint=endpoint, headers=headers, gzip=compression == "gzip", metrics_path=str(opts["metrics_path"]),
        logs_path=str(opts["logs_path"]), batch_size=int(opts["batch_size"]),
        cluster_name=str(opts["cluster_name"]), timeout=float(opts["timeout"]),
        insecure_ssl=bool(opts["insecuressl"]), secrets=tuple(v for v in headers.values() if v), protocol=protocol)
