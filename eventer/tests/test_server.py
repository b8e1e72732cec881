"""The eventer's HTTP server over real HTTP: core's /healthz, /healthz/healthz, /readyz, /livez and /metrics."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import aiohttp

from heapster.testing.clock import FakeClock
from heapster_eventer import metrics
from heapster_eventer.app import Eventer
from heapster_eventer.flags import parse_args


async def test_health_follows_the_export_cycles_and_metrics_are_served() -> None:
    clock = FakeClock(1_800_000_000.0)
    eventer = Eventer(parse_args(["--source=static:", "--healthz-ip=127.0.0.1", "--healthz-port=0"]), clock=clock)
    refreshed: list[int] = []
    manager: Any = SimpleNamespace(last_cycle=clock.now(), update_buffer_metrics=lambda: refreshed.append(1))
    eventer.manager = manager
    runner = await eventer.serve_health()
    base = f"http://127.0.0.1:{eventer.port}"

    async def get(path: str) -> tuple[int, str]:
        async with http.get(base + path) as resp:
            return resp.status, await resp.text()

    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/healthz", "/healthz/healthz", "/readyz", "/livez"):
                assert await get(path) == (200, "ok")
            await clock.advance(400)  # no export cycle for 400 s: more than max(3 min, 2 x --frequency)
            status, text = await get("/healthz")
            assert status == 500 and "reason withheld" in text  # heapster's /healthz, same for both daemons
            assert await get("/healthz/healthz") == (500, "internal server error: last export cycle 400s ago\n")
            assert await get("/readyz") == (503, "not ready: last export cycle 400s ago\n")
            assert await get("/livez") == (200, "ok")
            metrics.buffer_depth.set(1234)
            async with http.get(base + "/metrics") as resp:
                text = await resp.text()
                assert resp.headers["Content-Type"].startswith("text/plain")
            assert "eventer_buffer_events 1234.0" in text
            assert "eventer_manager_last_time_seconds" in text
            assert refreshed == [1]
    finally:
        await runner.cleanup()
