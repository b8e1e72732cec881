"""The sink's URI options (HEAPSTER.md §7.2 plus ours) and the typed configuration built from them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.logs import register_secret, replace_all, secret_forms
from heapster.uri import PluginConfig

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 8086
DEFAULT_PASSWORD = "root"
MIN_RETENTION_SECONDS = 3600.0
EVENT_CHUNK_POINTS = 1000
"""Heapster's events sink sent at most 1000 points per request (event points are large)."""

API_OPTIONS: tuple[Option, ...] = (
    Option("api", default="auto",
           help="write API: v1 (/write), v2 (/api/v2/write), v3 (/api/v3/write_lp); auto = v2 when "
                "org, bucket or token is given, else v1"),
    Option("org", default="", help="InfluxDB 2 organization (api v2)"),
    Option("bucket", default="", help="InfluxDB 2 bucket (api v2) or InfluxDB 3 database (api v3; default: db)"),
    Option("token", default="", secret=True, help="InfluxDB 2/3 API token"),
)
"""The options of InfluxDB 2 and 3 (the rest of the schema options apply to them unchanged)."""

OPTIONS: tuple[Option, ...] = (
    Option("user", default="root", help="InfluxDB user (default: the URL's user, else root)"),
    Option("pw", default=DEFAULT_PASSWORD, secret=True, help="InfluxDB password (default: the URL's, else root)"),
    Option("db", default="k8s", help="database, created if missing"),
    Option("rp", default="default", help="retention policy written to, created or altered (made the default)"),
    Option("retention", default="0",
           help="InfluxQL duration of the retention policy (e.g. 7d, 168h); 0 or INF keeps data forever"),
    Option("secure", OptionKind.BOOL, False, help="use https"),
    Option("insecuressl", OptionKind.BOOL, False, help="skip TLS certificate verification"),
    Option("withfields", OptionKind.BOOL, False, help="measurement = text before the first '/', field = the rest"),
    Option("cluster_name", default="default", help="value of the cluster_name tag on every point"),
    Option("disable_counter_metrics", OptionKind.BOOL, False,
           help="skip cumulative metrics that have a rate (cpu/usage, network/rx, ...)"),
    Option("concurrency", OptionKind.INT, 1, help="parallel write requests per export"),
    Option("batch_size", OptionKind.INT, 10000, help="maximum points per write request"),
    Option("pod_id_index", OptionKind.BOOL, True,
           help="write the heapster_pod_ids measurement (pod UID -> namespace/name) for pod-id routes"),
    *API_OPTIONS,
)
"""Every option the ``influxdb`` sink accepts, for metrics and events alike."""

_DURATION_PART = r"\d+(?:ns|u|µ|ms|s|m|h|d|w)"
_DURATION = re.compile(rf"^(?:{_DURATION_PART})+$")
_DURATION_PARTS = re.compile(r"(\d+)(ns|u|µ|ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ns": 1e-9, "u": 1e-6, "µ": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
                 "d": 86400.0, "w": 604800.0}
INFINITE = "INF"
APIS = ("auto", "v1", "v2", "v3")


def influxql_duration_seconds(text: str) -> float:
    """Seconds in an InfluxQL duration (``7d``, ``1h30m``); 0 for ``0``/``INF`` (infinite)."""
    if text in ("0", INFINITE):
        return 0.0
    if not _DURATION.match(text):
        msg = f"invalid InfluxQL duration {text!r} (use e.g. 0, INF, 1h, 7d, 4w)"
        raise ValueError(msg)
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PARTS.findall(text))


@dataclass(frozen=True, slots=True)
class InfluxConfig:
    """Everything the sink needs to reach and write to one InfluxDB database."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    user: str = "root"
    password: str = "root"
    db: str = "k8s"
    rp: str = "default"
    retention: str = INFINITE
    secure: bool = False
    insecure_ssl: bool = False
    with_fields: bool = False
    cluster_name: str = "default"
    disable_counter_metrics: bool = False
    concurrency: int = 1
    batch_size: int = 10000
    pod_id_index: bool = True
    masked_uri: str = ""
    api: str = "v1"
    """``v1`` (``/write``, database and retention policy managed), ``v2`` or ``v3`` (written as they are)."""
    org: str = ""
    bucket: str = ""
    token: str = ""

    @property
    def base_url(self) -> str:
        """``http(s)://host:port`` (Heapster used only host:port of the URI)."""
        scheme = "https" if self.secure else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def retention_seconds(self) -> float:
        """The retention as seconds, 0 meaning infinite."""
        return influxql_duration_seconds(self.retention)

    def redact(self, text: str) -> str:
        """``text`` with the password and token (plain, URL-quoted or inside Basic credentials) replaced."""
        if self.password and len(self.password) >= 3:
            text = replace_all(text, secret_forms(self.password, self.user))
        if self.token and len(self.token) >= 3:
            text = replace_all(text, secret_forms(self.token))
        return text


