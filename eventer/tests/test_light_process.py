"""The eventer's process stays light: no aiohttp, SQLite or kubernetes client on its path, nor modules only
heapster or tests use (shards, the contract suite, flag hints); the C allocator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from heapster_eventer.testing import EventerProcess

PROBE = """
import asyncio, sys
from heapster_eventer.app import Eventer
from heapster_eventer.flags import parse_args

async def main():
    eventer = Eventer(parse_args(["--source=kubernetes:http://127.0.0.1:1?inClusterConfig=false", "--sink=log",
                                  "--healthz-ip=127.0.0.1", "--healthz-port=0"]))
    built = eventer.build()
    server = await eventer.serve_health()
    await built.source.start()
    await built.source.close()
    await server.cleanup()

asyncio.run(main())
HEAVY = ("aiohttp", "sqlite3", "kubernetes", "yarl", "heapster.shards.discovery", "heapster.testing.contract",
         "heapster.testing.recording", "difflib", "tomllib")
print(sorted(m for m in HEAVY if m in sys.modules))
"""


def test_the_eventer_path_loads_no_aiohttp_sqlite_kubernetes_client_or_test_helpers() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"  # (the lines before are the eventer's log)


def test_the_eventer_runs_under_the_c_allocator_without_docstrings_with_its_pid_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    monkeypatch.delenv("PYTHONOPTIMIZE", raising=False)
    eventer = EventerProcess(["--source=static:", "--sink=log"], tmp_path / "eventer.log").start()
    try:
        assert eventer.process is not None
        environ = Path(f"/proc/{eventer.process.pid}/environ").read_bytes().split(b"\0")
        assert b"PYTHONMALLOC=malloc" in environ  # re-executed, same PID (the one Popen started)
        assert b"PYTHONOPTIMIZE=2" in environ
        assert eventer.stop() == 0
    finally:
        eventer.kill()


def test_an_interpreter_setting_from_the_environment_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONOPTIMIZE", "0")
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    eventer = EventerProcess(["--source=static:", "--sink=log"], tmp_path / "eventer.log").start()
    try:
        assert eventer.process is not None
        environ = Path(f"/proc/{eventer.process.pid}/environ").read_bytes().split(b"\0")
        assert b"PYTHONOPTIMIZE=0" in environ
        assert b"PYTHONMALLOC=malloc" in environ  # the missing one is still chosen
        assert eventer.stop() == 0
    finally:
        eventer.kill()
