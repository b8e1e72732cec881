"""HTTP self-metrics with Heapster's names (HEAPSTER.md §11), labelled by route operation."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from heapster.promregistry import Counter
from heapster.promsummary import QuantileSummary
from heapster.selfmetrics import REGISTRY

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

http_requests = Counter(
    "http_requests_total", "Total number of HTTP requests made.", ["handler", "method", "code"], registry=REGISTRY)
http_request_duration = QuantileSummary(
    "http_request_duration_microseconds", "The HTTP request latencies in microseconds.", ["handler"],
    registry=REGISTRY)
http_request_size = QuantileSummary(
    "http_request_size_bytes", "The HTTP request sizes in bytes.", ["handler"], registry=REGISTRY)
http_response_size = QuantileSummary(
    "http_response_size_bytes", "The HTTP response sizes in bytes.", ["handler"], registry=REGISTRY)


def approximate_request_size(request: web.Request) -> int:
    """Heapster's request size: URL, method, protocol, headers (Host apart), host and body length."""
    size = len(request.raw_path) + len(request.method) + len(f"HTTP/{request.version.major}.{request.version.minor}")
    size += sum(len(name) + len(value) for name, value in request.headers.items() if name.lower() != "host")
    return size + len(request.host) + (request.content_length or 0)


def instrumented(operation: str, handler: Handler) -> Handler:
    """Wrap ``handler`` so each call is counted and timed under ``handler=operation``."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        response: web.StreamResponse | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            http_requests.labels(handler=operation, method=request.method.lower(), code=str(status)).inc()
            http_request_duration.labels(handler=operation).observe((time.perf_counter() - started) * 1e6)
            http_request_size.labels(handler=operation).observe(approximate_request_size(request))
            body = getattr(response, "body", None)
            http_response_size.labels(handler=operation).observe(len(body) if isinstance(body, bytes) else 0)

    return wrapper
