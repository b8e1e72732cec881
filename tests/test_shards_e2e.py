"""Three shards answer as one: real heapster processes against a 30-node simulator and a real influxd.

Three ``--shard`` processes (the third with ``auto/3`` from ``$POD_NAME``) find each other through the
EndpointSlices of the simulator's headless Service; a fourth, unsharded process scrapes the same
cluster. Every Model API route, metric-export and metrics.k8s.io answer of each shard must equal the
unsharded one; so must the historical API (every shard writes to one database, the unsharded process to another)
and the routes served from the cluster state (the dashboard's pods of a node, Node objects, discovery).
Values may differ only as much as two processes scraping the same kubelets a few seconds apart can make them
differ (the simulator's gauges drift with the wall clock): 2 %.
Then influxd must hold the same series with the same aggregate values in both databases, and per
window the shards together exported exactly as many metric sets as the unsharded process.
Finally one shard is killed (SIGKILL): the others' answers name it in ``X-Heapster-Missing-Shards``.
A second run serves HTTPS with ``--tls_client_ca``: peers present client certificates and check each other's.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from heapster.processors.quantity import parse_quantity
from heapster.scheduler import in_shard
from heapster.shards import LOCAL_HEADER, MISSING_HEADER
from heapster.testing.net import free_port, wait_until
from heapster_simulator.testing import simulator_process, stop_process
from heapster_sink_influxdb.testing import InfluxServer, influxd_server

NODES = 30
SHARDS = 3
RESOLUTION = 10
REL = 0.02
WAIT = 600.0
"""Deadline of the waits for windows and exports: on a loaded machine the first common windows of four processes
took 180 s (5 windows in 120 s at load 8-11); each wait polls and ends as soon as its condition holds."""
RATE_REL = 0.25
"""Rates differ more: kubelets (and the simulator) stamp samples to the second, so a rate over a 10 s window
is off by up to a ninth in each process, depending on when within the second each scraped."""
NAMESPACE = "kube-system"

Answer = tuple[int, dict[str, str], Any]


def get(url: str, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None) -> Answer:
    """Status, headers and decoded JSON (or text) of a GET."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20, context=context) as resp:
            raw, status, headers = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raw, status, headers = exc.read(), exc.code, dict(exc.headers)
    try:
        return status, headers, json.loads(raw)
    except ValueError:
        return status, headers, raw.decode(errors="replace")


def layout(url: str) -> tuple[bytes, bool, bool]:
    """How a JSON answer is laid out: its first bytes, a final newline, go-restful's one-space indent."""
    with urllib.request.urlopen(url, timeout=20) as resp:
        raw = resp.read()
    return raw[:2], raw.endswith(b"\n"), b"\n " in raw[:100] and b"\n  " not in raw[:100]


def post(url: str, body: dict[str, Any], ca: str) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10, context=ssl.create_default_context(cafile=ca)) as resp:
        assert resp.status == 200


@contextmanager
def heapster(tmp_path: Path, name: str, port: int, args: list[str], env: dict[str, str] | None = None
             ) -> Iterator[dict[str, Any]]:
    log_path = tmp_path / f"{name}.log"
    command = [str(Path(sys.executable).parent / "heapster"), f"--metric_resolution={RESOLUTION}s",
               f"--heapster-port={port}", "--listen_ip=127.0.0.1", "--log-format=json", *args]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        yield {"url": f"http://127.0.0.1:{port}", "log": log_path, "process": process, "name": name}
    finally:
        stop_process(process)


def log_lines(proc: dict[str, Any]) -> list[dict[str, Any]]:
    lines = []
    for line in proc["log"].read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


# --- comparing answers ---------------------------------------------------------------------------------------
def _close(a: Any, b: Any, path: str = "") -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        rel = RATE_REL if "_rate" in path or "/cpu" in path else REL
        return a == pytest.approx(b, rel=rel, abs=1.0)  # an integer rate rounds either way
    return bool(a == b)


def _quantity(text: str) -> Decimal | None:
    try:
        return parse_quantity(text)
    except (ValueError, ArithmeticError):
        return None


