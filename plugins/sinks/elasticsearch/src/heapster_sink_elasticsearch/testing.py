"""Test servers for Elasticsearch sinks: a real ``osmem-server`` process and a strict ES 8/9 double.

Fixtures (import them into a ``conftest.py``)::

    from heapster_sink_elasticsearch.testing import opensearch_server, opensearch_url, strict_es

``opensearch_server`` starts one ``osmem-server`` (PyPI; an in-memory OpenSearch-compatible
server speaking plain JSON) per session on a loopback ephemeral port; ``opensearch_url`` is a
fresh, empty clone of it for one test. ``strict_es`` starts a :class:`StrictElasticsearch`
(Elasticsearch 9 by default) for one test.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from osmem_server import OsmemServer

from heapster.testing.net import AppServer
from heapster.uri import parse_uri, resolve_options
from heapster_sink_elasticsearch.config import OPTIONS, Settings, settings_from


def settings_for(spec: str) -> Settings:
    """The sink's settings as the core builds them from ``--sink=<spec>`` (options checked and typed)."""
    return settings_from(resolve_options(parse_uri(spec), OPTIONS, "sink 'elasticsearch'"))


# --- osmem-server ----------------------------------------------------------------------------------

OSMEM_STARTUP_TIMEOUT = 30.0


def start_osmem() -> OsmemServer:
    """Start ``osmem-server`` (the binary the wheel bundles) on 127.0.0.1 with an ephemeral port.

    The process prints one JSON line with its URL when ready and exits when our stdin pipe
    closes or this process disappears (``--parent-pid``), so it never outlives the tests.
    """
    return OsmemServer.start(addr="127.0.0.1:0", japanese=False, startup_timeout=OSMEM_STARTUP_TIMEOUT)


@pytest.fixture(scope="session")
def opensearch_server() -> Iterator[OsmemServer]:
    """One ``osmem-server`` process for the whole session."""
    server = start_osmem()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def opensearch_url(opensearch_server: OsmemServer) -> Iterator[str]:
    """The URL of an empty clone of the session's osmem-server, for one test."""
    clone = opensearch_server.clone()
    try:
        yield clone.url
    finally:
        clone.close()


# --- strict Elasticsearch 8/9 double ---------------------------------------------------------------

_COMPAT = re.compile(r"^application/vnd\.elasticsearch\+(json|x-ndjson)\s*;\s*compatible-with=(\d+)$")
_NUMERIC = frozenset({"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"})
_KNOWN_TYPES = _NUMERIC | {"keyword", "text", "date", "date_nanos", "boolean", "object", "nested", "ip",
                           "flattened", "match_only_text", "wildcard", "constant_keyword"}


