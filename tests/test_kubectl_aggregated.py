"""The real ``kubectl`` against the cluster simulator, which aggregates heapster's ``metrics.k8s.io`` as
kube-aggregator does: discovery (legacy and aggregated), ``kubectl top`` and ``kubectl get --raw`` answer with
the values heapster serves.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from heapster.testing.net import PATIENCE, free_port, wait_until
from heapster.testing.processes import stop_process
from heapster_simulator.testing import simulator_process

pytestmark = pytest.mark.e2e

KUBECTL = "kubectl"  # Debian's kubernetes-client, installed by ./dev; found on PATH, never skipped
METRICS = "/apis/metrics.k8s.io/v1beta1"
MI = 1024 * 1024
V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


class Cluster:
    """The simulator's API server (with the APIService registered) and heapster behind it."""

    def __init__(self, ready: dict[str, Any], heapster_url: str) -> None:
        self.ready = ready
        self.api = ready["api"]
        self.heapster = heapster_url
        self.token = Path(ready["token"]).read_text() if ready["token"] else ""
        self.tls = ssl.create_default_context(cafile=ready["ca"])

    def request(self, url: str, *, method: str = "GET", body: Any = None,
                accept: str = "application/json") -> tuple[int, str, Any]:
        """``(status, content type, parsed JSON)`` of one request."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Accept": accept, "Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10, context=self.tls) as resp:
                return resp.status, resp.headers["Content-Type"], json.load(resp)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], json.load(exc)

    def from_heapster(self, path: str) -> Any:
        with urllib.request.urlopen(self.heapster + path, timeout=10) as resp:
            return json.load(resp)

    def kubectl(self, *args: str) -> str:
        result = subprocess.run([KUBECTL, "--kubeconfig", self.ready["kubeconfig"], "--request-timeout=20s", *args],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout


def heapster_url_from_log(log: Path, process: subprocess.Popen[bytes], deadline: float) -> str:
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        for line in log.read_text(errors="replace").splitlines():
            if '"api.listening"' in line:
                return str(json.loads(line)["url"])
        time.sleep(0.1)
    raise TimeoutError(f"heapster did not listen: {log.read_text()}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("kubectl")
    with simulator_process(tmp, nodes=3, pods_per_node=4, api_scheme="https") as ready:
        source = f"kubernetes:{ready['api']}?inClusterConfig=false&auth={ready['kubeconfig']}"
        log = tmp / "heapster.log"
        with log.open("wb") as out:
            heapster = subprocess.Popen([sys.executable, "-m", "heapster.cli", f"--source={source}",
                                         "--metric_resolution=10s", "--heapster-port=0", "--listen-ip=127.0.0.1",
                                         "--log-format=json"], stdout=out, stderr=subprocess.STDOUT,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            url = heapster_url_from_log(log, heapster, time.monotonic() + PATIENCE)
            found = Cluster(ready, url)
            status, _, answer = found.request(f"{ready['admin']}/apiservices", method="POST",
                                              body={"groupVersion": "metrics.k8s.io/v1beta1", "url": url})
            assert status == 200 and answer["name"] == "v1beta1.metrics.k8s.io", answer

            def every_pod_has_metrics() -> bool:
                assert heapster.poll() is None, log.read_text()
                pods = found.from_heapster(f"{METRICS}/pods")["items"]
                return len(pods) == ready["pods"] and len(found.from_heapster(f"{METRICS}/nodes")["items"]) == 3

            wait_until(every_pod_has_metrics, timeout=120, interval=0.25, what="metrics of every pod")
            yield found
        finally:
            stop_process(heapster)


def stable(cluster: Cluster, path: str, run: Callable[[], str]) -> tuple[Any, str]:
    """heapster's answer at ``path`` and ``run()``'s output, taken while no new batch arrived in between."""
    for _ in range(10):
        before = cluster.from_heapster(path)
        output = run()
        if without_stamps(cluster.from_heapster(path)) == without_stamps(before):
            return before, output
    raise AssertionError(f"{path} changed during every attempt")


def without_stamps(body: Any) -> Any:
    """A metrics answer without ``metadata.creationTimestamp`` (the time of the request)."""
    parsed = json.loads(json.dumps(body))
    for item in parsed.get("items", [parsed]):
        item.get("metadata", {}).pop("creationTimestamp", None)
    return parsed


def cpu_column(quantity: str) -> str:
    from kubernetes.utils import parse_quantity

    return f"{int(parse_quantity(quantity) * 1000)}m"  # type: ignore[no-untyped-call]


def memory_column(quantity: str) -> str:
    from kubernetes.utils import parse_quantity

    return f"{int(parse_quantity(quantity)) // MI}Mi"  # type: ignore[no-untyped-call]


def table(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if line.strip()]


def test_legacy_discovery_lists_the_aggregated_group(cluster: Cluster) -> None:
    status, _, groups = cluster.request(f"{cluster.api}/apis")
    assert status == 200
    metrics = next(g for g in groups["groups"] if g["name"] == "metrics.k8s.io")
    assert metrics["preferredVersion"] == {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
    status, _, group = cluster.request(f"{cluster.api}/apis/metrics.k8s.io")
    assert status == 200 and group["kind"] == "APIGroup" and group["versions"] == [metrics["preferredVersion"]]
    # The version's resource list comes from heapster, through the proxy.
    status, _, resources = cluster.request(cluster.api + METRICS)
    assert status == 200 and resources == cluster.from_heapster(METRICS)
    # The core groups are still there.
    assert {"coordination.k8s.io", "events.k8s.io"} <= {g["name"] for g in groups["groups"]}


@pytest.mark.parametrize("accept", [V2, V2BETA1])
def test_aggregated_discovery_merges_heapsters_resources(cluster: Cluster, accept: str) -> None:
    version = "v2" if accept == V2 else "v2beta1"
    status, content_type, body = cluster.request(f"{cluster.api}/apis", accept=f"{accept},application/json")
    assert status == 200 and content_type == accept
    assert body["kind"] == "APIGroupDiscoveryList" and body["apiVersion"] == f"apidiscovery.k8s.io/{version}"
    metrics = next(item for item in body["items"] if item["metadata"]["name"] == "metrics.k8s.io")
    [v1beta1] = metrics["versions"]
    assert v1beta1["version"] == "v1beta1" and v1beta1["freshness"] == "Current"
    assert {(r["resource"], r["scope"], r["responseKind"]["kind"]) for r in v1beta1["resources"]} == {
        ("nodes", "Cluster", "NodeMetrics"), ("pods", "Namespaced", "PodMetrics")}
    status, content_type, core = cluster.request(f"{cluster.api}/api", accept=accept)
    assert status == 200 and content_type == accept
    assert {r["resource"] for r in core["items"][0]["versions"][0]["resources"]} >= {"nodes", "pods", "namespaces"}
    # Without the media type the legacy documents answer.
    assert cluster.request(f"{cluster.api}/api")[2]["kind"] == "APIVersions"


def test_kubectl_get_apiservice_reports_heapster_available(cluster: Cluster) -> None:
    rows = table(cluster.kubectl("get", "apiservices"))
    assert rows[0] == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    metrics = next(row for row in rows if row[0] == "v1beta1.metrics.k8s.io")
    assert metrics[1:3] == [cluster.heapster, "True"]
    assert next(r for r in rows if r[0] == "v1.coordination.k8s.io")[:3] == ["v1.coordination.k8s.io", "Local", "True"]
    service = json.loads(cluster.kubectl("get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "json"))
    assert service["spec"]["group"] == "metrics.k8s.io" and service["status"]["conditions"][0]["reason"] == "Passed"


def test_kubectl_api_resources_sees_metrics(cluster: Cluster) -> None:
    rows = table(cluster.kubectl("api-resources", "--api-group=metrics.k8s.io", "--no-headers"))
    assert sorted((row[0], row[-1]) for row in rows) == [("nodes", "NodeMetrics"), ("pods", "PodMetrics")]


def test_kubectl_get_raw_is_heapsters_answer(cluster: Cluster) -> None:
    pod = cluster.from_heapster(f"{METRICS}/pods")["items"][0]["metadata"]
    paths = [f"{METRICS}/nodes", f"{METRICS}/nodes/sim-node-0001", f"{METRICS}/pods",
             f"{METRICS}/namespaces/{pod['namespace']}/pods/{pod['name']}"]
    for path in paths:
        served, raw = stable(cluster, path, lambda path=path: cluster.kubectl("get", "--raw", path))
        assert without_stamps(json.loads(raw)) == without_stamps(served), path


def test_kubectl_top_nodes(cluster: Cluster) -> None:
    served, output = stable(cluster, f"{METRICS}/nodes", lambda: cluster.kubectl("top", "nodes"))
    rows = table(output)
    assert rows[0][0] == "NAME" and rows[0][1] == "CPU(cores)" and rows[0][3] == "MEMORY(bytes)"
    allocatable = {n["metadata"]["name"]: n["status"]["allocatable"]
                   for n in cluster.request(f"{cluster.api}/api/v1/nodes")[2]["items"]}
    expected = []
    for item in served["items"]:
        from kubernetes.utils import parse_quantity

        name, usage = item["metadata"]["name"], item["usage"]
        cpu, memory = parse_quantity(usage["cpu"]), parse_quantity(usage["memory"])  # type: ignore[no-untyped-call]
        cpu_share = int(cpu * 100 / parse_quantity(allocatable[name]["cpu"]))  # type: ignore[no-untyped-call]
        memory_share = int(memory * 100 / parse_quantity(allocatable[name]["memory"]))  # type: ignore[no-untyped-call]
        expected.append([name, cpu_column(usage["cpu"]), f"{cpu_share}%", memory_column(usage["memory"]),
                         f"{memory_share}%"])
    assert rows[1:] == sorted(expected) and len(expected) == 3
    assert all(Decimal(row[3].removesuffix("Mi")) > 0 for row in rows[1:])


def test_kubectl_top_pods_everywhere(cluster: Cluster) -> None:
    served, output = stable(cluster, f"{METRICS}/pods", lambda: cluster.kubectl("top", "pods", "-A"))
    rows = table(output)
    assert rows[0] == ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    from kubernetes.utils import parse_quantity

    expected = []
    for item in served["items"]:
        containers = item["containers"]
        cpu = sum(parse_quantity(c["usage"]["cpu"]) for c in containers)  # type: ignore[no-untyped-call]
        memory = sum(parse_quantity(c["usage"]["memory"]) for c in containers)  # type: ignore[no-untyped-call]
        expected.append([item["metadata"]["namespace"], item["metadata"]["name"], f"{int(cpu * 1000)}m",
                         f"{int(memory) // MI}Mi"])
    assert sorted(rows[1:]) == sorted(expected) and len(expected) == cluster.ready["pods"]


def test_kubectl_top_one_pod_by_container(cluster: Cluster) -> None:
    pods = cluster.from_heapster(f"{METRICS}/pods")["items"]
    pod = next(p for p in pods if len(p["containers"]) > 1)["metadata"]
    path = f"{METRICS}/namespaces/{pod['namespace']}/pods/{pod['name']}"
    served, output = stable(cluster, path, lambda: cluster.kubectl("top", "pod", pod["name"], "-n",
                                                                    pod["namespace"], "--containers"))
    rows = table(output)
    assert rows[0] == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert sorted(rows[1:]) == sorted([pod["name"], c["name"], cpu_column(c["usage"]["cpu"]),
                                       memory_column(c["usage"]["memory"])] for c in served["containers"])


@pytest.mark.parametrize(("args", "message"), [
    (["pod", "ghost", "-n", "default"], 'pods "ghost" not found'),
    (["node", "ghost"], 'node "ghost" not found'),
], ids=" ".join)
def test_kubectl_top_of_a_missing_object_says_what_metrics_server_says(cluster: Cluster, args: list[str],
                                                                      message: str) -> None:
    result = subprocess.run([KUBECTL, "--kubeconfig", cluster.ready["kubeconfig"], "--request-timeout=20s", "top",
                             *args], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1 and result.stderr.strip() == f"Error from server (NotFound): {message}"


def kubectl_has(flag: str) -> bool:
    """Whether this kubectl's top pod knows ``flag`` (--sum and --field-selector came after Debian's 1.20)."""
    usage = subprocess.run([KUBECTL, "top", "pod", "--help"], capture_output=True, text=True, check=False).stdout
    return flag in usage


def kubectl_has_node_flag(flag: str) -> bool:
    usage = subprocess.run([KUBECTL, "top", "node", "--help"], capture_output=True, text=True, check=False).stdout
    return flag in usage


def capacity_shares(cluster: Cluster, served: dict[str, Any], node: str) -> list[str]:
    """kubectl top node --show-capacity's CPU(%) and MEMORY(%) of ``node``: usage over status.capacity."""
    from kubernetes.utils import parse_quantity

    capacity = cluster.request(f"{cluster.api}/api/v1/nodes/{node}")[2]["status"]["capacity"]
    usage = next(i["usage"] for i in served["items"] if i["metadata"]["name"] == node)
    return [f"{int(parse_quantity(usage[r]) * 100 / parse_quantity(capacity[r]))}%"  # type: ignore[no-untyped-call]
            for r in ("cpu", "memory")]


