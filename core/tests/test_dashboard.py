"""The live dashboard at ``/``: served by the HTTP API and drawn with data in headless Chromium."""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import subprocess
import threading
import urllib.request
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heapster.api import create_api_app, start_api_server
from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.store import create_metric_store
from heapster.testing import synthetic_batch
from heapster.testing.cluster import StaticCluster

RESOLUTION = 10
HISTORY = 60
"""Batches of history in the store: ten minutes at 10 s."""
CHARTS = ("cluster-cpu", "cluster-memory", "node-cpu", "node-memory", "pod-cpu", "pod-memory")
CHROMIUM = "chromium"
WINDOW = (1280, 1000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def populated_store() -> tuple[Any, StaticCluster]:
    """Ten minutes of synthetic scrapes of 2 nodes x 2 pods x 2 containers through the real processors."""
    nodes = [{"metadata": {"name": f"node-{n}", "uid": f"node-uid-{n}", "labels": {}},
              "status": {"allocatable": {"cpu": "4", "memory": "64Mi"}, "capacity": {"cpu": "4", "memory": "64Mi"},
                         "conditions": [{"type": "Ready", "status": "True"}]}} for n in range(2)]
    pods = [{"metadata": {"name": f"pod-{n}-{p}", "namespace": "default", "uid": f"uid-{n}-{p}", "labels": {}},
             "spec": {"nodeName": f"node-{n}", "containers": [{"name": "c0"}, {"name": "c1"}]},
             "status": {"phase": "Running"}} for n in range(2) for p in range(2)]
    cluster = StaticCluster(nodes, pods)
    processors = load_plugins().build_processors(PluginContext(cluster=cluster))
    store = create_metric_store({"store_duration": 900.0})
    now = datetime.now(UTC).replace(microsecond=0)
    started = now - timedelta(hours=1)
    seq = 0
    for i in range(HISTORY):
        seq += 1 + i % 3  # counters keep growing, at a rate that varies over time
        batch = synthetic_batch(now - timedelta(seconds=RESOLUTION * (HISTORY - 1 - i)), nodes=2, pods=2,
                                containers=2, seq=seq)
        for ms in batch.metric_sets.values():
            ms.collection_start = started
        for processor in processors:
            batch = await processor.process(batch)
        await store.export(batch)
    return store, cluster


class ServerThread:
    """The real HTTP API on its own event loop in a background thread."""

    def __init__(self, store: Any, cluster: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        settings = {"heapster_port": self.port, "listen_ip": "127.0.0.1", "metric_resolution": RESOLUTION,
                    "tls_cert": "", "tls_key": "", "tls_client_ca": ""}

        async def start() -> Any:
            return await start_api_server(create_api_app(store, cluster, settings), settings)

        self._thread.start()
        self.runner = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def dashboard() -> Iterator[ServerThread]:
    store, cluster = asyncio.run(populated_store())
    server = ServerThread(store, cluster)
    yield server
    server.stop()


def chromium(tmp_path: Path, url: str, *mode: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with everything that could reach the internet switched off."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-default-apps", "--disable-extensions", "--hide-scrollbars",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
               "--virtual-time-budget=15000", *mode, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)


def decode_png(data: bytes) -> np.ndarray:
    """An 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) as a (height, width, 3) array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.int32)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        if kind == 1:  # Sub
            row = line.copy()
            for x in range(channels, stride):
                row[x] = (row[x] + row[x - channels]) & 0xFF
        elif kind == 2:  # Up
            row = (line + prev) & 0xFF
        elif kind == 3:  # Average
            row = line.copy()
            for x in range(stride):
                left = row[x - channels] if x >= channels else 0
                row[x] = (row[x] + ((left + prev[x]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            row = line.copy()
            for x in range(stride):
                a = row[x - channels] if x >= channels else 0
                b = prev[x]
                c = prev[x - channels] if x >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                row[x] = (row[x] + pred) & 0xFF
        else:
            row = line
        out[y] = row
        prev = row
    return out.reshape(height, width, channels)[:, :, :3]


def test_the_page_and_its_assets_are_served(dashboard: ServerThread) -> None:
    with urllib.request.urlopen(dashboard.url, timeout=10) as resp:
        page = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/html")
    assert "<script src=\"static/dashboard.js\">" in page
    assert "http://" not in page and "https://" not in page, "no external resources: the page works offline"
    for asset in ("static/dashboard.js", "static/dashboard.css"):
        with urllib.request.urlopen(dashboard.url + asset, timeout=10) as resp:
            body = resp.read().decode()
        assert resp.status == 200 and body
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", body)


def test_charts_have_data_in_the_dom(dashboard: ServerThread, tmp_path: Path) -> None:
    dom = chromium(tmp_path, dashboard.url, "--dump-dom").stdout
    assert 'data-loaded="true"' in dom, dom[-2000:]
    for chart in CHARTS:
        figure = re.search(rf'<figure[^>]*id="chart-{chart}"[^>]*>', dom)
        assert figure, chart
        points = int(re.search(r'data-points="(\d+)"', figure.group(0)).group(1))  # type: ignore[union-attr]
        assert points >= HISTORY - 2, f"{chart}: {points} points drawn"
    assert re.search(r'id="sum-nodes"[^>]*>2<', dom) and re.search(r'id="sum-pods"[^>]*>4<', dom)
    assert "no data yet" not in dom and "cannot read" not in dom
    # Four node lines and pod lines are drawn with the names from the Model API.
    names = set(re.findall(r'class="series" data-name="([^"]+)"', dom))
    assert {"cluster", "node-0", "node-1", "default/pod-0-0", "default/pod-1-1"} <= names


def test_screenshot_shows_non_empty_charts(dashboard: ServerThread, tmp_path: Path) -> None:
    shot = tmp_path / "dashboard.png"
    chromium(tmp_path, dashboard.url, f"--screenshot={shot}")
    image = decode_png(shot.read_bytes())
    assert image.shape[:2] == (WINDOW[1], WINDOW[0])
    charts = image[150:]  # below the header and the summary cards
    saturation = charts.max(axis=2) - charts.min(axis=2)
    coloured = saturation > 80  # series colours; axes, text and backgrounds are grey or white
    left, right = coloured[:, :WINDOW[0] // 2], coloured[:, WINDOW[0] // 2:]
    # Each column holds three charts whose lines span ten of the fifteen minutes (~300 px wide each).
    assert left.sum() > 1500 and right.sum() > 1500, (left.sum(), right.sum())
    rows_with_lines = np.flatnonzero(coloured.any(axis=1))
    assert rows_with_lines.max() - rows_with_lines.min() > 400, "lines appear in every row of charts"
    assert float(charts.std()) > 10.0
