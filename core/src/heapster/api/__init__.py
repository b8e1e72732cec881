"""Heapster's HTTP API on ``--heapster-port``: Model API, metric export, metrics.k8s.io, /healthz, /metrics.

The names below load on first use, so ``heapster.api.health`` (the eventer's /healthz) can be imported
without the Model API and the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heapster.api.listen import start_api_server
    from heapster.api.server import create_api_app

__all__ = ["create_api_app", "start_api_server"]


def __getattr__(name: str) -> Any:
    if name == "create_api_app":
        from heapster.api.server import create_api_app

        return create_api_app
    if name == "start_api_server":
        from heapster.api.listen import start_api_server

        return start_api_server
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
