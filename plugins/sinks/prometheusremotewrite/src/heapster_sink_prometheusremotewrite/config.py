"""The ``prometheusremotewrite`` sink's URI options and the typed configuration built from them."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.logs import replace_all
from heapster.uri import PluginConfig, parse_header
from heapster_sink_prometheus.names import DEFAULT_PREFIX, checked_prefix

SINK = "sink 'prometheusremotewrite'"

OPTIONS: tuple[Option, ...] = (
    Option("user", default="", help="basic-auth user (or user:password@ in the URL)"),
    Option("pw", default="", secret=True, help="basic-auth password"),
    Option("bearer_token", default="", secret=True, help="bearer token (Authorization: Bearer ...)"),
    Option("headers", OptionKind.LIST,
           [], help="extra request header 'Name: value' (repeatable), e.g. X-Scope-OrgID: team"),
    Option("batch_size", OptionKind.INT, 2000, help="maximum series per write request"),
    Option("prefix", default=DEFAULT_PREFIX, help="prefix of every metric name"),
    Option("timeout", OptionKind.DURATION, 30.0, help="timeout of one write request"),
    Option("insecuressl", OptionKind.BOOL, False, help="skip TLS certificate verification"),
)
"""Every option the ``prometheusremotewrite`` sink accepts."""

SECRET_OPTIONS = ("pw", "bearer_token")


@dataclass(frozen=True, slots=True)
class RemoteWriteConfig:
    """Where to write and how to authenticate."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    batch_size: int = 2000
    prefix: str = DEFAULT_PREFIX
    timeout: float = 30.0
    insecure_ssl: bool = False
    masked_uri: str = ""
    secrets: tuple[str, ...] = ()

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced, for logs and error messages."""
        return replace_all(text, (secret for secret in self.secrets if len(secret) >= 3))


def build_config(config: PluginConfig) -> RemoteWriteConfig:
    """Check and type the options of a ``prometheusremotewrite:`` URI; :class:`UsageError` on a bad value."""
    opts = config.options
    masked = config.uri.masked(SECRET_OPTIONS)
    url = config.url
    if url.scheme not in ("http", "https") or not url.hostname:
        msg = f"{SINK} needs an http(s) URL, e.g. http://prometheus:9090/api/v1/write; got {masked!r}"
        raise UsageError(msg)
    if int(opts["batch_size"]) <= 0:
        msg = f"bad value {opts['batch_size']!r} for option 'batch_size' of {SINK}: must be > 0"
        raise UsageError(msg)
    prefix = checked_prefix(str(opts["prefix"]), SINK)
    headers = dict(parse_header(raw, "headers", SINK) for raw in opts["headers"])
    user = str(opts["user"]) or (url.username or "")
    password = str(opts["pw"]) or (url.password or "")
    token = str(opts["bearer_token"])
    if token and user:
        msg = f"{SINK}: give either basic auth (user/pw) or bearer_token, not both"
        raise UsageError(msg)
    secrets = [s for s in (password, token, *headers.values()) if s]  # headers may carry API keys
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif user:
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {credentials}"
        secrets.append(credentials)
    netloc = url.hostname if url.port is None else f"{url.hostname}:{url.port}"
    if ":" in (url.hostname or "") and url.port is not None:
        netloc = f"[{url.hostname}]:{url.port}"
    plain_url = url._replace(netloc=netloc, query="", fragment="").geturl()
    return RemoteWriteConfig(
        url=plain_url, headers=headers, batch_size=int(opts["batch_size"]), prefix=prefix,
        timeout=float(opts["timeout"]), insecure_ssl=bool(opts["insecuressl"]), masked_uri=masked,
        secrets=tuple(secrets))
