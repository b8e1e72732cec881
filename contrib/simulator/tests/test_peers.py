"""The headless peer Service and its EndpointSlices through the real `kubernetes` client: list, watch, admin API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes
import orjson
import pytest
import urllib3

from heapster_simulator import SimulatorConfig
from heapster_simulator.cli import config_from_args, parser
from heapster_simulator.testing import ThreadedCluster, simulator_thread

client: Any = kubernetes.client
Watch: Any = kubernetes.watch.Watch
NS = "monitoring"


@pytest.fixture(scope="module")
def peered(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = SimulatorConfig(nodes=1, pods_per_node=1, peer_service="heapster", peer_namespace=NS,
                               peers=["heapster-0=127.0.0.1:18082"], state_dir=Path(tmp_path_factory.mktemp("sim")))
    with simulator_thread(settings) as running:
        api = kubernetes.config.new_client_from_config(config_file=str(running.cluster.kubeconfig_path))
        yield running, api
        api.close()


def test_peers_given_at_start_are_a_headless_service_and_endpointslices(peered: tuple[ThreadedCluster, Any]) -> None:
    _, api = peered
    service = client.CoreV1Api(api).read_namespaced_service("heapster", NS)
    assert service.spec.cluster_ip == "None"
    slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
        NS, label_selector="kubernetes.io/service-name=heapster").items
    assert len(slices) == 1
    (endpoint,) = slices[0].endpoints
    assert slices[0].address_type == "IPv4"
    assert (endpoint.addresses, endpoint.hostname, endpoint.conditions.ready) == (["127.0.0.1"], "heapster-0", True)
    assert endpoint.target_ref.name == "heapster-0"
    assert slices[0].ports[0].port == 18082
    other = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
        NS, label_selector="kubernetes.io/service-name=other").items
    assert other == []


def test_registered_peers_reach_a_watch_and_removal_deletes_the_slice(peered: tuple[ThreadedCluster, Any]) -> None:
    threaded, api = peered
    discovery = client.DiscoveryV1Api(api)
    listed = discovery.list_namespaced_endpoint_slice(NS)
    rv = listed.metadata.resource_version
    threaded.call(threaded.cluster.add_peer, "heapster-1", "127.0.0.3", 18083)
    threaded.call(threaded.cluster.add_peer, "heapster-1", "127.0.0.3", 18083, False)  # readiness probe fails
    assert threaded.call(threaded.cluster.remove_peer, "heapster-1")
    events = list(Watch().stream(discovery.list_namespaced_endpoint_slice, NS, resource_version=rv,
                                 timeout_seconds=1))
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[1]["object"].endpoints[0].conditions.ready is False
    assert events[0]["object"].endpoints[0].addresses == ["127.0.0.3"]
    assert not threaded.call(threaded.cluster.remove_peer, "heapster-1")


def test_admin_api_adds_and_removes_peers(peered: tuple[ThreadedCluster, Any]) -> None:
    threaded, api = peered
    http = urllib3.PoolManager()
    base = threaded.cluster.api_url
    added = http.request("POST", f"{base}/simulator/peers",
                         body=orjson.dumps({"name": "heapster-2", "address": "127.0.0.4", "port": 9000}))
    assert added.status == 200 and orjson.loads(added.data)["ok"]
    names = {s.metadata.name for s in client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(NS).items}
    assert "heapster-heapster-2" in names
    bad = http.request("POST", f"{base}/simulator/peers", body=orjson.dumps({"name": "x", "address": "nope",
                                                                             "port": 1}))
    assert bad.status == 400 and "nope" in orjson.loads(bad.data)["error"]
    assert http.request("DELETE", f"{base}/simulator/peers/heapster-2").status == 200
    assert http.request("DELETE", f"{base}/simulator/peers/heapster-2").status == 404


def test_command_line_peers() -> None:
    config = config_from_args(parser().parse_args(["--nodes", "1", "--peer", "heapster-0=127.0.0.1:8082",
                                                   "--peer-service", "hs", "--peer-namespace", "mon"]))
    assert (config.peers, config.peer_service, config.peer_namespace) == (["heapster-0=127.0.0.1:8082"], "hs", "mon")
    config.peers = ["heapster-0=127.0.0.1"]
    with pytest.raises(ValueError, match="NAME=HOST:PORT"):
        config.validate()