def normalize(value: Any) -> Any:
    """Order-free shapes: name lists as sorted lists, points by timestamp, export series by labels."""
    if isinstance(value, dict):
        if set(value) == {"metrics", "latestTimestamp"}:
            return {"points": {p["timestamp"]: p["value"] for p in value["metrics"] or ()},
                    "latestTimestamp": value["latestTimestamp"]}
        out = {k: normalize(v) for k, v in value.items() if k != "creationTimestamp"}
        if isinstance(value.get("usage"), dict):
            out["usage"] = {k: float(_quantity(v) or 0) for k, v in value["usage"].items()}
        return out
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return sorted(value)
        if all(isinstance(v, dict) and "labels" in v and "metrics" in v for v in value):
            return {json.dumps(v["labels"], sort_keys=True): normalize(v["metrics"]) for v in value}
        return [normalize(v) for v in value]
    return value


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys differ: only left {sorted(a.keys() - b.keys())[:5]}, "
                    f"only right {sorted(b.keys() - a.keys())[:5]}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if _close(a, b, path) else [f"{path}: {a!r} != {b!r}"]


def same_everywhere(urls: list[str], single: str, path: str, attempts: int = 6,
                    context: ssl.SSLContext | None = None) -> Answer:
    """``path`` from every shard equals the unsharded answer; retried while they are on different windows (at
    least ``attempts`` times, and for up to two windows)."""
    problems: list[str] = []
    deadline = time.monotonic() + 2 * RESOLUTION
    attempt = 0
    while attempt < attempts or time.monotonic() < deadline:
        if attempt:
            time.sleep(0.5)  # a poll interval: the processes move on to the same window
        attempt += 1
        expected = get(single + path, context=context)
        answers = [get(url + path, context=context) for url in urls]
        problems = []
        for url, (status, headers, body) in zip(urls, answers, strict=True):
            assert MISSING_HEADER not in headers, (url + path, headers[MISSING_HEADER])
            if status != expected[0]:
                problems.append(f"{url}{path}: HTTP {status} vs {expected[0]}")
                continue
            problems += [f"{url}{d}" for d in differences(normalize(body), normalize(expected[2]), path)]
        if not problems:
            return expected
    raise AssertionError("\n".join(problems[:20]))


# --- the run -------------------------------------------------------------------------------------------------

def _cluster_with_peers(stack: ExitStack, tmp_path: Path, nodes: int,
                        pods_per_node: int) -> tuple[dict[str, Any], str, list[int]]:
    """A simulator whose peer Service lists SHARDS heapster ports; its source flag and the ports (one spare)."""
    sim = stack.enter_context(simulator_process(tmp_path, nodes=nodes, pods_per_node=pods_per_node,
                                                api_scheme="https", token="e2e", peer_service="heapster",
                                                peer_namespace=NAMESPACE))
    kubeconfig = tmp_path / "simulator" / "kubeconfig"
    source = f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={kubeconfig}"
    ports = [free_port() for _ in range(SHARDS + 1)]
    for index in range(SHARDS):
        post(f"{sim['api']}/simulator/peers", {"name": f"heapster-{index}", "address": "127.0.0.1",
                                              "port": ports[index]}, sim["ca"])
    return sim, source, ports

@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with ExitStack() as stack:
        (tmp_path / "influx").mkdir()
        influx: InfluxServer = stack.enter_context(influxd_server(tmp_path / "influx"))
        sim, source, ports = _cluster_with_peers(stack, tmp_path, nodes=NODES, pods_per_node=3)
        shards = []
        for index in range(SHARDS):
            auto = index == SHARDS - 1  # the last one finds its index in its StatefulSet pod name
            # Peers get 15 s: a peer cut off makes a partial answer that fails the comparisons at once, and a call
            # between four processes on a loaded machine may take over 3 s; the killed shard refuses connections,
            # so its peers never wait the timeout out.
            args = [source, f"--shard={'auto' if auto else index}/{SHARDS}", "--shard_service=heapster",
                    f"--shard_namespace={NAMESPACE}", "--shard_peer_timeout=15s",
                    f"--sink=influxdb:http://{influx.hostport}?db=sharded",
                    f"--historical_source=influxdb:http://{influx.hostport}?db=sharded"]
            shards.append(stack.enter_context(heapster(tmp_path, f"shard{index}", ports[index], args,
                                                       {"POD_NAME": f"heapster-{index}"} if auto else None)))
        single = stack.enter_context(heapster(tmp_path, "single", ports[SHARDS], [
            source, f"--sink=influxdb:http://{influx.hostport}?db=single",
            f"--historical_source=influxdb:http://{influx.hostport}?db=single"]))
        yield {"influx": influx, "sim": sim, "shards": shards, "single": single}