def credentials(config: PluginConfig) -> tuple[str, str]:
    """``(user, password)``: the ``user``/``pw`` options when given, else those of the URL, else root/root.

    Heapster read only the options (it dropped the URL's userinfo and sent root:root); the
    options still win, so existing command lines behave as before.
    """
    given = {name for name, _ in config.uri.query}
    url = config.url
    user = str(config.options["user"])
    if "user" not in given and url.username is not None:
        user = unquote(url.username)
    password = str(config.options["pw"])
    if "pw" not in given and url.password is not None:
        password = unquote(url.password)
    return user, password


def build_config(config: PluginConfig) -> InfluxConfig:
    """Check and type the options of an ``influxdb:`` URI; :class:`UsageError` on a bad value."""
    opts = config.options
    masked = config.uri.masked(["pw", "token"])
    retention = str(opts["retention"]).strip()
    if retention.lower() in ("0", "inf", ""):
        retention = INFINITE
    try:
        seconds = influxql_duration_seconds(retention)
    except ValueError as exc:
        msg = f"bad value for option 'retention' of sink 'influxdb': {exc}"
        raise UsageError(msg) from None
    if 0 < seconds < MIN_RETENTION_SECONDS:
        msg = f"bad value {retention!r} for option 'retention' of sink 'influxdb': InfluxDB's minimum is 1h"
        raise UsageError(msg)
    for name in ("concurrency", "batch_size"):
        if int(opts[name]) <= 0:
            msg = f"bad value {opts[name]!r} for option {name!r} of sink 'influxdb': must be > 0"
            raise UsageError(msg)
    for name in ("db", "rp"):
        if not str(opts[name]):
            msg = f"option {name!r} of sink 'influxdb' must not be empty"
            raise UsageError(msg)
    try:
        port = config.url.port or DEFAULT_PORT
    except ValueError:
        msg = f"bad port in {masked!r}"
        raise UsageError(msg) from None
    user, password = credentials(config)
    if password != DEFAULT_PASSWORD:
        register_secret(password, user)
    if opts["token"]:
        register_secret(str(opts["token"]))
    return InfluxConfig(
        host=config.url.hostname or DEFAULT_HOST,
        port=port,
        user=user,
        password=password,
        db=str(opts["db"]),
        rp=str(opts["rp"]),
        retention=retention,
        secure=bool(opts["secure"]),
        insecure_ssl=bool(opts["insecuressl"]),
        with_fields=bool(opts["withfields"]),
        cluster_name=str(opts["cluster_name"]),
        disable_counter_metrics=bool(opts["disable_counter_metrics"]),
        concurrency=int(opts["concurrency"]),
        batch_size=int(opts["batch_size"]),
        pod_id_index=bool(opts["pod_id_index"]),
        masked_uri=masked,
        **api_settings(opts),
    )


def api_settings(opts: Mapping[str, Any]) -> dict[str, str]:
    """The ``api``, ``org``, ``bucket`` and ``token`` settings, checked (InfluxDB 2 and 3)."""
    api = str(opts["api"]).lower()
    org, bucket, token = str(opts["org"]), str(opts["bucket"]), str(opts["token"])
    if api not in APIS:
        msg = f"bad value {api!r} for option 'api' of sink 'influxdb'; valid: {', '.join(APIS)}"
        raise UsageError(msg)
    if api == "auto":
        api = "v2" if (org or bucket or token) else "v1"
    if api == "v2" and not (org and bucket):
        msg = "sink 'influxdb' with InfluxDB 2 (api=v2) needs both options 'org' and 'bucket'"
        raise UsageError(msg)
    if api == "v3":
        bucket = bucket or str(opts["db"])
    return {"api": api, "org": org, "bucket": bucket, "token": token}
