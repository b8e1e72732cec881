"""The live dashboard: ``/`` serves ``heapster/static/index.html``, ``/static/`` its scripts and styles, and
``/dashboard/nodes/{node}/pods`` the pods placed on a node (from the cluster state: the Model API has no
node-to-pod index), which the page uses to drill down from a node to its pods."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from heapster.api.responses import json_response
from heapster.interfaces import ClusterState

STATIC = Path(__file__).resolve().parent.parent / "static"


def add_dashboard(app: web.Application, cluster: ClusterState | None = None) -> None:
    """Serve the dashboard page at ``/`` (it reads the Model API from the browser)."""

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def node_pods(request: web.Request) -> web.Response:
        node = request.match_info["node"]
        if cluster is None:  # e.g. the static source: no placement known
            return json_response({"node": node, "available": False, "pods": []})
        pods = []
        for pod in cluster.list_pods():
            if (pod.get("spec") or {}).get("nodeName") == node:
                meta = pod.get("metadata") or {}
                pods.append({"namespace": str(meta.get("namespace", "")), "name": str(meta.get("name", ""))})
        pods.sort(key=lambda p: (p["namespace"], p["name"]))
        return json_response({"node": node, "available": True, "pods": pods})

    app.router.add_get("/", index)
    app.router.add_get("/dashboard/nodes/{node}/pods", node_pods)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
