"""The `heapster-simulator` command as a real subprocess, through the `simulator_process` helper."""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes
import orjson
import pytest

from heapster.testing.processes import stop_process
from heapster_simulator.testing import simulator_process

client: Any = kubernetes.client
config: Any = kubernetes.config


def test_process_writes_state_dir_and_serves_the_real_client(tmp_path: Path) -> None:
    with simulator_process(tmp_path, nodes=3, pods_per_node=4, token="proc-token",
                           faults={"sim-node-0002": "error500"}) as ready:
        state_dir = Path(ready["state_dir"])
        assert ready["nodes"] == 3 and ready["kubelet_scheme"] == "https"
        assert ready["api"].startswith("http://127.0.0.1:") and ready["admin"] == ready["api"] + "/simulator"
        assert orjson.loads((state_dir / "ready.json").read_bytes())["api"] == ready["api"]
        assert (state_dir / "token").read_text() == "proc-token"
        assert (state_dir / "ca.crt").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        api = config.new_client_from_config(config_file=str(state_dir / "kubeconfig"))
        try:
            nodes = client.CoreV1Api(api).list_node().items
            assert [n.status.daemon_endpoints.kubelet_endpoint.port for n in nodes] == [ready["kubelet_port"]] * 3
            assert len(client.CoreV1Api(api).list_pod_for_all_namespaces().items) == 12
        finally:
            api.close()
        context = ssl.create_default_context(cafile=str(state_dir / "ca.crt"))
        request = urllib.request.Request(f"https://127.0.0.3:{ready['kubelet_port']}/stats/summary",
                                         headers={"Authorization": "Bearer proc-token"})
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            assert orjson.loads(response.read())["node"]["nodeName"] == "sim-node-0001"
        request = urllib.request.Request(f"https://127.0.0.4:{ready['kubelet_port']}/stats/summary",
                                         headers={"Authorization": "Bearer proc-token"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, context=context, timeout=5)
        assert caught.value.code == 500
        process = ready["process"]
        started = time.monotonic()
        assert stop_process(process) == 0  # SIGTERM stops it cleanly
        assert time.monotonic() - started < 5


def test_stdout_carries_the_ready_line(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "heapster_simulator", "--nodes", "2", "--kubelet-scheme",
                                "http", "--pods-per-node", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        ready = orjson.loads(process.stdout.readline())
        assert ready["nodes"] == 2 and ready["kubelet_scheme"] == "http" and ready["token"] is None
        with urllib.request.urlopen(f"http://127.0.0.2:{ready['kubelet_port']}/healthz", timeout=5) as response:
            assert response.read() == b"ok"
    finally:
        assert stop_process(process) == 0


def test_bad_command_line_exits_2(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "heapster_simulator", "--nodes", "2", "--fault", "x=explode"],
                            check=False, capture_output=True, timeout=30)
    assert result.returncode == 2
    assert b"KIND one of" in result.stderr
    result = subprocess.run([sys.executable, "-m", "heapster_simulator", "--nodes", "-1"], check=False,
                            capture_output=True, timeout=30)
    assert result.returncode == 2 and b"nodes must be >= 0" in result.stderr
