"""The `heapster` daemon and the simulator as real processes, with a Heapster-style command line:
every healthy node, pod and container reaches the Model API, and a faulty kubelet is counted in /metrics.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heapster.testing.net import PATIENCE, free_port, wait_until
from heapster.testing.processes import stop_process
from heapster_simulator.testing import alive, simulator_process

pytestmark = pytest.mark.e2e

BROKEN = "sim-node-0003"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = resp.read()
    return json.loads(body) if resp.headers.get_content_type() == "application/json" else body.decode()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("heapster")
    with simulator_process(tmp, nodes=4, pods_per_node=3, containers_per_pod=2, api_scheme="https",
                           token="e2e", faults={BROKEN: "error500"}) as ready:
        kubeconfig = tmp / "simulator" / "kubeconfig"
        port = free_port()
        command = [str(Path(sys.executable).parent / "heapster"),
                   f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={kubeconfig}",
                   "--metric_resolution=5s", f"--heapster-port={port}", "--listen_ip=127.0.0.1"]
        with (tmp / "heapster.log").open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield {"url": f"http://127.0.0.1:{port}", "kubeconfig": kubeconfig, "log": tmp / "heapster.log",
                   "process": process, **ready}
        finally:
            stop_process(process)


def _wait_for_nodes(daemon: dict[str, Any], count: int, within: float = 2 * PATIENCE) -> list[str]:
    deadline = time.monotonic() + within
    nodes: list[str] = []
    while time.monotonic() < deadline:
        alive(daemon)
        try:
            nodes = _get(f"{daemon['url']}/api/v1/model/nodes/")
        except OSError:
            nodes = []
        if len(nodes) >= count:
            return sorted(nodes)
        time.sleep(0.25)
    raise AssertionError(f"model API has nodes {nodes}; log: {Path(daemon['log']).read_text()[-3000:]}")


def _api_pods(kubeconfig: Path) -> list[Any]:
    from kubernetes import client, config

    new_client: Any = config.new_client_from_config
    api_client = new_client(config_file=str(kubeconfig))
    try:
        return list(client.CoreV1Api(api_client).list_pod_for_all_namespaces().items)
    finally:
        api_client.close()


def test_every_healthy_node_pod_and_container_reaches_the_model_api(daemon: dict[str, Any]) -> None:
    nodes = _wait_for_nodes(daemon, 3)
    assert nodes == ["sim-node-0000", "sim-node-0001", "sim-node-0002"]  # the broken one has no data
    pods = [p for p in _api_pods(daemon["kubeconfig"]) if p.spec.node_name != BROKEN]
    assert len(pods) == 9
    for namespace in {p.metadata.namespace for p in pods}:
        listed = set(_get(f"{daemon['url']}/api/v1/model/namespaces/{namespace}/pods/"))
        assert {p.metadata.name for p in pods if p.metadata.namespace == namespace} <= listed
    for pod in pods:
        base = f"{daemon['url']}/api/v1/model/namespaces/{pod.metadata.namespace}/pods/{pod.metadata.name}"
        assert set(_get(f"{base}/containers/")) == {c.name for c in pod.spec.containers}
        usage = _get(f"{base}/containers/{pod.spec.containers[0].name}/metrics/cpu/usage")
        assert usage["metrics"] and usage["metrics"][-1]["value"] > 0


def test_the_broken_kubelet_is_counted_per_node_in_metrics(daemon: dict[str, Any]) -> None:
    _wait_for_nodes(daemon, 3)
    text = _get(f"{daemon['url']}/metrics")
    assert f'heapster_scrape_failures_total{{node="{BROKEN}",reason="http_500"}}' in text
    for node in ("sim-node-0000", "sim-node-0001", "sim-node-0002"):
        assert f'heapster_kubelet_summary_request_duration_milliseconds_count{{node="{node}"}}' in text
        assert f'heapster_scrape_failures_total{{node="{node}"' not in text


def test_self_metrics_have_heapsters_shape(daemon: dict[str, Any]) -> None:
    """As Heapster: per-node request summaries with quantiles, and the scrape duration and last scrape
    time per kubelet, ``source="kubelet_summary:<ip>:<port>"`` (a failing kubelet is timed too)."""
    import re

    _wait_for_nodes(daemon, 3)
    text = _get(f"{daemon['url']}/metrics")
    for node in ("sim-node-0000", "sim-node-0001", "sim-node-0002"):
        for quantile in ("0.5", "0.9", "0.99"):
            line = f'heapster_kubelet_summary_request_duration_milliseconds{{node="{node}",quantile="{quantile}"}}'
            assert line in text
    sources = set(re.findall(r'heapster_scraper_duration_milliseconds_count\{source="([^"]+)"\}', text))
    assert len(sources) == 4 and all(re.fullmatch(r"kubelet_summary:[\d.]+:\d+", s) for s in sources), sources
    for source in sources:
        assert f'heapster_scraper_last_time_seconds{{source="{source}"}}' in text
        assert f'heapster_scraper_duration_milliseconds{{quantile="0.99",source="{source}"}}' in text


def _status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_probes_answer_at_once_with_the_api_server_unreachable_and_two_sigints_exit(tmp_path: Path) -> None:
    api_port, port = free_port(), free_port()  # nothing listens on api_port
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{api_port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    command = [str(Path(sys.executable).parent / "heapster"),
               f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={kubeconfig}",
               "--metric_resolution=5s", f"--heapster-port={port}", "--listen_ip=127.0.0.1", "--log-format=json"]
    log_path = tmp_path / "heapster.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        def healthz() -> tuple[int, str] | None:
            alive({"process": process, "log": log_path})
            try:
                return _status(f"http://127.0.0.1:{port}/healthz")
            except OSError:
                return None

        # A generous deadline: interpreter and plugin start-up take long on a busy machine. What is asserted is
        # the order: the API answers while the source still waits for the cluster's first lists (the 30 s sync
        # that ends with cluster.sync.slow, the API server being unreachable); before, the API waited for it.
        status = wait_until(healthz, 2 * PATIENCE, 0.05, "heapster's /healthz")
        answered_log = log_path.read_text()  # each line is flushed as it is logged
        assert status[0] == 500  # no batch yet: Heapster's failing /healthz
        assert "cluster.sync.slow" not in answered_log, answered_log[-3000:]
        assert "api.listening" in answered_log, answered_log[-3000:]
        assert _status(f"http://127.0.0.1:{port}/livez") == (200, "ok")
        assert _status(f"http://127.0.0.1:{port}/readyz")[0] == 503
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
        process.wait(60)  # a deadline: two SIGINTs exit at once, a busy machine may still take seconds
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        events = [line["event"] for line in lines]
        assert events.index("api.listening") < len(events) and "heapster.stopped" in events
        assert "SSLContext object" not in log_path.read_text()
    finally:
        stop_process(process)
