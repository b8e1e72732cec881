"""The live dashboard at ``/``: served by the HTTP API and drawn with data in headless Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import struct
import subprocess
import urllib.request
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heapster.cli import main
from heapster.testing.api import ApiServerThread, populated_store
from heapster.testing.net import free_port

RESOLUTION = 10
HISTORY = 60
"""Batches of history in the store: ten minutes at 10 s."""
CHARTS = ("cluster-cpu", "cluster-memory", "node-cpu", "node-memory", "pod-cpu", "pod-memory")
CHROMIUM = "chromium"
WINDOW = (1280, 1000)
NAMESPACES = ("default", "kube-system")
"""pod-N-0 runs in default, pod-N-1 in kube-system (N: the node)."""


@pytest.fixture(scope="module")
def dashboard() -> Iterator[ApiServerThread]:
    # Counters keep growing, at a rate that varies over time.
    seqs = list(itertools.accumulate(1 + i % 3 for i in range(HISTORY)))
    store, cluster = asyncio.run(populated_store(seqs, RESOLUTION, namespaces=NAMESPACES))
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
    assert {"cluster", "node-0", "node-1", "default/pod-0-0", "kube-system/pod-1-1"} <= names


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


# --- interaction, through the DevTools protocol of the same headless Chromium -----------------------------
class Page:
    """One Chromium tab driven over the DevTools protocol: navigate, evaluate, click with the mouse."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.next_id = 0

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.socket.send_json({"id": self.next_id, "method": method, "params": params})
        while True:
            message = json.loads((await self.socket.receive()).data)
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return dict(message.get("result") or {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while not (value := await self.evaluate(expression)):
            assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {expression}"
            await asyncio.sleep(0.1)
        return value

    async def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the middle of the element."""
        box = await self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                                  "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); "
                                  "return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    async def rows(self, table: str) -> list[list[str]]:
        return list(await self.evaluate(f"[...document.querySelectorAll('#{table} tbody tr')]"
                                        ".map((tr) => [...tr.cells].map((td) => td.textContent))"))

    async def show(self, view: str) -> None:
        """Wait until the page has drawn the view of URL fragment ``view``."""
        await self.wait_for(f"document.body !== null && document.body.dataset.loaded === 'true' "
                            f"&& document.body.dataset.view === {json.dumps(view)}")


@contextlib.asynccontextmanager
async def browser_page(tmp_path: Path) -> AsyncIterator[Page]:
    import aiohttp

    port = free_port()
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-default-apps", "--disable-extensions", f"--user-data-dir={tmp_path / 'cdp-profile'}",
               f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--remote-debugging-port={port}",
               "--remote-debugging-address=127.0.0.1", "about:blank"]
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as session:
            deadline = asyncio.get_running_loop().time() + 30
            target = None
            while target is None:
                assert process.returncode is None, "chromium exited"
                assert asyncio.get_running_loop().time() < deadline, "no DevTools page target"
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                        target = next((t for t in await resp.json() if t.get("type") == "page"), None)
                if target is None:
                    await asyncio.sleep(0.1)
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as socket:
                yield Page(socket)
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def top_rows(capsys: pytest.CaptureFixture[str], *args: str) -> list[list[str]]:
    """``heapster top ARGS --no-headers`` against the same server, as rows of cells."""
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["top", *args, "--no-headers"]) == 0
    return [line.split() for line in capsys.readouterr().out.splitlines()]


async def test_node_and_pod_figures_are_heapster_tops(dashboard: ApiServerThread, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The working set (and CPU, percentages) of every node and pod on the page are what heapster top prints."""
    async with browser_page(tmp_path) as page:
        await page.send("Page.navigate", url=dashboard.url + "/")
        await page.show("")
        nodes = await page.rows("nodes")
        assert nodes == await top_rows(capsys, "nodes", "--server", dashboard.url)
        assert [row[0] for row in nodes] == ["node-0", "node-1"] and all(row[3].endswith("Mi") for row in nodes)
        assert await page.rows("pods") == await top_rows(capsys, "pods", "-A", "--server", dashboard.url)
        # The summary says what it sums, and sums the node working sets shown in the table.
        label = await page.evaluate("document.getElementById('label-node-memory').textContent")
        assert label == "memory working set, sum over 2 nodes"
        assert await page.evaluate("document.querySelector('#chart-node-memory').dataset.metric") == \
            "memory/working_set"


async def test_namespace_filter_and_drill_down(dashboard: ApiServerThread, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    async with browser_page(tmp_path) as page:
        await page.send("Page.navigate", url=dashboard.url + "/")
        await page.show("")
        options = await page.evaluate("[...document.querySelectorAll('#namespace option')].map((o) => o.value)")
        assert options == ["", "default", "kube-system"]
        assert len(await page.rows("pods")) == 4

        # Choose a namespace: the pod table, the pod charts and the counts keep only its pods.
        await page.evaluate("(() => { const s = document.getElementById('namespace'); s.value = 'kube-system'; "
                            "s.dispatchEvent(new Event('change')); })()")
        await page.show("namespace=kube-system")
        pods = await page.rows("pods")
        assert pods == await top_rows(capsys, "pods", "-A", "--field-selector=metadata.namespace=kube-system",
                                      "--server", dashboard.url)
        assert [row[:2] for row in pods] == [["kube-system", "pod-0-1"], ["kube-system", "pod-1-1"]]
        charted = await page.evaluate("[...document.querySelectorAll('#chart-pod-memory .series')]"
                                      ".map((s) => s.dataset.name)")
        assert sorted(charted) == ["kube-system/pod-0-1", "kube-system/pod-1-1"]
        assert await page.evaluate("document.getElementById('sum-pods').textContent") == "2"

        # Click a node: its pods in that namespace.
        await page.click('#nodes tr[data-node="node-1"]')
        await page.show("namespace=kube-system&node=node-1")
        assert [row[:2] for row in await page.rows("pods")] == [["kube-system", "pod-1-1"]]
        assert await page.evaluate("document.querySelector('#nodes tr.selected').dataset.node") == "node-1"

        # Click the pod: its containers, as heapster top pod NAME --containers prints them.
        await page.click('#pods tr[data-pod="kube-system/pod-1-1"]')
        await page.show("namespace=kube-system&node=node-1&pod=kube-system%2Fpod-1-1")
        assert await page.evaluate("document.getElementById('containers-panel').hidden") is False
        assert await page.rows("containers") == await top_rows(
            capsys, "pod", "pod-1-1", "-n", "kube-system", "--containers", "--server", dashboard.url)

        # Back to every namespace: the node's pods of both namespaces.
        await page.evaluate("(() => { const s = document.getElementById('namespace'); s.value = ''; "
                            "s.dispatchEvent(new Event('change')); })()")
        await page.show("node=node-1")
        assert [row[:2] for row in await page.rows("pods")] == [["default", "pod-1-0"], ["kube-system", "pod-1-1"]]
        assert await page.evaluate("document.getElementById('containers-panel').hidden") is True
