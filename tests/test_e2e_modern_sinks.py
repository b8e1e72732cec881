"""heapster and the simulator as real processes, shipping to the prometheus, prometheusremotewrite and otlp
sinks at once: PromQL over a real Prometheus (scraping one sink, receiving the other's remote write)
returns, for a chosen pod and node, the values heapster's Model API shows for the same timestamps; the
strict OTLP receiver gets every series, each with Kubernetes semantic-convention resource attributes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from heapster.testing.net import PATIENCE, free_port
from heapster.testing.processes import stop_process
from heapster.timefmt import parse_rfc3339
from heapster_simulator.testing import simulator_process
from heapster_sink_otlp.testing import OtlpReceiver
from heapster_sink_prometheus.testing import PrometheusServer, prometheus_server

pytestmark = pytest.mark.e2e

NODE = "sim-node-0000"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _poll(what: str, check: Callable[[], Any], within: float = 2 * PATIENCE) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, AssertionError, KeyError, IndexError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.25)
    raise AssertionError(f"{what}: still {last!r} after {within} s")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("modern")
    sink_port = free_port()
    with simulator_process(tmp, nodes=2, pods_per_node=3, containers_per_pod=2, api_scheme="https",
                           token="e2e") as ready, \
            prometheus_server(scrape_targets=[f"127.0.0.1:{sink_port}"], scrape_interval="1s") as prom, \
            OtlpReceiver() as otlp:
        kubeconfig = tmp / "simulator" / "kubeconfig"
        port = free_port()
        command = [str(Path(sys.executable).parent / "heapster"),
                   f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={kubeconfig}",
                   "--metric_resolution=5s", f"--heapster-port={port}", "--listen_ip=127.0.0.1",
                   f"--sink=prometheus:?port={sink_port}&listen_ip=127.0.0.1",
                   f"--sink=prometheusremotewrite:{prom.remote_write_url}?prefix=rw_",
                   f"--sink=otlp:{otlp.url}?cluster_name=e2e"]
        with (tmp / "heapster.log").open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield {"url": f"http://127.0.0.1:{port}", "prom": prom, "otlp": otlp, "process": process,
                   "log": tmp / "heapster.log", **ready}
        finally:
            stop_process(process)


def _model_points(stack: dict[str, Any], path: str, minimum: int = 2) -> list[tuple[datetime, float]]:
    """``(timestamp, value)`` pairs the Model API has for a metric path, once it has ``minimum``."""
    def points() -> list[tuple[datetime, float]]:
        if stack["process"].poll() is not None:
            raise RuntimeError(f"heapster exited: {Path(stack['log']).read_text()[-3000:]}")
        metrics = _get(f"{stack['url']}/api/v1/model/{path}")["metrics"]
        return [(parse_rfc3339(m["timestamp"]), m["value"]) for m in metrics] if len(metrics) >= minimum else []
    return list(_poll(f"model API {path}", points))


def _promql_equals(prom: PrometheusServer, query: str, at: datetime, expected: float) -> None:
    """Poll until PromQL at ``at`` returns one series whose sample is exactly at ``at``, equal to ``expected``."""
    def value() -> list[float]:
        stamped = prom.query(f"timestamp({query})", at.timestamp())
        if len(stamped) != 1 or float(stamped[0]["value"][1]) != at.timestamp():
            return []
        result = prom.query(query, at.timestamp())
        return [float(result[0]["value"][1])] if len(result) == 1 else []
    (got,) = _poll(f"{query} at {at}", value)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-9), (query, at)


def _first_pod(stack: dict[str, Any]) -> tuple[str, str]:
    """The first pod, by namespace and name, that the Model API lists."""
    pods = _poll("pods in the model API", lambda: sorted(
        (ns, name) for ns in _get(f"{stack['url']}/api/v1/model/namespaces/")
        for name in _get(f"{stack['url']}/api/v1/model/namespaces/{ns}/pods/")))
    return pods[0]


@pytest.mark.parametrize("prefix", ["heapster_", "rw_"])
def test_promql_matches_the_model_api_for_a_pod_and_a_node(stack: dict[str, Any], prefix: str) -> None:
    prom: PrometheusServer = stack["prom"]
    namespace, pod = _first_pod(stack)
    job = ',job="heapster"' if prefix == "heapster_" else ""
    cases = [
        (f"namespaces/{namespace}/pods/{pod}/metrics/cpu/usage_rate",
         f'{prefix}cpu_usage_rate_millicores{{type="pod",namespace_name="{namespace}",pod_name="{pod}"{job}}}'),
        (f"namespaces/{namespace}/pods/{pod}/metrics/memory/usage",
         f'{prefix}memory_usage_bytes{{type="pod",namespace_name="{namespace}",pod_name="{pod}"{job}}}'),
        (f"nodes/{NODE}/metrics/memory/working_set",
         f'{prefix}memory_working_set_bytes{{type="node",nodename="{NODE}"{job}}}'),
        (f"nodes/{NODE}/metrics/cpu/usage_rate",
         f'{prefix}cpu_usage_rate_millicores{{type="node",nodename="{NODE}"{job}}}'),
    ]
    for path, query in cases:
        points = _model_points(stack, path)
        for at, value in points[-2:]:
            _promql_equals(prom, query, at, value)


def test_the_otlp_receiver_gets_every_series_with_kubernetes_attributes(stack: dict[str, Any]) -> None:
    prom: PrometheusServer = stack["prom"]
    otlp: OtlpReceiver = stack["otlp"]
    namespace, pod = _first_pod(stack)
    at, _ = _model_points(stack, f"namespaces/{namespace}/pods/{pod}/metrics/cpu/usage_rate")[-1]
    stamp = int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000
    points = _poll("OTLP points of the batch", lambda: [p for p in otlp.points() if p.time_unix_nano == stamp])
    assert not otlp.rejected
    # every series of the batch: as many as remote write stored for that timestamp in Prometheus
    def remote_written() -> int:
        result = prom.query('{__name__=~"rw_.+"}[1s]', at.timestamp())
        return sum(1 for s in result if any(float(t) == at.timestamp() for t, _ in s["values"]))
    _poll("remote-written series of the batch", lambda: remote_written() == len(points))
    for point in points:
        kind = point.resource.get("heapster.type")
        assert point.resource["k8s.cluster.name"] == "e2e"
        if kind in ("node", "sys_container", "pod", "pod_container"):
            assert point.resource["k8s.node.name"].startswith("sim-node-")
        if kind in ("pod", "pod_container"):
            assert {"k8s.pod.name", "k8s.pod.uid", "k8s.namespace.name"} <= point.resource.keys()
        if kind == "pod_container":
            assert point.resource["k8s.container.name"]
        if kind == "ns":
            assert point.resource["k8s.namespace.name"]
    mine = [p for p in points if p.resource.get("k8s.pod.name") == pod and p.resource.get("heapster.type") == "pod"]
    rate = next(p for p in mine if p.name == "heapster.cpu.usage_rate")
    value = dict(_model_points(stack, f"namespaces/{namespace}/pods/{pod}/metrics/cpu/usage_rate"))[at]
    assert rate.value == value
    counters = [p for p in points if p.kind == "sum"]
    assert counters and all(0 < p.start_time_unix_nano <= p.time_unix_nano for p in counters)
    kinds = {p.resource.get("heapster.type") for p in points}
    assert {"node", "pod", "pod_container", "ns", "cluster"} <= kinds


def test_the_eventer_ships_kubernetes_events_as_otlp_logs(tmp_path: Path) -> None:
    with simulator_process(tmp_path, nodes=2, pods_per_node=3, events_per_second=20, seed=3) as ready, \
            OtlpReceiver() as otlp:
        api = ready["api"]
        command = [str(Path(sys.executable).parent / "eventer"), f"--source=kubernetes:{api}?inClusterConfig=false",
                   f"--sink=otlp:{otlp.url}", "--frequency=5s"]
        with (tmp_path / "eventer.log").open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            def received() -> list[dict[str, Any]]:
                if process.poll() is not None:
                    raise RuntimeError(f"eventer exited: {(tmp_path / 'eventer.log').read_text()[-3000:]}")
                return otlp.records() if len(otlp.records()) >= 20 else []
            records = _poll("OTLP log records", received)
        finally:
            stop_process(process)
        events = {e["metadata"]["uid"]: e for e in _get(f"{api}/api/v1/events")["items"]}
    assert not otlp.rejected
    for record in records:
        attributes, resource = record["attributes"], record["resource"]
        event = events[attributes["k8s.event.uid"]]  # every record is a real event of the API server
        involved = event["involvedObject"]
        assert record["body"] == event["message"]
        assert attributes["k8s.event.reason"] == event["reason"]
        assert attributes["k8s.object.kind"] == involved["kind"]
        assert 1 <= attributes["k8s.event.count"] <= event["count"]
        assert record["severity_text"] == event["type"]
        assert resource["k8s.namespace.name"] == (involved.get("namespace") or event["metadata"]["namespace"])
        if involved["kind"] == "Pod":
            assert (resource["k8s.pod.name"], resource["k8s.pod.uid"]) == (involved["name"], involved["uid"])
        assert record["time_unix_nano"] > 0
