"""Before/after: every output of the pipeline on the fixtures is what the object-per-value pipeline gave.

``tests/fixtures/golden/pipeline-outputs.json`` was recorded by running this module as a script
(``python tests/test_pipeline_outputs_unchanged.py record``) on the last commit before the columnar
batch (6f0a4e2): the fixture kubelet summary (v1.35, two windows 60 s apart, with counter increments)
through the Kubernetes source's decoder, Heapster's whole processor chain and the store, then read
back through the Model API, metric export and metrics.k8s.io, and encoded by the InfluxDB sink (both
schemas) and the Elasticsearch sink. The test makes the same outputs with today's code and diffs them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from heapster.api import create_api_app
from heapster.interfaces import PluginContext
from heapster.model import DataBatch
from heapster.plugins import load_plugins
from heapster.store import MetricStore
from heapster.testing import FakeClock
from heapster.testing.cluster import StaticCluster
from heapster.testing.fixtures import FIXTURES, pod_of, shifted
from heapster.timefmt import parse_rfc3339
from heapster_sink_elasticsearch.documents import metric_documents
from heapster_sink_influxdb.lineproto import MetricSchema
from heapster_source_kubernetes.summary import NodeInfo, decode_summary

RECORDING = Path(__file__).parent / "fixtures" / "golden" / "pipeline-outputs.json"
NODE = "datagen-1-35"
STAMP = parse_rfc3339("2026-06-26T10:15:00Z")
MODEL = "/api/v1/model"
NS = "kube-system"
ROUTES = [
    f"{MODEL}/metrics/", f"{MODEL}/metrics/cpu/usage_rate", f"{MODEL}/metrics/memory/usage",
    f"{MODEL}/nodes/", f"{MODEL}/nodes/{NODE}/metrics/", f"{MODEL}/nodes/{NODE}/metrics/cpu/usage_rate",
    f"{MODEL}/nodes/{NODE}/metrics/memory/working_set", f"{MODEL}/nodes/{NODE}/metrics/cpu/node_utilization",
    f"{MODEL}/nodes/{NODE}/metrics/filesystem/usage?labels=resource_id:/",
    f"{MODEL}/nodes/{NODE}/freecontainers/", f"{MODEL}/nodes/{NODE}/freecontainers/kubelet/metrics/",
    f"{MODEL}/nodes/{NODE}/freecontainers/kubelet/metrics/cpu/usage_rate",
    f"{MODEL}/namespaces/", f"{MODEL}/namespaces/{NS}/metrics/", f"{MODEL}/namespaces/{NS}/metrics/cpu/request",
    f"{MODEL}/namespaces/{NS}/metrics/memory/usage", f"{MODEL}/namespaces/{NS}/pods/",
    f"{MODEL}/debug/allkeys/", "/api/v1/metric-export",
    "/apis/metrics.k8s.io/v1beta1/nodes", "/apis/metrics.k8s.io/v1beta1/pods",
    f"/apis/metrics.k8s.io/v1beta1/namespaces/{NS}/pods", "/apis/metrics/v1alpha1/nodes",
    f"/apis/metrics/v1alpha1/namespaces/{NS}/pods",
]


def _summaries() -> list[dict[str, Any]]:
    first = json.loads((FIXTURES / "kubelet-stats-summary-v1.35.json").read_text())
    second = shifted(first, 60)
    second["node"]["cpu"]["usageCoreNanoSeconds"] += 30_000_000_000
    pod_of(second, "coredns")["containers"][0]["cpu"]["usageCoreNanoSeconds"] += 1_234_567_890
    pod_of(second, "kindnet")["containers"][0]["cpu"]["usageCoreNanoSeconds"] += 3_000_000_000
    pod_of(second, "coredns")["network"]["rxBytes"] += 6_000_000
    return [first, second]


async def outputs() -> dict[str, Any]:
    """Every output of the pipeline on the fixtures, in a form that does not depend on line order."""
    cluster = StaticCluster.from_yaml(FIXTURES / "nodes-v1.35-kubectl-list.yaml",
                                      FIXTURES / "pods-v1.35-kubectl-list.yaml")
    chain = load_plugins().build_processors(PluginContext(settings={}, cluster=cluster))
    store = MetricStore()
    influx = {mode: MetricSchema(with_fields=mode == "withfields", cluster_name="default",
                                 disable_counter_metrics=False, pod_id_index=True)
              for mode in ("default", "withfields")}
    found: dict[str, Any] = {"influxdb": {mode: [] for mode in influx}, "elasticsearch": []}
    for minute, summary in enumerate(_summaries()):
        stamp = STAMP + timedelta(minutes=minute)
        batch = DataBatch(stamp, decode_summary(summary, NodeInfo(NODE, NODE), stamp.timestamp()))
        for processor in chain:
            batch = await processor.process(batch)
        for mode, schema in influx.items():
            found["influxdb"][mode].extend(sorted(schema.lines(batch)))
        docs, _ = metric_documents(batch, "default")
        found["elasticsearch"].extend(sorted(([d.family, d.id, d.source] for d in docs), key=lambda d: d[1]))
        await store.export(batch)
    clock = FakeClock((STAMP + timedelta(minutes=1, seconds=20)).timestamp())
    settings = {"listen_ip": "127.0.0.1", "heapster_port": 0, "metric_resolution": 60.0}
    app = create_api_app(store, cluster, settings, clock=clock)
    async with TestClient(TestServer(app)) as client:
        for route in ROUTES:
            response = await client.get(route)
            body = await response.text()
            found[route] = [response.status, json.loads(body) if response.status == 200 else body]
    return found


def _comparable(route: str, value: Any) -> Any:
    if route == "/api/v1/metric-export":  # a list of sets whose order is the store's
        status, sets = value
        return [status, sorted(sets, key=lambda s: json.dumps(s["labels"], sort_keys=True))]
    return value


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDING.read_text())
    return data


@pytest.fixture(scope="module")
def current() -> dict[str, Any]:
    return asyncio.run(outputs())


@pytest.mark.parametrize("mode", ["default", "withfields"])
def test_influxdb_lines_unchanged(recorded: dict[str, Any], current: dict[str, Any], mode: str) -> None:
    assert current["influxdb"][mode] == recorded["influxdb"][mode]


def test_elasticsearch_documents_unchanged(recorded: dict[str, Any], current: dict[str, Any]) -> None:
    assert current["elasticsearch"] == recorded["elasticsearch"]


@pytest.mark.parametrize("route", ROUTES)
def test_api_answers_unchanged(recorded: dict[str, Any], current: dict[str, Any], route: str) -> None:
    assert _comparable(route, current[route]) == _comparable(route, recorded[route])


if __name__ == "__main__" and sys.argv[1:] == ["record"]:
    RECORDING.parent.mkdir(parents=True, exist_ok=True)
    RECORDING.write_text(json.dumps(asyncio.run(outputs()), indent=1, sort_keys=True) + "\n")
    print(f"recorded {RECORDING}")