def cluster_points(url: str) -> dict[str, Any]:
    try:
        status, _, body = get(f"{url}/api/v1/model/metrics/cpu/usage_rate")
    except OSError:  # not listening yet, or too busy to answer within the request's timeout
        return {}
    return {p["timestamp"]: p["value"] for p in body["metrics"]} if status == 200 else {}


def common_windows(procs: list[dict[str, Any]], count: int) -> list[str]:
    """``count`` windows for which every process has a whole-cluster aggregate."""
    def ready() -> list[str] | None:
        for proc in procs:
            assert proc["process"].poll() is None, proc["log"].read_text()[-3000:]
        stamps = [set(cluster_points(p["url"])) for p in procs]
        common = sorted(set.intersection(*stamps))
        return common[-count:] if len(common) >= count + 2 else None  # past the first windows' missing rates

    found: list[str] = wait_until(ready, timeout=WAIT, interval=0.5, what="common aggregated windows")
    return found


def model_routes(url: str, window: str) -> list[str]:
    """Every Model API route, for one node of each shard and pods and containers on them."""
    query = f"?start={window}&end={window}"
    routes = ["metrics/", "nodes/", "namespaces/", "debug/allkeys"]
    routes += [f"metrics/{m}{query}" for m in get(f"{url}/api/v1/model/metrics/")[2]]
    nodes = sorted(get(f"{url}/api/v1/model/nodes/")[2])
    assert len(nodes) == NODES
    for index in range(SHARDS):
        node = next(n for n in nodes if in_shard(n, index, SHARDS))
        routes += [f"nodes/{node}/metrics/", f"nodes/{node}/freecontainers/"]
        routes += [f"nodes/{node}/metrics/{m}{query}" for m in get(f"{url}/api/v1/model/nodes/{node}/metrics/")[2]]
        for container in get(f"{url}/api/v1/model/nodes/{node}/freecontainers/")[2][:1]:
            free = f"nodes/{node}/freecontainers/{container}/metrics/"
            routes += [free] + [f"{free}{m}{query}" for m in get(f"{url}/api/v1/model/{free}")[2]]
    for namespace in get(f"{url}/api/v1/model/namespaces/")[2]:
        ns = f"namespaces/{namespace}"
        routes += [f"{ns}/metrics/", f"{ns}/pods/"]
        routes += [f"{ns}/metrics/{m}{query}" for m in get(f"{url}/api/v1/model/{ns}/metrics/")[2]]
        pods = sorted(get(f"{url}/api/v1/model/{ns}/pods/")[2])
        routes.append(f"{ns}/pod-list/{','.join(pods[:4])}/metrics/cpu/usage_rate{query}")
        for pod in pods[:1]:
            routes += [f"{ns}/pods/{pod}/metrics/", f"{ns}/pods/{pod}/containers/"]
            names = get(f"{url}/api/v1/model/{ns}/pods/{pod}/metrics/")[2]
            routes += [f"{ns}/pods/{pod}/metrics/{m}{query}" for m in names]
            for container in get(f"{url}/api/v1/model/{ns}/pods/{pod}/containers/")[2]:
                route = f"{ns}/pods/{pod}/containers/{container}/metrics/"
                routes += [route] + [f"{route}{m}{query}" for m in get(f"{url}/api/v1/model/{route}")[2]]
    return ["/api/v1/model/" + r for r in routes]


