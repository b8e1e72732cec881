"""The sink's settings, read from Heapster's URI options (HEAPSTER.md §8) and checked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import structlog

from heapster.durations import parse_duration
from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.uri import PluginConfig
from heapster_sink_elasticsearch.server import API_VERSIONS, AUTO_VERSIONS

log = structlog.get_logger(__name__)

OPTIONS = (
    Option("nodes", OptionKind.LIST, help="Elasticsearch/OpenSearch URLs (repeatable); override the URL of the URI"),
    Option("index", default="heapster", help="base name of the daily indices, aliases and data streams"),
    Option("esUserName", default="", help="basic-auth user (with esUserSecret)"),
    Option("esUserSecret", default="", secret=True, help="basic-auth password (with esUserName)"),
    Option("maxRetries", OptionKind.INT, default=0, help="retries of one HTTP request on another node"),
    Option("healthCheck", OptionKind.BOOL, default=True, help="wait for the server at start; retire dead nodes"),
    Option("sniff", OptionKind.BOOL, default=True, help="discover the cluster's other nodes"),
    Option("startupHealthcheckTimeout", default="5", help="seconds to wait for the server at start"),
    Option("ver", default="5", help="REST API version: 7, 8 or 9; 2, 5 (Heapster's) or auto detect"),
    Option("bulkWorkers", OptionKind.INT, default=5, help="concurrent bulk requests"),
    Option("cluster_name", default="default", help="stored as cluster_name in every document's tags"),
    Option("pipeline", default="", help="ingest pipeline for every document"),
    Option("dataStreams", OptionKind.BOOL,
           default=False, help="write data streams <index>-<type> instead of daily indices"),
)
"""Every URI option with Heapster's defaults (``dataStreams`` is ours)."""

_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")


@dataclass(frozen=True)
class Settings:
    """Everything the sink needs, typed; ``password`` is never logged or shown."""

    nodes: tuple[str, ...]
    index: str = "heapster"
    username: str = ""
    password: str = field(default="", repr=False)
    max_retries: int = 0
    health_check: bool = True
    sniff: bool = True
    startup_timeout: float = 5.0
    ver: str = ""
    bulk_workers: int = 5
    cluster_name: str = "default"
    pipeline: str = ""
    data_streams: bool = False

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.username and self.password else None


def _node(raw: str) -> tuple[str, str, str]:
    """A node URL without credentials, and the user and password it carried."""
    text = raw.strip()
    if "://" not in text:
        text = f"http://{text}"
    try:
        parts = urlsplit(text)
        _ = parts.port
    except ValueError as exc:
        msg = f"bad Elasticsearch node {raw!r}: {exc}"
        raise UsageError(msg) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"bad Elasticsearch node {raw!r}: expected http(s)://host:port"
        raise UsageError(msg)
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    clean = urlunsplit(SplitResult(parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return clean, unquote(parts.username or ""), unquote(parts.password or "")


def startup_timeout(raw: str) -> float:
    """Heapster's value is seconds (``5``); a Go duration (``5s``, ``500ms``) is accepted too."""
    text = raw.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ValueError:
        msg = f"bad value {raw!r} for option 'startupHealthcheckTimeout': use seconds, e.g. 5"
        raise UsageError(msg) from None


def settings_from(config: PluginConfig) -> Settings:
    """Check the options of one ``--sink=elasticsearch:...`` and turn them into :class:`Settings`."""
    opts = config.options
    raw_nodes = list(opts["nodes"])
    if not raw_nodes and config.url.scheme and config.url.netloc:
        raw_nodes = [urlunsplit(SplitResult(config.url.scheme, config.url.netloc, config.url.path, "", ""))]
    if not raw_nodes:
        msg = "There is no node assigned for connecting ES cluster: give a URL or nodes=http://host:9200"
        raise UsageError(msg)
    nodes: list[str] = []
    username, password = str(opts["esUserName"]), str(opts["esUserSecret"])
    for raw in raw_nodes:
        node, user, secret = _node(raw)
        nodes.append(node)
        if user and not username:
            username, password = user, secret
    if bool(username) != bool(password):
        log.warning("sink.elasticsearch.auth.ignored", reason="esUserName and esUserSecret must be given together")
    index = str(opts["index"])
    if not _INDEX_NAME.match(index):
        msg = f"bad value {index!r} for option 'index': lowercase letters, digits and _ . + - only"
        raise UsageError(msg)
    ver = str(opts["ver"]).strip().lower()
    if ver not in AUTO_VERSIONS | API_VERSIONS:
        msg = f"Unsupported ElasticSearch Client Version {ver!r}: use 7, 8 or 9 (or 2, 5, auto to detect)"
        raise UsageError(msg)
    workers = int(opts["bulkWorkers"])
    if workers < 1:
        msg = f"bad value {workers} for option 'bulkWorkers': at least 1"
        raise UsageError(msg)
    retries = int(opts["maxRetries"])
    if retries < 0:
        msg = f"bad value {retries} for option 'maxRetries': 0 or more"
        raise UsageError(msg)
    return Settings(
        nodes=tuple(nodes),
        index=index,
        username=username,
        password=password,
        max_retries=retries,
        health_check=bool(opts["healthCheck"]),
        sniff=bool(opts["sniff"]),
        startup_timeout=startup_timeout(str(opts["startupHealthcheckTimeout"])),
        ver=ver,
        bulk_workers=workers,
        cluster_name=str(opts["cluster_name"]),
        pipeline=str(opts["pipeline"]),
        data_streams=bool(opts["dataStreams"]),
    )
