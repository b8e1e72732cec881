"""The HTTP API answering for the whole cluster: each request is also asked of every peer shard.

A middleware (innermost, so it sees the route's own JSON): requests carrying
:data:`~heapster.shards.LOCAL_HEADER` (a peer asking) are answered from this shard alone; others
are answered locally and by every ready peer in parallel, each within the peer timeout, and the
answers merged (:mod:`heapster.shards.merge`). A shard that did not answer is named in
:data:`~heapster.shards.MISSING_HEADER` and logged: an answer is never silently partial.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from heapster.api.instrument import Handler
from heapster.api.responses import apiserver_json_response, json_response
from heapster.promregistry import Counter
from heapster.selfmetrics import REGISTRY
from heapster.shards import LOCAL_HEADER, MISSING_HEADER
from heapster.shards.client import PeerClient
from heapster.shards.discovery import Peers
from heapster.shards.merge import AGGREGATE, COMPACT, K8S_GET, K8S_LIST, MERGERS, route_kind

log = structlog.get_logger("heapster.shards")

partial_answers = Counter(
    "heapster_shard_partial_answers_total", "API answers that lack a shard, by missing shard.", ["shard"],
    registry=REGISTRY)


def mark_missing(response: web.StreamResponse, request: web.Request, missing: Mapping[int, str]) -> None:
    """Name the ``missing`` shards in a header, log the partial answer and count it."""
    if not missing:
        return
    response.headers[MISSING_HEADER] = ",".join(str(i) for i in sorted(missing))
    for shard in missing:
        partial_answers.labels(shard=str(shard)).inc()
    log.warning("shards.answer.partial", path=request.path, missing={str(k): v for k, v in sorted(missing.items())})


def respond(request: web.Request, kind: str, data: object) -> web.Response:
    """A merged answer laid out as the route lays out its own: v1beta1 as an aggregated API server
    (compact unless asked), the Model API and v1alpha1 as go-restful (pretty, or compact per route)."""
    if kind in (K8S_LIST, K8S_GET) and "/v1beta1/" in request.path:
        return apiserver_json_response(request, data)
    return json_response(data, pretty=kind not in COMPACT)


def fanout_middleware(peers: Peers, client: PeerClient,
                      aggregates_missing: Callable[[], Mapping[int, str]]) -> Middleware:
    """The middleware; ``aggregates_missing`` names the shards missing from the newest combined aggregates."""

    @web.middleware
    async def fanout(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        kind = route_kind(resource.canonical) if resource is not None else None
        if kind is None or request.headers.get(LOCAL_HEADER):
            return await handler(request)
        if kind == AGGREGATE:
            response = await handler(request)
            mark_missing(response, request, aggregates_missing())
            return response
        if kind == K8S_GET:
            response = await handler(request)
            if response.status != 404:  # this shard has it (or the request is bad everywhere)
                return response
            return await _from_peers(request, response, peers, client)
        return await _merged(request, kind, handler, peers, client)

    return fanout


async def _merged(request: web.Request, kind: str, handler: Handler, peers: Peers,
                  client: PeerClient) -> web.StreamResponse:
    urls = peers.urls()
    missing = {i: "no ready endpoint" for i in peers.others if i not in urls}
    response, answers = await asyncio.gather(
        handler(request), client.get_all({i: url + request.path_qs for i, url in urls.items()}))
    if response.status != 200 or not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return response  # a bad request is bad in every shard
    bodies = [orjson.loads(response.body)]
    for shard, answer in sorted(answers.items()):
        if answer.ok:
            bodies.append(answer.body)
        else:
            missing[shard] = answer.error or f"HTTP {answer.status}: {answer.body}"
    merged = respond(request, kind, MERGERS[kind](bodies))
    mark_missing(merged, request, missing)
    return merged


async def _from_peers(request: web.Request, local: web.StreamResponse, peers: Peers,
                      client: PeerClient) -> web.StreamResponse:
    """One object this shard lacks: the first peer's that has it, else this shard's 404."""
    urls = peers.urls()
    missing = {i: "no ready endpoint" for i in peers.others if i not in urls}
    answers = await client.get_all({i: url + request.path_qs for i, url in urls.items()})
    for _, answer in sorted(answers.items()):
        if answer.ok:
            return respond(request, K8S_GET, answer.body)
    for shard, answer in answers.items():
        if answer.status != 404:
            missing[shard] = answer.error or f"HTTP {answer.status}: {answer.body}"
    mark_missing(local, request, missing)
    return local
