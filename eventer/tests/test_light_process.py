"""The eventer's process stays light: no aiohttp, SQLite or kubernetes client on its path, nor modules only
heapster or tests use (shards, the contract suite, flag hints); the C allocator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from heapster_eventer.testing import EventerProcess

PROBE = """
import asyncio, json, sys
from heapster_eventer.lazyssl import defer_ssl
defer_ssl()
from heapster.logs import configure
from heapster_eventer.app import Eventer
from heapster_eventer.flags import parse_args
from heapster_source_kubernetes import config

source, service_account = sys.argv[1:3]
if service_account:  # the in-cluster configuration, from this directory instead of the pod's
    config.load_api_access.__kwdefaults__["service_account_dir"] = service_account

async def main():
    options = parse_args(["--source=" + source, "--sink=log", "--healthz-ip=127.0.0.1", "--healthz-port=0"])
    configure(options.verbose, options.log_format)
    eventer = Eventer(options)
    built = eventer.build()
    server = await eventer.serve_health()
    await built.source.start()
    await built.source.close()
    await server.cleanup()

asyncio.run(main())
print(json.dumps(sorted(m for m in json.loads(sys.argv[3]) if m in sys.modules)))
"""
HEAVY = ("aiohttp", "sqlite3", "kubernetes", "yarl", "heapster.shards.discovery", "heapster.testing.contract",
         "heapster.testing.recording", "difflib", "tomllib",
         # what session 9 took off the start path (bench/README.md, eventer33 and the lead's review fix):
         "shutil", "tempfile", "bz2", "lzma", "importlib.metadata", "importlib.resources", "email", "zipfile",
         "ctypes.util")


@pytest.fixture(scope="module")
def api_credentials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service account directory (token, ca.crt) and a kubeconfig naming the same CA and token."""
    folder = tmp_path_factory.mktemp("credentials")
    (folder / "token").write_text("eventer-probe")
    trustme.CA().cert_pem.write_to_path(str(folder / "ca.crt"))
    (folder / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: probe\n"
        "clusters:\n- name: c\n"
        f"  cluster: {{server: 'https://127.0.0.1:1', certificate-authority: '{folder}/ca.crt'}}\n"
        "users:\n- name: u\n  user: {token: eventer-probe}\n"
        "contexts:\n- name: probe\n  context: {cluster: c, user: u}\n")
    return folder


@pytest.mark.parametrize("how", ["http", "kubeconfig", "in-cluster"])
def test_the_eventer_path_loads_no_heavy_module(how: str, api_credentials: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """From the flags to the kubernetes source started and closed, with a plain API URL, a kubeconfig over
    https and the in-cluster configuration over https: none of the modules the eventer's memory work took off."""
    source, service_account = {
        "http": ("kubernetes:http://127.0.0.1:1?inClusterConfig=false", ""),
        "kubeconfig": (f"kubernetes:?inClusterConfig=false&auth={api_credentials / 'kubeconfig'}", ""),
        "in-cluster": ("kubernetes:", str(api_credentials)),
    }[how]
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "1")
    done = subprocess.run([sys.executable, "-c", PROBE, source, service_account, json.dumps(HEAVY)],
                          capture_output=True, text=True, timeout=120, check=False)
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