def pod_totals(pods: list[dict[str, Any]]) -> list[str]:
    """kubectl's --sum line from the metrics API's pods: exact sums, then whole millicores and mebibytes."""
    from kubernetes.utils import parse_quantity

    usages = [c["usage"] for p in pods for c in p["containers"]]
    cpu = sum(parse_quantity(u["cpu"]) for u in usages)  # type: ignore[no-untyped-call]
    memory = sum(parse_quantity(u["memory"]) for u in usages)  # type: ignore[no-untyped-call]
    return [f"{int(cpu * 1000)}m", f"{int(memory) // MI}Mi"]


@pytest.mark.parametrize("args", [
    ["nodes"], ["pods", "-A"], ["pods", "-n", "kube-system", "--containers"], ["pods", "-A", "--containers"],
    ["pods", "-A", "-l", "app in (kube-proxy, coredns)"], ["node", "sim-node-0002"],
    ["pods", "-A", "--sum"], ["pods", "-A", "--field-selector", "metadata.namespace!=kube-system"],
    ["pods", "-A", "--field-selector", "metadata.name=ledger-10", "--containers"], ["nodes", "--show-capacity"],
], ids=" ".join)
def test_heapster_top_prints_what_kubectl_top_prints(cluster: Cluster, args: list[str]) -> None:
    """The same rows from both commands (headers aside: kubectl 1.20 says CPU%, 1.32 and heapster CPU(%)).

    A kubectl without --sum, --field-selector or --show-capacity (Debian's 1.20) runs without it; the test then
    filters its rows itself, or checks heapster's totals and capacity percentages against the metrics API's exact
    values and the nodes' capacity.
    """
    from heapster.selectors import parse_field_selector

    kubectl_args = list(args)
    fields = None
    if "--field-selector" in args and not kubectl_has("--field-selector"):
        at = kubectl_args.index("--field-selector")
        fields = parse_field_selector(kubectl_args[at + 1])
        del kubectl_args[at:at + 2]
    emulate_sum = "--sum" in args and not kubectl_has("--sum")
    if emulate_sum:
        kubectl_args.remove("--sum")
    emulate_capacity = "--show-capacity" in args and not kubectl_has_node_flag("--show-capacity")
    if emulate_capacity:
        kubectl_args.remove("--show-capacity")

    def both() -> str:
        heapster = subprocess.run([sys.executable, "-m", "heapster.cli", "top", *args, "--server", cluster.heapster,
                                   "--no-headers"], capture_output=True, text=True, timeout=60, check=True).stdout
        return heapster + "\0" + cluster.kubectl("top", *kubectl_args, "--no-headers")

    path = f"{METRICS}/nodes" if args[0].startswith("node") else f"{METRICS}/pods"
    served, output = stable(cluster, path, both)
    ours, theirs = table(output.split("\0")[0]), table(output.split("\0")[1])
    if fields is not None:
        theirs = [row for row in theirs if fields.matches({"metadata.namespace": row[0], "metadata.name": row[1]})]
    if emulate_sum:
        assert ours[-2:] == [["________", "________"], pod_totals(served["items"])]
        ours = ours[:-2]
    if emulate_capacity:
        theirs = [[row[0], row[1], *capacity_shares(cluster, served, row[0]), row[3]] for row in theirs]
        theirs = [[r[0], r[1], r[2], r[4], r[3]] for r in theirs]
    assert sorted(ours) == sorted(theirs) and ours