def metrics_api_routes(url: str) -> list[str]:
    beta = "/apis/metrics.k8s.io/v1beta1"
    routes = [f"{beta}/nodes", f"{beta}/pods", "/apis/metrics.k8s.io/v1alpha1/nodes", "/apis/metrics/v1alpha1/pods"]
    nodes = sorted(get(url + "/api/v1/model/nodes/")[2])
    routes += [f"{beta}/nodes/{next(n for n in nodes if in_shard(n, i, SHARDS))}" for i in range(SHARDS)]
    items = get(f"{url}{beta}/pods")[2]["items"]
    for item in items[:: max(1, len(items) // 4)]:
        meta = item["metadata"]
        namespaced = f"{beta}/namespaces/{meta['namespace']}/pods"
        routes += [namespaced, f"{namespaced}/{meta['name']}"]
    routes += [f"{beta}/nodes/no-such-node", f"{beta}/namespaces/default/pods/no-such-pod"]
    return routes


def cluster_state_routes(url: str) -> list[str]:
    """The routes served from the cluster state or static data, not the store: the dashboard's pods of a node (one
    node of each shard), the Node objects ``kubectl top`` reads, discovery, the export schema, the page itself."""
    nodes = sorted(get(url + "/api/v1/model/nodes/")[2])
    routes = ["/", "/static/dashboard.js", "/api", "/api/v1/nodes", "/apis", "/apis/metrics.k8s.io",
              "/apis/metrics.k8s.io/v1beta1", "/apis/metrics.k8s.io/v1alpha1", "/api/v1/metric-export-schema",
              "/dashboard/nodes/no-such-node/pods"]
    for index in range(SHARDS):
        node = next(n for n in nodes if in_shard(n, index, SHARDS))
        routes += [f"/dashboard/nodes/{node}/pods", f"/api/v1/nodes/{node}"]
    return routes


def historical_routes(url: str, windows: list[str], pod_ids: list[str]) -> list[str]:
    """Every kind of historical route (lists, names, metrics, aggregations, pod lists, pod ids) over ``windows``,
    for the cluster, a namespace, one node of each shard and pods and containers on them."""
    base = "/api/v1/historical"
    query = f"?start={windows[0]}&end={windows[-1]}"
    aggregated = f"metrics-aggregated/average,max,min,count/cpu/usage_rate{query}"
    routes = ["/nodes", "/namespaces", "/metrics", f"/metrics/cpu/usage_rate{query}", f"/{aggregated}"]
    nodes = sorted(get(f"{url}{base}/nodes")[2])
    assert len(nodes) == NODES
    for index in range(SHARDS):
        node = f"/nodes/{next(n for n in nodes if in_shard(n, index, SHARDS))}"
        routes += [f"{node}/metrics", f"{node}/metrics/memory/usage{query}", f"{node}/{aggregated}",
                   f"{node}/freecontainers"]
        for container in get(f"{url}{base}{node}/freecontainers")[2][:1]:
            routes += [f"{node}/freecontainers/{container}/metrics",
                       f"{node}/freecontainers/{container}/metrics/memory/usage{query}"]
    namespace = f"/namespaces/{NAMESPACE}"
    pods = sorted(get(f"{url}{base}{namespace}/pods")[2])
    routes += [f"{namespace}/metrics", f"{namespace}/metrics/memory/usage{query}", f"{namespace}/{aggregated}",
               f"{namespace}/pods", f"{namespace}/pod-list/{','.join(pods[:4])}/metrics/cpu/usage_rate{query}",
               f"{namespace}/pod-list/{','.join(pods[:4])}/{aggregated}"]
    for pod in pods[:: max(1, len(pods) // SHARDS)]:
        routes += [f"{namespace}/pods/{pod}/metrics", f"{namespace}/pods/{pod}/metrics/memory/usage{query}",
                   f"{namespace}/pods/{pod}/{aggregated}", f"{namespace}/pods/{pod}/containers"]
        for container in get(f"{url}{base}{namespace}/pods/{pod}/containers")[2][:1]:
            routes += [f"{namespace}/pods/{pod}/containers/{container}/metrics",
                       f"{namespace}/pods/{pod}/containers/{container}/metrics/memory/usage{query}"]
    for pod_id in pod_ids[:SHARDS]:
        routes += [f"/pod-id/{pod_id}/metrics/memory/usage{query}", f"/pod-id/{pod_id}/{aggregated}"]
    routes.append(f"/pod-id-list/{','.join(pod_ids[:SHARDS])}/metrics/memory/usage{query}")
    return [base + r for r in routes]


def influx_rows(influx: InfluxServer, db: str, windows: list[str]) -> dict[tuple[str, str, str], float]:
    """``(measurement, tags, time) -> value`` of the given windows."""
    where = f"time >= '{min(windows)}' AND time <= '{max(windows)}'"  # InfluxQL takes no OR on time
    rows = {}
    for measurement in ("cpu/usage_rate", "memory/usage", "memory/working_set", "cpu/request"):
        result = influx.query(f'SELECT "value" FROM "{measurement}" WHERE {where} GROUP BY *', db)[0]
        for series in result.get("series", []):
            tags = json.dumps({k: v for k, v in series.get("tags", {}).items() if v}, sort_keys=True)
            for stamp, value in series["values"]:
                rows[(measurement, tags, str(stamp))] = value
    return rows


def exported_sets(proc: dict[str, Any]) -> dict[str, int]:
    """Metric sets the influxdb sink queue exported, by window."""
    found: Counter[str] = Counter()
    for line in log_lines(proc):
        if line.get("event") == "batch.exported" and "influx" in str(line.get("sink", "")).lower():
            found[line["window"]] += int(line["metric_sets"])
    return dict(found)


def test_three_shards_answer_as_one_unsharded_process(cluster: dict[str, Any]) -> None:
    shards, single, influx = cluster["shards"], cluster["single"], cluster["influx"]
    urls = [s["url"] for s in shards]
    windows = common_windows([*shards, single], 2)
    window = windows[0]

    # Every Model API route, metric-export and metrics.k8s.io: each shard answers as the unsharded process.
    routes = model_routes(single["url"], window)
    assert len(routes) > 100
    for route in routes:
        same_everywhere(urls, single["url"], route)
    # In every replica, the combined aggregates are exactly the sums of every shard's pods.
    query = f"?start={window}&end={window}"
    for url in urls:
        for namespace in get(f"{url}/api/v1/model/namespaces/")[2]:
            ns = f"{url}/api/v1/model/namespaces/{namespace}"
            pods = ",".join(get(f"{ns}/pods/")[2])
            for metric in ("cpu/usage_rate", "memory/usage"):
                items = get(f"{ns}/pod-list/{pods}/metrics/{metric}{query}")[2]["items"]
                total = sum(point["value"] for item in items for point in item["metrics"])
                found = [point["value"] for point in get(f"{ns}/metrics/{metric}{query}")[2]["metrics"]]
                assert found == [pytest.approx(total, rel=1e-9)], (url, namespace, metric)
    exported = same_everywhere(urls, single["url"], "/api/v1/metric-export")
    kinds = Counter(series["labels"].get("container_name") for series in exported[2])
    assert kinds["machine"] == NODES and kinds["/pod"] == NODES * 3
    for route in metrics_api_routes(single["url"]):
        same_everywhere(urls, single["url"], route)
    for route in ("/apis/metrics.k8s.io/v1beta1/nodes", "/apis/metrics.k8s.io/v1alpha1/nodes", "/api/v1/model/nodes/",
                  "/api/v1/metric-export"):  # merged answers are laid out as the route lays out its own
        assert {layout(url + route) for url in urls} == {layout(single["url"] + route)}, route

    # The sinks: the same series and values in both databases, each metric set exported once.
    seen: list[str] = []

    def written() -> tuple[dict[Any, float], dict[Any, float]] | None:
        sharded, alone = influx_rows(influx, "sharded", windows), influx_rows(influx, "single", windows)
        seen[:] = [f"only sharded: {sorted(sharded.keys() - alone.keys())[:5]}",
                   f"only single: {sorted(alone.keys() - sharded.keys())[:5]}"]
        return (sharded, alone) if alone and sharded.keys() == alone.keys() else None

    try:
        sharded, alone = wait_until(written, timeout=WAIT, interval=0.5, what="both databases holding the same series")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {seen}") from None
    assert any('"type": "cluster"' in tags for _, tags, _ in alone)
    assert any('"type": "ns"' in tags for _, tags, _ in alone)
    off = {key: (sharded[key], alone[key]) for key in alone if not _close(sharded[key], alone[key], key[0])}
    assert not off, list(off.items())[:10]

    # The historical API (every shard writes to the same database) and the routes served from the cluster state:
    # each shard answers as the unsharded process answers from its own database.
    pod_ids = sorted({series["labels"]["pod_id"] for series in exported[2]
                      if series["labels"].get("container_name") == "/pod" and series["labels"].get("pod_id")})
    assert len(pod_ids) == NODES * 3
    pod_ids = [next(series["labels"]["pod_id"] for series in exported[2] if series["labels"].get("pod_id")
                    and in_shard(series["labels"]["nodename"], index, SHARDS)) for index in range(SHARDS)]
    routes = historical_routes(single["url"], windows, pod_ids) + cluster_state_routes(single["url"])
    assert len(routes) > 50
    for route in routes:
        status, _, body = same_everywhere(urls, single["url"], route)
        assert status == 200 and body, (route, status, body)  # nothing compared equal by being empty or refused
        if "/metrics/" in route and "-list/" not in route:
            assert len(body["metrics"]) == len(windows), (route, body)
        if "/metrics-aggregated/" in route and "-list/" not in route:
            assert body["buckets"][0]["count"] == len(windows), (route, body)

    def counted() -> tuple[Counter[str], dict[str, int]] | None:
        total: Counter[str] = Counter()
        for proc in shards:
            total.update(exported_sets(proc))
        one = exported_sets(single)
        both = [w for w in total if w in one and w >= window.replace("Z", "+00:00")]
        return (total, one) if len(both) >= 2 else None

    total, one = wait_until(counted, timeout=WAIT, interval=0.5, what="exports logged by every process")
    shared = [w for w in total if w in one and w >= window.replace("Z", "+00:00")]
    assert {w: total[w] for w in shared} == {w: one[w] for w in shared}

    # `heapster top` through one replica lists every node.
    top = subprocess.run([str(Path(sys.executable).parent / "heapster"), "top", "nodes", "--server", urls[1],
                          "--no-headers"], capture_output=True, text=True, timeout=60, check=True)
    assert len(top.stdout.splitlines()) == NODES and not top.stderr

    # A request marked as forwarded is answered by that shard alone (no recursion).
    mine = get(urls[0] + "/api/v1/model/nodes/", {LOCAL_HEADER: "1"})[2]
    assert 0 < len(mine) < NODES and all(in_shard(node, 0, SHARDS) for node in mine)

    # One shard dies: the others say so on every kind of answer, and log it.
    shards[1]["process"].kill()
    shards[1]["process"].wait(60)
    killed_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for url in (urls[0], urls[2]):
        for route in ("/api/v1/model/nodes/", "/api/v1/metric-export", "/apis/metrics.k8s.io/v1beta1/nodes",
                      "/apis/metrics.k8s.io/v1beta1/nodes/no-such-node"):
            status, headers, _body = get(url + route)
            assert headers.get(MISSING_HEADER) == "1", (url, route, status, headers)
        assert len(get(url + "/api/v1/model/nodes/")[2]) < NODES

        def aggregates_missing(url: str = url) -> bool:
            return get(url + "/api/v1/model/namespaces/")[1].get(MISSING_HEADER) == "1"

        wait_until(aggregates_missing, timeout=WAIT, interval=0.5, what="namespace answers naming shard 1")
    # No aggregate of a window after the kill reaches the sink, while the surviving shards' nodes do.
    def series_after(kind: str) -> int:
        result = influx.query(f"SELECT count(value) FROM \"cpu/usage_rate\" WHERE type = '{kind}' "
                              f"AND time > '{killed_at}'", "sharded")[0]
        return int(result["series"][0]["values"][0][1]) if result.get("series") else 0

    wait_until(lambda: series_after("node") > 0, timeout=WAIT, interval=0.5, what="node points after the kill")
    assert series_after("cluster") == 0 and series_after("ns") == 0
    top = subprocess.run([str(Path(sys.executable).parent / "heapster"), "top", "nodes", "--server", urls[0]],
                         capture_output=True, text=True, timeout=60, check=True)
    assert "without shard(s) 1" in top.stderr
    events = [line for line in log_lines(shards[0]) if line.get("event", "").startswith("shards.")]
    assert any(e["event"] == "shards.answer.partial" and "1" in e["missing"] for e in events)
    assert any(e["event"] == "shards.aggregates.skipped" and "1" in e["missing"] for e in events)
    assert "heapster_shard_aggregates_skipped_total" in get(urls[0] + "/metrics")[2]


# --- the same with client certificates -------------------------------------------------------------------------
@pytest.fixture
def tls_cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Three shards and one unsharded process serving HTTPS with ``--tls_client_ca`` (every request needs a client
    certificate). The serving certificate (trustme's: extended key usage serverAuth and clientAuth) names
    ``*.heapster.kube-system.svc``, the shards' DNS names in the headless Service, and 127.0.0.1 for the test."""
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    serving = ca.issue_cert(f"*.heapster.{NAMESPACE}.svc", "127.0.0.1", common_name="heapster")
    serving.cert_chain_pems[0].write_to_path(tmp_path / "tls.crt")
    serving.private_key_pem.write_to_path(tmp_path / "tls.key")
    tls = [f"--tls_cert={tmp_path / 'tls.crt'}", f"--tls_key={tmp_path / 'tls.key'}",
           f"--tls_client_ca={tmp_path / 'ca.pem'}", "--allowed_users=alice,heapster"]
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    ca.issue_cert("alice@example.com", common_name="alice").configure_cert(context)
    with ExitStack() as stack:
        _sim, source, ports = _cluster_with_peers(stack, tmp_path, nodes=9, pods_per_node=2)
        shards = []
        for index in range(SHARDS):
            # Peers get 15 s, as in the plain run: a mutual-TLS call between four processes on a loaded machine
            # may take longer, and a peer cut off makes a partial answer that fails the comparison at once; no
            # shard is killed in this run, so the timeout is never waited out when all goes well.
            args = [source, *tls, f"--shard={index}/{SHARDS}", "--shard_service=heapster",
                    f"--shard_namespace={NAMESPACE}", "--shard_peer_timeout=15s",
                    f"--shard_peer_ca={tmp_path / 'ca.pem'}"]
            shards.append(stack.enter_context(heapster(tmp_path, f"tls-shard{index}", ports[index], args)))
        single = stack.enter_context(heapster(tmp_path, "tls-single", ports[SHARDS], [source, *tls]))
        for proc in [*shards, single]:
            proc["url"] = proc["url"].replace("http:", "https:")
        yield {"shards": shards, "single": single, "context": context,
               "anonymous": ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))}


def test_shards_with_client_certificates_answer_as_one(tls_cluster: dict[str, Any]) -> None:
    shards, single, context = tls_cluster["shards"], tls_cluster["single"], tls_cluster["context"]
    urls = [s["url"] for s in shards]

    def ready() -> bool:
        for proc in [*shards, single]:
            assert proc["process"].poll() is None, proc["log"].read_text()[-3000:]
        try:
            answers = [get(f"{p['url']}/api/v1/model/metrics/cpu/usage_rate", context=context)
                       for p in [*shards, single]]
        except OSError:  # not listening yet, or too busy to answer within the request's timeout
            return False
        return all(status == 200 and len(body["metrics"]) >= 2 for status, _, body in answers)

    wait_until(ready, timeout=WAIT, interval=0.5, what="whole-cluster aggregates in every process")
    # Until then a shard's peers may not listen yet (one starts late on a loaded machine): its first windows lack
    # them and the answers polled meanwhile are partial, rightly. Only what follows must be whole.
    started = {proc["name"]: len(log_lines(proc)) for proc in shards}
    assert get(urls[0] + "/api/v1/model/nodes/", context=tls_cluster["anonymous"])[0] == 401  # no certificate
    # Fan-out (lists, points, export, metrics.k8s.io) and the combined aggregates all went over mutual TLS.
    for route in ("/api/v1/model/nodes/", "/api/v1/model/namespaces/", f"/api/v1/model/namespaces/{NAMESPACE}/pods/",
                  "/api/v1/metric-export", "/apis/metrics.k8s.io/v1beta1/nodes", "/apis/metrics.k8s.io/v1beta1/pods",
                  "/api/v1/model/metrics/"):
        status, _, body = same_everywhere(urls, single["url"], route, context=context)
        assert status == 200 and body, route
    assert len(get(urls[1] + "/api/v1/model/nodes/", context=context)[2]) == 9
    events = [line.get("event") for proc in shards for line in log_lines(proc)[started[proc["name"]]:]]
    assert "shards.answer.partial" not in events and "shards.aggregates.skipped" not in events
