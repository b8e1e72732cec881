"""What server answers (``GET /``) and which media types it takes: compatible-with or plain JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from heapster.errors import RuntimeFailure

AUTO_VERSIONS = frozenset({"", "auto", "2", "5"})
"""``ver`` values that mean "detect": Heapster's client versions 2 and 5 no longer select a client."""
API_VERSIONS = frozenset({"7", "8", "9"})
"""``ver`` values that pin the Elasticsearch REST API version to speak."""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """The product and version a server reported on ``GET /``."""

    distribution: str
    number: str
    product_header: str = ""

    @property
    def major(self) -> int:
        head = self.number.split(".", 1)[0]
        return int(head) if head.isdigit() else 0

    @property
    def opensearch(self) -> bool:
        return self.distribution == "opensearch"

    def describe(self) -> str:
        return f"{'OpenSearch' if self.opensearch else 'Elasticsearch'} {self.number}"


def parse_server_info(body: Any, headers: Mapping[str, str]) -> ServerInfo:
    """Read ``version.number``/``version.distribution`` and the ``X-Elastic-Product`` header."""
    version = body.get("version") if isinstance(body, Mapping) else None
    if not isinstance(version, Mapping) or not isinstance(version.get("number"), str):
        msg = "the server's answer to GET / has no version.number: not Elasticsearch or OpenSearch"
        raise RuntimeFailure(msg)
    distribution = str(version.get("distribution") or "elasticsearch").lower()
    product = ""
    for name, value in headers.items():
        if name.lower() == "x-elastic-product":
            product = value
    return ServerInfo(distribution, version["number"], product)


@dataclass(frozen=True, slots=True)
class MediaTypes:
    """The ``Accept``/``Content-Type`` values to send: compatible-with=N, or plain when N is None."""

    compatible_with: int | None

    def json(self) -> str:
        return self._vendor("json")

    def ndjson(self) -> str:
        return self._vendor("x-ndjson")

    def _vendor(self, kind: str) -> str:
        if self.compatible_with is None:
            return f"application/{kind}"
        return f"application/vnd.elasticsearch+{kind}; compatible-with={self.compatible_with}"

    def rewrite(self, mimetype: str) -> str:
        """Map whatever media type the client chose (plain or compatible-with) to ours."""
        base = mimetype.split(";", 1)[0].strip().lower()
        kind = base.removeprefix("application/").removeprefix("vnd.elasticsearch+")
        if kind in ("json", "x-ndjson") and base.startswith("application/"):
            return self._vendor(kind)
        return mimetype


PLAIN = MediaTypes(None)


def negotiate(server: ServerInfo, ver: str) -> MediaTypes:
    """The media types to use with ``server``; ``ver`` ("" = detect, or 7/8/9) pins the API version.

    Elasticsearch 8 and later take ``compatible-with`` for their own major and the one before
    (and must get it from the official client); Elasticsearch 7 and OpenSearch take plain JSON
    only. Raises :class:`RuntimeFailure` when ``ver`` cannot be spoken to ``server``.
    """
    if server.opensearch:
        if ver in AUTO_VERSIONS or ver == "7":
            return PLAIN
        msg = f"ver={ver} needs Elasticsearch {ver}, but the server is {server.describe()} (use ver=7 or omit ver)"
        raise RuntimeFailure(msg)
    major = server.major
    if major < 7:
        msg = f"{server.describe()} is too old: Elasticsearch 7, 8, 9 and OpenSearch 1-3 are supported"
        raise RuntimeFailure(msg)
    if major >= 8 and server.product_header != "Elasticsearch":
        msg = f"the server says it is {server.describe()} but does not send X-Elastic-Product: Elasticsearch"
        raise RuntimeFailure(msg)
    wanted = major if ver in AUTO_VERSIONS else int(ver)
    if major == 7:
        if wanted == 7:
            return PLAIN
    elif wanted in (major, major - 1):
        return MediaTypes(wanted)
    msg = f"ver={ver} cannot be spoken to {server.describe()} (it accepts API versions {_accepted(major)})"
    raise RuntimeFailure(msg)


def _accepted(major: int) -> str:
    return "7" if major == 7 else f"{major - 1} and {major}"
