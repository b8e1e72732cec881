"""`contrib/demo.py --once` (what `./dev demo` runs): simulator, heapster and eventer, tables within two resolutions."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from heapster.testing.modules import load_module

DEMO = Path(__file__).resolve().parents[1] / "demo.py"


def test_demo_once_prints_nodes_and_pods_with_cpu_and_memory() -> None:
    result = subprocess.run([sys.executable, str(DEMO), "--once", "--nodes", "3", "--pods-per-node", "4",
                             "--resolution", "5s", "--port", "0"],
                            capture_output=True, text=True, timeout=150, check=False)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "waiting for the first scrape (window ends at" in out
    nodes = re.findall(r"^(sim-node-\d{4})\s+(\d+)m\s+(\d+)%\s+(\d+)Mi\s+(\d+)%$", out, re.MULTILINE)
    assert [n[0] for n in nodes] == ["sim-node-0000", "sim-node-0001", "sim-node-0002"]
    assert all(int(cpu) > 0 and int(mem) > 0 for _, cpu, _, mem, _ in nodes)
    pods = re.findall(r"^(\S+)\s+(\S+)\s+(\d+)m\s+(\d+)Mi$", out, re.MULTILINE)
    assert len(pods) >= 10 and any(int(cpu) > 0 for _, _, cpu, _ in pods)
    assert "events exported so far" in out
    assert re.search(r"KUBECONFIG=\S+/simulator/kubeconfig kubectl top nodes", out)
    assert f"==> commands: {Path(sys.executable).parent}/heapster, " in out
    url = re.search(r"==> dashboard: (http://127\.0\.0\.1:(\d+)/)", out)
    assert url, out
    # Everything was stopped: nothing listens on heapster's port any more.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", int(url.group(2)))) != 0


def test_demo_rejects_a_bad_resolution() -> None:
    result = subprocess.run([sys.executable, str(DEMO), "--once", "--resolution", "2s"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and "at least 5s" in result.stderr


def load_demo() -> ModuleType:
    return load_module(DEMO, "heapster_demo")


def test_a_port_left_in_time_wait_is_still_free() -> None:
    """A second demo within a minute keeps port 8082: the previous one's connections in TIME-WAIT do not count."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server side closes first: its end of the connection waits in TIME-WAIT
        client.recv(1)
        client.close()
    with socket.socket() as plain:  # what the old check did: refused
        try:
            plain.bind(("127.0.0.1", port))
            time_wait = False
        except OSError:
            time_wait = True
    assert time_wait, "no TIME-WAIT connection was left on the port"
    demo = load_demo()
    assert demo.free_port(preferred=port) == port
    with socket.socket() as again:  # and a server with SO_REUSEADDR (heapster's) can listen there
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert demo.free_port(preferred=taken) != taken  # a port someone listens on is still refused