class DoubleError(Exception):
    """An Elasticsearch error answer: HTTP status, error type and reason."""

    def __init__(self, status: int, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.kind = kind
        self.reason = reason

    def body(self) -> dict[str, Any]:
        cause = {"type": self.kind, "reason": self.reason}
        return {"error": {**cause, "root_cause": [cause]}, "status": self.status}


@dataclass
class Index:
    """One index of the double: mappings, aliases (name -> alias body) and documents by id."""

    name: str
    mappings: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_stream: str = ""
    versions: dict[str, int] = field(default_factory=dict)
    """Each document's ``_version``: how many times it was written."""


@dataclass
class RecordedRequest:
    """A request the double received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


def _check_mapping(mapping: Any, path: str = "") -> None:
    """Refuse what Elasticsearch 8/9 refuse: ``string``, ``_default_``, ``_all``, analyzed strings."""
    if not isinstance(mapping, dict):
        return
    for key in ("_default_", "_all"):
        if key in mapping:
            raise DoubleError(400, "mapper_parsing_exception", f"unknown parameter [{key}] at [{path or 'root'}]")
    for name, prop in (mapping.get("properties") or {}).items():
        where = f"{path}.{name}" if path else name
        kind = prop.get("type", "object")
        if kind not in _KNOWN_TYPES:
            raise DoubleError(400, "mapper_parsing_exception",
                              f"No handler for type [{kind}] declared on field [{where}]")
        if isinstance(prop.get("index"), str):
            raise DoubleError(400, "mapper_parsing_exception",
                              f"Could not convert [{where}.index] to boolean: [{prop['index']}]")
        _check_mapping(prop, where)


def _is_date(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    if not isinstance(value, str):
        return False
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    text = re.sub(r"\.(\d{6})\d+", r".\1", text)
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_document(source: Any, properties: dict[str, Any], path: str = "") -> None:
    """Mapping errors for values that do not fit the declared field types."""
    if not isinstance(source, dict):
        return
    for name, value in source.items():
        prop = properties.get(name)
        if prop is None or value is None:
            continue
        where = f"{path}.{name}" if path else name
        kind = prop.get("type", "object")
        bad = (
            (kind in _NUMERIC and (isinstance(value, bool) or not isinstance(value, (int, float))))
            or (kind == "date" and not _is_date(value))
            or (kind == "object" and not isinstance(value, dict))
        )
        if bad:
            raise DoubleError(400, "mapper_parsing_exception",
                              f"failed to parse field [{where}] of type [{kind}]. Preview of field's value: '{value}'")
        if kind == "object":
            _check_document(value, prop.get("properties") or {}, where)


def _matches(doc: dict[str, Any], alias: dict[str, Any]) -> bool:
    """Apply an alias filter; the double understands ``exists`` filters only."""
    flt = alias.get("filter")
    if not flt:
        return True
    target: Any = doc
    for part in flt["exists"]["field"].split("."):
        if not isinstance(target, dict) or part not in target:
            return False
        target = target[part]
    return target is not None


class StrictElasticsearch:
    """An Elasticsearch 8/9 double that is strict where real clusters are strict, and stricter on media types.

    Every answer carries ``X-Elastic-Product: Elasticsearch`` (unless ``product_header=False``).
    Requests must use ``application/vnd.elasticsearch+json|x-ndjson; compatible-with=N`` with N
    the server major or the one before (a bare ``*/*`` Accept without a body is allowed, as for a
    first ``GET /``); plain ``application/json`` is refused with 406. Mappings are checked as
    ES 8/9 do (no ``string``, ``_default_``, ``_all``), documents against declared field types.

    Faults for tests: :meth:`fail_items` answers the next N bulk items with a status (429),
    :meth:`fail_requests` the next N bulk requests, :meth:`reject_documents` answers matching
    documents with a mapping error.
    """

    def __init__(self, major: int = 9, *, product_header: bool = True) -> None:
        self.major = major
        self.version = f"{major}.1.0"
        self.product_header = product_header
        self.templates: dict[str, dict[str, Any]] = {}
        self.indices: dict[str, Index] = {}
        self.data_streams: dict[str, str] = {}
        self.requests: list[RecordedRequest] = []
        self.bulk_requests = 0
        self.bulk_params: list[dict[str, str]] = []
        self.bulk_items: list[tuple[str, str, str]] = []
        self.bulk_bytes: list[int] = []
        self.item_faults: list[int] = []
        self.request_faults: list[int] = []
        self.rejects: list[Callable[[dict[str, Any]], bool]] = []
        self.bulk_delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._server = AppServer(self._app)

    # --- faults -----------------------------------------------------------------------------

    def fail_items(self, status: int, times: int) -> None:
        """Answer the next ``times`` bulk items with ``status`` (429: es_rejected_execution_exception)."""
        self.item_faults.extend([status] * times)

    def fail_requests(self, status: int, times: int) -> None:
        """Answer the next ``times`` bulk requests as a whole with ``status``."""
        self.request_faults.extend([status] * times)

    def reject_documents(self, predicate: Callable[[dict[str, Any]], bool]) -> None:
        """Answer documents for which ``predicate(source)`` holds with a mapping error."""
        self.rejects.append(predicate)

    # --- reading the state ------------------------------------------------------------------

    def documents(self, target: str) -> dict[str, dict[str, Any]]:
        """The documents a search on ``target`` (index, alias or data stream) would return, by id."""
        found: dict[str, dict[str, Any]] = {}
        for index in self.indices.values():
            if index.name == target or (index.data_stream and index.data_stream == target):
                found.update(index.docs)
            elif target in index.aliases:
                found.update({i: d for i, d in index.docs.items() if _matches(d, index.aliases[target])})
        return found

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url if self._server.port else ""

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self) -> str:
        """Serve on 127.0.0.1 (an ephemeral port, the same one again after :meth:`stop`); returns the URL."""
        return await self._server.start()

    async def stop(self) -> None:
        """Stop serving (an outage); the data stays and :meth:`start` serves it again on the same port."""
        await self._server.stop()

    async def close(self) -> None:
        await self.stop()

    async def __aenter__(self) -> StrictElasticsearch:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- HTTP ---------------------------------------------------------------------------------

    def _headers(self, compat: int | None) -> dict[str, str]:
        headers = {}
        if self.product_header:
            headers["X-Elastic-Product"] = "Elasticsearch"
        version = compat or self.major
        headers["Content-Type"] = f"application/vnd.elasticsearch+json;compatible-with={version}"
        return headers

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(RecordedRequest(request.method, request.path, dict(request.query),
                                             {k.lower(): v for k, v in request.headers.items()}))
        compat: int | None = None
        try:
            compat = self._check_media_types(request)
            status, body = await self._dispatch(request)
        except DoubleError as exc:
            status, body = exc.status, exc.body()
        text = "" if request.method == "HEAD" else json.dumps(body)
        return web.Response(status=status, text=text, headers=self._headers(compat))

    def _check_media_types(self, request: web.Request) -> int | None:
        versions: set[int] = set()
        for name in ("Accept", "Content-Type"):
            value = request.headers.get(name)
            if value is None or (name == "Accept" and value.strip() == "*/*"):
                continue
            match = _COMPAT.match(value.strip())
            if match is None:
                raise DoubleError(406, "media_type_header_exception",
                                  f"{name} header [{value}] is not supported by this strict double: "
                                  "send application/vnd.elasticsearch+json; compatible-with=N")
            versions.add(int(match.group(2)))
        if request.can_read_body and "Content-Type" not in request.headers:
            raise DoubleError(406, "media_type_header_exception", "Content-Type header is missing")
        if len(versions) > 1:
            raise DoubleError(400, "media_type_header_exception",
                              "A compatible version is required on both Content-Type and Accept headers "
                              "and they must match")
        if versions and not versions <= {self.major, self.major - 1}:
            raise DoubleError(400, "media_type_header_exception",
                              f"Accept version must be either version {self.major} or {self.major - 1}, "
                              f"but found {versions.pop()}")
        return versions.pop() if versions else None

    async def _dispatch(self, request: web.Request) -> tuple[int, Any]:
        path = request.path.strip("/")
        parts = path.split("/") if path else []
        method = request.method
        if not parts and method in ("GET", "HEAD"):
            return 200, self._info()
        if parts[:1] == ["_nodes"]:
            return 200, self._nodes(request)
        if parts[:1] == ["_index_template"] and len(parts) == 2:
            return self._template(method, parts[1], await self._json(request))
        if parts == ["_aliases"] and method == "POST":
            return self._update_aliases(await self._json(request))
        if parts[-1:] == ["_bulk"] and method in ("POST", "PUT"):
            default = parts[0] if len(parts) == 2 else ""
            text = await request.text()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if self.bulk_delay:
                    await asyncio.sleep(self.bulk_delay)
                return self._bulk(default, text, request.query)
            finally:
                self.in_flight -= 1
        if len(parts) == 1 and method == "PUT":
            return self._create_index(parts[0], await self._json(request))
        if len(parts) == 1 and method in ("GET", "HEAD"):
            if parts[0] not in self.indices:
                raise DoubleError(404, "index_not_found_exception", f"no such index [{parts[0]}]")
            return 200, {parts[0]: {"aliases": self.indices[parts[0]].aliases}}
        raise DoubleError(400, "illegal_argument_exception", f"the double does not serve {method} /{path}")

    async def _json(self, request: web.Request) -> Any:
        text = await request.text()
        try:
            return json.loads(text) if text else {}
        except ValueError as exc:
            raise DoubleError(400, "x_content_parse_exception", str(exc)) from None

    def _info(self) -> dict[str, Any]:
        return {
            "name": "strict-double", "cluster_name": "strict-double", "cluster_uuid": "double",
            "version": {"number": self.version, "build_flavor": "default", "build_type": "docker",
                        "lucene_version": "10.0.0", "minimum_wire_compatibility_version": f"{self.major - 1}.19.0",
                        "minimum_index_compatibility_version": f"{self.major - 1}.0.0"},
            "tagline": "You Know, for Search",
        }

    def _nodes(self, request: web.Request) -> dict[str, Any]:
        address = self.url.removeprefix("http://")
        return {"_nodes": {"total": 1, "successful": 1, "failed": 0}, "cluster_name": "strict-double",
                "nodes": {"double": {"name": "strict-double", "roles": ["master", "data", "ingest"],
                                     "http": {"publish_address": address}}}}

    def _template(self, method: str, name: str, body: Any) -> tuple[int, Any]:
        if method == "GET":
            if name not in self.templates:
                raise DoubleError(404, "resource_not_found_exception", f"index template matching [{name}] not found")
            return 200, {"index_templates": [{"name": name, "index_template": self.templates[name]}]}
        if method != "PUT":
            raise DoubleError(405, "method_not_allowed", method)
        if not isinstance(body.get("index_patterns"), list) or not body["index_patterns"]:
            raise DoubleError(400, "action_request_validation_exception", "index patterns are missing")
        _check_mapping((body.get("template") or {}).get("mappings") or {})
        self.templates[name] = body
        return 200, {"acknowledged": True}

    def _template_for(self, name: str) -> dict[str, Any] | None:
        found = [t for t in self.templates.values()
                 if any(fnmatch.fnmatchcase(name, p) for p in t["index_patterns"])]
        return max(found, key=lambda t: t.get("priority", 0)) if found else None

    def _new_index(self, name: str, aliases: dict[str, Any] | None = None, data_stream: str = "") -> Index:
        template = self._template_for(data_stream or name) or {}
        body = template.get("template") or {}
        index = Index(name, mappings=body.get("mappings") or {}, data_stream=data_stream)
        if not data_stream:
            index.aliases.update(body.get("aliases") or {})
            index.aliases.update(aliases or {})
        self.indices[name] = index
        return index

    def _create_index(self, name: str, body: Any) -> tuple[int, Any]:
        if name in self.indices:
            raise DoubleError(400, "resource_already_exists_exception", f"index [{name}/uuid] already exists")
        if name != name.lower() or name.startswith(("_", "-")):
            raise DoubleError(400, "invalid_index_name_exception", f"Invalid index name [{name}]")
        _check_mapping(body.get("mappings") or {})
        self._new_index(name, body.get("aliases") or {})
        return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def _update_aliases(self, body: Any) -> tuple[int, Any]:
        for action in body.get("actions", []):
            (op, spec), = action.items()
            index = self.indices.get(spec["index"])
            if index is None:
                raise DoubleError(404, "index_not_found_exception", f"no such index [{spec['index']}]")
            if op == "add":
                index.aliases[spec["alias"]] = {k: v for k, v in spec.items() if k not in ("index", "alias")}
            elif op == "remove":
                index.aliases.pop(spec["alias"], None)
        return 200, {"acknowledged": True}

    def _target(self, name: str, op: str, source: dict[str, Any]) -> Index:
        if name in self.data_streams:
            return self.indices[self.data_streams[name]]
        if name in self.indices:
            return self.indices[name]
        if any(name in index.aliases for index in self.indices.values()):
            raise DoubleError(400, "illegal_argument_exception",
                              f"no write index is defined for alias [{name}]")
        template = self._template_for(name)
        if template is not None and "data_stream" in template:
            if op != "create":
                raise DoubleError(400, "illegal_argument_exception",
                                  "only write ops with an op_type of create are allowed in data streams")
            if "@timestamp" not in source:
                raise DoubleError(400, "illegal_argument_exception",
                                  "data stream timestamp field [@timestamp] is missing")
            backing = f".ds-{name}-2026.01.01-000001"
            self.data_streams[name] = backing
            return self._new_index(backing, data_stream=name)
        return self._new_index(name)

    def _bulk(self, default_index: str, text: str, query: Any) -> tuple[int, Any]:
        self.bulk_requests += 1
        self.bulk_params.append(dict(query))
        self.bulk_bytes.append(len(text.encode()))
        if self.request_faults:
            status = self.request_faults.pop(0)
            kind = "es_rejected_execution_exception" if status == 429 else "internal_server_error"
            raise DoubleError(status, kind, "rejected the whole bulk request (fault injected by the test)")
        lines = [line for line in text.split("\n") if line.strip()]
        items: list[dict[str, Any]] = []
        pos = 0
        while pos < len(lines):
            header = json.loads(lines[pos])
            (op, meta), = header.items()
            source = json.loads(lines[pos + 1]) if op != "delete" else {}
            pos += 2 if op != "delete" else 1
            items.append({op: self._bulk_item(op, meta, source, default_index)})
        errors = any("error" in next(iter(item.values())) for item in items)
        return 200, {"took": 1, "errors": errors, "items": items}

    def _bulk_item(self, op: str, meta: dict[str, Any], source: dict[str, Any], default: str) -> dict[str, Any]:
        name = meta.get("_index") or default
        doc_id = str(meta.get("_id", ""))
        self.bulk_items.append((op, name, doc_id))
        result: dict[str, Any] = {"_index": name, "_id": doc_id}
        try:
            if op not in ("index", "create"):
                raise DoubleError(400, "illegal_argument_exception", f"the double does not do [{op}]")
            if self.item_faults:
                status = self.item_faults.pop(0)
                kind = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
                raise DoubleError(status, kind, "rejected execution (fault injected by the test)")
            index = self._target(name, op, source)
            result["_index"] = index.name
            if any(reject(source) for reject in self.rejects):
                raise DoubleError(400, "mapper_parsing_exception",
                                  "failed to parse: document rejected (fault injected by the test)")
            _check_document(source, (index.mappings or {}).get("properties") or {})
            if op == "create" and doc_id in index.docs:
                raise DoubleError(409, "version_conflict_engine_exception",
                                  f"[{doc_id}]: version conflict, document already exists")
            existed = doc_id in index.docs
            index.docs[doc_id] = source
            index.versions[doc_id] = index.versions.get(doc_id, 0) + 1
            result.update({"result": "updated" if existed else "created", "status": 200 if existed else 201,
                           "_version": index.versions[doc_id]})
        except DoubleError as exc:
            result.update({"status": exc.status, "error": {"type": exc.kind, "reason": exc.reason}})
        return result


@pytest_asyncio.fixture
async def strict_es() -> AsyncIterator[StrictElasticsearch]:
    """A :class:`StrictElasticsearch` speaking Elasticsearch 9 for one test."""
    async with StrictElasticsearch(9) as server:
        yield server
