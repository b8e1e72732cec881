"""Heapster's HTTP API on ``--heapster-port``: Model API, metric export, metrics.k8s.io, /healthz, /metrics."""

from __future__ import annotations

from heapster.api.server import create_api_app, start_api_server

__all__ = ["create_api_app", "start_api_server"]
