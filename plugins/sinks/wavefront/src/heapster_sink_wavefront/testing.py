"""A strict Wavefront proxy double for tests: the Wavefront data format over TCP, parsed and checked.

No Wavefront proxy can run here (it forwards to the Wavefront SaaS), so this double follows the
proxy's rules for ``<metricName> <metricValue> [<timestamp>] source=<source> [<tagKey>=<tagValue> ...]``:

* metric name: letters, digits, ``-``, ``_``, ``.`` (``/`` and ``,`` only when quoted), at most 256
  characters; value: a finite number; timestamp: an integer (epoch seconds) if present;
* ``source=`` (or ``host=``) present and not empty, at most 128 characters;
* tag keys: letters, digits, ``-``, ``_``, ``.``; values not empty, quoted with ``"`` (``\\"`` escapes) or
  bare; key and value together at most 254 characters;
* a line that breaks a rule is refused and counted (``rejected``), the connection goes on, as the
  proxy does; when the client closes its side the double closes the connection.
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass, field

from heapster.testing.net import TcpServerThread, free_port

_BARE_NAME = re.compile(r"^[A-Za-z0-9\-_.]+$")
_QUOTED_NAME = re.compile(r"^[A-Za-z0-9\-_./,]+$")
_TOKEN = re.compile(r'\s*(?:([^\s="]+)=)?(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))')


@dataclass(frozen=True, slots=True)
class Point:
    """One point the proxy accepted."""

    metric: str
    value: float
    timestamp: int | None
    source: str
    tags: dict[str, str]


class BadLine(ValueError):
    """A line the proxy would refuse."""


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_line(line: str) -> Point:
    """One Wavefront data-format line as a :class:`Point`; :class:`BadLine` where the proxy refuses it."""
    tokens: list[tuple[str | None, str, bool]] = []
    position = 0
    text = line.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise BadLine(f"cannot parse at {text[position:position + 20]!r}")
        key, quoted, bare = match.groups()
        tokens.append((key, _unescape(quoted) if quoted is not None else bare, quoted is not None))
        position = match.end()
    if len(tokens) < 2 or tokens[0][0] is not None or tokens[1][0] is not None:
        raise BadLine("expected <metricName> <metricValue>")
    (_, metric, metric_quoted), (_, value_text, _) = tokens[0], tokens[1]
    if not (_QUOTED_NAME if metric_quoted else _BARE_NAME).match(metric) or len(metric) > 256:
        raise BadLine(f"invalid metric name {metric!r}")
    try:
        value = float(value_text)
    except ValueError:
        raise BadLine(f"invalid value {value_text!r}") from None
    if not math.isfinite(value):
        raise BadLine(f"invalid value {value_text!r}")
    rest = tokens[2:]
    timestamp = None
    if rest and rest[0][0] is None:
        if not rest[0][1].isdigit():
            raise BadLine(f"invalid timestamp {rest[0][1]!r}")
        timestamp = int(rest[0][1])
        rest = rest[1:]
    source, tags = None, {}
    for key, tag_value, _ in rest:
        if key is None:
            raise BadLine(f"unexpected {tag_value!r} (tags are key=value)")
        if key in ("source", "host") and source is None:
            source = tag_value
            continue
        if not _BARE_NAME.match(key):
            raise BadLine(f"invalid point tag key {key!r}")
        if not tag_value:
            raise BadLine(f"empty value of point tag {key!r}")
        if len(key) + len(tag_value) > 254:
            raise BadLine(f"point tag {key!r} too long")
        tags[key] = tag_value
    if not source or len(source) > 128:
        raise BadLine(f"missing, empty or too long source {source!r}")
    return Point(metric, value, timestamp, source, tags)


@dataclass
class WavefrontProxyDouble:
    """Accepted points and refused lines, served on a loopback TCP port by :meth:`start`."""

    port: int = field(default_factory=free_port)
    points: list[Point] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        # An outage closes the listener only: connections already open keep being read.
        self._server = TcpServerThread(self._handle, self.port, name="wavefront-double", cut_connections=False)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while line := await reader.readline():
            text = line.decode("utf-8", "replace")
            if not text.strip():
                continue
            try:
                self.points.append(parse_line(text))
            except BadLine as exc:
                self.rejected.append((text, str(exc)))

    @property
    def running(self) -> bool:
        return self._server.running

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def close(self) -> None:
        self._server.close()

    def find(self, metric: str, **tags: str) -> list[Point]:
        """Accepted points of ``metric`` whose tags include ``tags``."""
        return [p for p in self.points if p.metric == metric and tags.items() <= p.tags.items()]
