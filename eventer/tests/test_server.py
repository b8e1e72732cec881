"""The eventer's HTTP server over real HTTP: /healthz, /healthz/healthz and /metrics."""

from __future__ import annotations

import aiohttp

from heapster_eventer import metrics
from heapster_eventer.server import build_app, serve


async def test_healthz_follows_the_health_callback_and_metrics_are_served() -> None:
    state = {"ok": True}
    refreshed = []
    app = build_app(lambda: (state["ok"], "last export cycle 400s ago"), lambda: refreshed.append(1))
    runner, port = await serve(app, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/healthz", "/healthz/healthz"):
                async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
                    assert (resp.status, await resp.text()) == (200, "ok")
            state["ok"] = False
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 500
                assert "400s" in await resp.text()
            metrics.buffer_depth.set(1234)
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert "eventer_buffer_events 1234.0" in text
            assert "eventer_manager_last_time_seconds" in text
            assert refreshed == [1]
    finally:
        await runner.cleanup()