def test_an_unreachable_backend_is_503_and_stale(cluster: Cluster) -> None:
    admin = cluster.ready["admin"]
    dead = f"http://127.0.0.1:{free_port()}"
    status, _, _ = cluster.request(f"{admin}/apiservices", method="POST",
                                   body={"groupVersion": "custom.metrics.k8s.io/v1beta1", "url": dead})
    assert status == 200
    try:
        status, _, body = cluster.request(f"{cluster.api}/apis/custom.metrics.k8s.io/v1beta1")
        assert status == 503 and body["reason"] == "ServiceUnavailable" and "error trying to reach service" in \
            body["message"]
        discovery = cluster.request(f"{cluster.api}/apis", accept=V2)[2]
        custom = next(i for i in discovery["items"] if i["metadata"]["name"] == "custom.metrics.k8s.io")
        assert custom["versions"][0]["freshness"] == "Stale"
        # kubectl top still works with another group stale.
        assert table(cluster.kubectl("top", "nodes"))[0][0] == "NAME"
        # And kubectl get apiservice says what is wrong, as kube-aggregator does.
        row = next(r for r in table(cluster.kubectl("get", "apiservices"))
                   if r[0] == "v1beta1.custom.metrics.k8s.io")
        assert row[1:4] == [dead, "False", "(FailedDiscoveryCheck)"]
    finally:
        status, _, _ = cluster.request(f"{admin}/apiservices/v1beta1.custom.metrics.k8s.io", method="DELETE")
    assert status == 200
    assert cluster.request(f"{cluster.api}/apis/custom.metrics.k8s.io/v1beta1")[0] == 404


def test_bad_apiservice_registration_is_400(cluster: Cluster) -> None:
    status, _, body = cluster.request(f"{cluster.ready['admin']}/apiservices", method="POST",
                                      body={"groupVersion": "metrics.k8s.io", "url": "http://x"})
    assert status == 400 and "GROUP/VERSION=URL" in body["error"]
