"""Which address, port and scheme a node is scraped at (HEAPSTER.md §2.2 plus IPv6 and odd nodes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from heapster.testing.fixtures import FIXTURES
from heapster_source_kubernetes.kubelet import KubeletSettings, ScrapeError, node_address, node_target

HTTPS = KubeletSettings()


def test_fixture_node_v135_uses_internal_ip_and_advertised_port() -> None:
    node = yaml.safe_load((FIXTURES / "nodes-v1.35-kubectl-list.yaml").read_text())["items"][0]
    target = node_target(node, HTTPS)
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert target.address == addresses["InternalIP"]
    assert target.hostname == addresses["Hostname"]
    assert target.port == node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    assert target.url == f"https://{addresses['InternalIP']}:{target.port}/stats/summary/"


def test_fixture_node_2019_with_heapster_settings() -> None:
    node = json.loads((FIXTURES / "node-minikube-2019.json").read_text())
    target = node_target(node, KubeletSettings(https=False, port=10255))
    assert target.url.startswith("http://") and target.url.endswith(":10255/stats/summary/")
    assert target.node == "minikube"


def test_hostname_address_overrides_the_node_name(make_node: Any) -> None:
    node = make_node("n1", addresses=[{"type": "Hostname", "address": "n1.example"},
                                      {"type": "InternalIP", "address": "10.0.0.1"}])
    assert node_address(node) == ("n1.example", "10.0.0.1")


def test_internal_ip_beats_external_ip_whatever_the_order(make_node: Any) -> None:
    node = make_node("n1", addresses=[{"type": "ExternalIP", "address": "34.1.2.3"},
                                      {"type": "InternalIP", "address": "10.0.0.1"}])
    assert node_address(node) == ("n1", "10.0.0.1")


def test_first_parseable_internal_ip_wins_and_garbage_is_skipped(make_node: Any) -> None:
    node = make_node("n1", addresses=[{"type": "InternalIP", "address": "not-an-ip"},
                                      {"type": "InternalIP", "address": "10.0.0.1"},
                                      {"type": "InternalIP", "address": "fd00::1"}])
    assert node_address(node)[1] == "10.0.0.1"


def test_ipv6_only_node_is_bracketed_in_the_url(make_node: Any) -> None:
    node = make_node("v6", addresses=[{"type": "InternalIP", "address": "fd00:10::5"}], port=10250)
    target = node_target(node, HTTPS)
    assert target.url == "https://[fd00:10::5]:10250/stats/summary/"
    assert target.host_port == "[fd00:10::5]:10250"


def test_external_ip_only_node(make_node: Any) -> None:
    node = make_node("ext", addresses=[{"type": "ExternalIP", "address": "34.1.2.3"},
                                       {"type": "LegacyHostIP", "address": "10.9.9.9"}])
    assert node_target(node, HTTPS).address == "34.1.2.3"


def test_hostname_only_node_is_scraped_by_name(make_node: Any) -> None:
    node = make_node("h1", addresses=[{"type": "Hostname", "address": "h1.nodes.internal"}])
    target = node_target(node, HTTPS)
    assert (target.address, target.hostname) == ("h1.nodes.internal", "h1.nodes.internal")
    assert target.url == "https://h1.nodes.internal:10250/stats/summary/"


def test_node_without_address_fails_with_no_address(make_node: Any) -> None:
    node = make_node("none", addresses=[{"type": "LegacyHostIP", "address": "10.1.1.1"},
                                        {"type": "InternalIP", "address": ""}])
    with pytest.raises(ScrapeError) as info:
        node_target(node, HTTPS)
    assert info.value.reason == "no_address"
    assert "none" in str(info.value)


@pytest.mark.parametrize("status", ["False", "Unknown"])
def test_not_ready_node_fails_with_not_ready(status: str, make_node: Any) -> None:
    node = make_node("sick", "10.0.0.2")
    node["status"]["conditions"][0]["status"] = status
    with pytest.raises(ScrapeError) as info:
        node_target(node, HTTPS)
    assert info.value.reason == "not_ready"


def test_node_without_ready_condition_is_scraped(make_node: Any) -> None:
    node = make_node("young", "10.0.0.3")
    node["status"]["conditions"] = []
    assert node_target(node, HTTPS).address == "10.0.0.3"


def test_port_fixed_by_option_else_advertised_else_10250(make_node: Any) -> None:
    node = make_node("n", "10.0.0.1", port=12345)
    assert node_target(node, HTTPS).port == 12345
    assert node_target(node, KubeletSettings(port=10255)).port == 10255
    del node["status"]["daemonEndpoints"]
    assert node_target(node, HTTPS).port == 10250


def test_host_id_from_external_id_else_annotation(make_node: Any) -> None:
    node = make_node("n", "10.0.0.1")
    node["metadata"]["annotations"] = {"example.com/instance": "i-123"}
    assert node_target(node, HTTPS, "example.com/instance").host_id == "i-123"
    assert node_target(node, HTTPS).host_id == ""
    node["spec"]["externalID"] = "ext-9"
    assert node_target(node, HTTPS, "example.com/instance").host_id == "ext-9"
