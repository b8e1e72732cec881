"""The live dashboard at ``/``: served by the HTTP API and drawn with data in headless Chromium."""

from __future__ import annotations

import asyncio
import itertools
import re
import struct
import subprocess
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from heapster.testing.api import ApiServerThread, populated_store

RESOLUTION = 10
HISTORY = 60
"""Batches of history in the store: ten minutes at 10 s."""
CHARTS = ("cluster-cpu", "cluster-memory", "node-cpu", "node-memory", "pod-cpu", "pod-memory")
CHROMIUM = "chromium"
WINDOW = (1280, 1000)


@pytest.fixture(scope="module")
def dashboard() -> Iterator[ApiServerThread]:
    # Counters keep growing, at a rate that varies over time.
    seqs = list(itertools.accumulate(1 + i % 3 for i in range(HISTORY)))
    store, cluster = asyncio.run(populated_store(seqs, RESOLUTION))
    server = ApiServerThread(store, cluster, RESOLUTION)
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


def test_the_page_and_its_assets_are_served(dashboard: ApiServerThread) -> None:
    with urllib.request.urlopen(dashboard.url + "/", timeout=10) as resp:
        page = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/html")
    assert "<script src=\"static/dashboard.js\">" in page
    assert "http://" not in page and "https://" not in page, "no external resources: the page works offline"
    for asset in ("static/dashboard.js", "static/dashboard.css"):
        with urllib.request.urlopen(f"{dashboard.url}/{asset}", timeout=10) as resp:
            body = resp.read().decode()
        assert resp.status == 200 and body
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", body)


def test_charts_have_data_in_the_dom(dashboard: ApiServerThread, tmp_path: Path) -> None:
    dom = chromium(tmp_path, dashboard.url + "/", "--dump-dom").stdout
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


def test_screenshot_shows_non_empty_charts(dashboard: ApiServerThread, tmp_path: Path) -> None:
    shot = tmp_path / "dashboard.png"
    chromium(tmp_path, dashboard.url + "/", f"--screenshot={shot}")
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
