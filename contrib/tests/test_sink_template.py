"""The sink template renders into a package that installs, passes the sink contract and runs in heapster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from heapster.testing.modules import load_module
from heapster.testing.net import wait_until

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "contrib" / "sink-template"


def load_renderer() -> ModuleType:
    return load_module(TEMPLATE / "render.py", "sink_template_render")


class Collector(BaseHTTPRequestHandler):
    """Keeps the JSON documents POSTed to it."""

    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"auth": self.headers.get("Authorization"), "doc": json.loads(body)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    handler = type("Handler", (Collector,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ingest", handler.received
    server.shutdown()
    server.server_close()


def test_names_are_checked() -> None:
    render = load_renderer()
    assert render.names("my_hook") == {"key": "my_hook", "dist": "heapster-sink-my-hook",
                                       "package": "heapster_sink_my_hook", "cls": "MyHookSink", "title": "MyHook"}
    with pytest.raises(ValueError, match="lowercase"):
        render.names("Bad-Name")


def test_rendered_template_installs_passes_the_contract_and_exports_from_heapster(
        tmp_path: Path, fresh_venv: Path, collector: tuple[str, list[dict[str, Any]]]) -> None:
    render = load_renderer()
    package = render.render("tmplhook", tmp_path / "heapster-sink-tmplhook")
    assert not list(package.rglob("*.tmpl"))
    assert "${" not in "".join(p.read_text() for p in package.rglob("*") if p.is_file())
    # The repository's lint rules, with heapster as a third-party library, as it is for a plugin author.
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--config", str(REPO / "ruff.toml"), "--config",
                           "lint.isort.known-first-party=['heapster_sink_tmplhook']", str(package)],
                          capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    python = str(fresh_venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "-q", "--disable-pip-version-check",
                    "install", "--no-deps", str(package)], check=True)
    listing = subprocess.run([python, "-m", "heapster.cli", "plugins"], capture_output=True, text=True, check=True)
    assert ["tmplhook", "heapster-sink-tmplhook", "0.1.0", "sink:", "tmplhook"] in [
        line.split() for line in listing.stdout.splitlines()]

    # The template's own tests: heapster's SinkContract against a real HTTP receiver.
    tests = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=package,
                           capture_output=True, text=True, timeout=120, check=False)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "6 passed" in tests.stdout  # the 5 contract tests (with the queue on disk) and its own

    # A bad option is a usage error naming the option (exit 2).
    bad = subprocess.run([python, "-m", "heapster.cli", "--source=static:", "--sink=tmplhook:http://x/?colour=1"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "colour" in bad.stderr

    url, received = collector
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([python, "-m", "heapster.cli", "--source=static:?nodes=1",
                             f"--sink=tmplhook:{url}?token=s3cret-token", "--metric_resolution=5s",
                             "--disable_metric_sink", "--heapster-port=0"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: received or proc.poll() is not None, timeout=30, what="a batch or heapster's exit")
        assert received, "heapster exported no batch to the rendered sink within 30 s"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-3000:]
    first = received[0]
    assert first["auth"] == "Bearer s3cret-token"
    assert "node:node-0" in first["doc"]["metric_sets"]
    assert "cpu/usage" in first["doc"]["metric_sets"]["node:node-0"]["values"]
    assert "s3cret-token" not in out + err
