"""heapster's own light HTTP/1.1: one client (:mod:`.client`) and a small probe server (:mod:`.server`).

The client serves kubelet scrapes, API lists and watches, in heapster and in the eventer; neither needs
aiohttp for them (the eventer imports no aiohttp at all). Both share the head rules of :mod:`.head`.
"""

from heapster.http1.client import Answer, Client, FetchError, Origin, Response, get_request
from heapster.http1.head import HEAD_LIMIT, ProtocolError
from heapster.http1.server import DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, Handler, Reply, Request, Server

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "HEAD_LIMIT",
    "Answer",
    "Client",
    "FetchError",
    "Handler",
    "Origin",
    "ProtocolError",
    "Reply",
    "Request",
    "Response",
    "Server",
    "get_request",
]
