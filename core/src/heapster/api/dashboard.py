"""The live dashboard: ``/`` serves ``heapster/static/index.html``, ``/static/`` its scripts and styles."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent.parent / "static"


def add_dashboard(app: web.Application) -> None:
    """Serve the dashboard page at ``/`` (it reads the Model API from the browser)."""

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
