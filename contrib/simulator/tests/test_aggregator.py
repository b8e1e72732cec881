"""The aggregation layer's parsing: APIService flags and the Accept header of aggregated discovery."""

from __future__ import annotations

import pytest

from heapster_simulator.aggregator import (
    ApiService,
    accepted_discovery_version,
    discovery_version,
    parse_apiservice,
)
from heapster_simulator.cli import main


def test_apiservice_flag() -> None:
    service = parse_apiservice("metrics.k8s.io/v1beta1=http://127.0.0.1:8082/")
    assert service == ApiService("metrics.k8s.io", "v1beta1", "http://127.0.0.1:8082")
    assert service.name == "v1beta1.metrics.k8s.io" and service.group_version == "metrics.k8s.io/v1beta1"
    for bad in ("metrics.k8s.io=http://x", "metrics.k8s.io/v1beta1", "/v1=http://x", "a/v1=ftp://x"):
        with pytest.raises(ValueError, match=r"metrics\.k8s\.io/v1beta1|URL"):
            parse_apiservice(bad)


def test_a_bad_apiservice_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--nodes", "1", "--apiservice", "metrics.k8s.io=http://x"])
    assert exited.value.code == 2 and "GROUP/VERSION=URL" in capsys.readouterr().err


def test_accept_header_selects_the_discovery_version() -> None:
    kubectl = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
               "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
    assert accepted_discovery_version(kubectl) == "v2"
    assert accepted_discovery_version("application/json; g=apidiscovery.k8s.io; v=v2beta1; "
                                      "as=APIGroupDiscoveryList") == "v2beta1"
    assert accepted_discovery_version("application/json") is None
    assert accepted_discovery_version("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList") is None


def test_resource_list_to_aggregated_version() -> None:
    legacy = [{"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get"]},
              {"name": "pods/log", "namespaced": True, "kind": "Pod", "verbs": ["get"]}]
    assert discovery_version("v1beta1", legacy, "metrics.k8s.io", fresh=False) == {
        "version": "v1beta1", "freshness": "Stale", "resources": [
            {"resource": "pods", "responseKind": {"group": "metrics.k8s.io", "version": "v1beta1",
                                                  "kind": "PodMetrics"},
             "scope": "Namespaced", "singularResource": "pod", "verbs": ["get"]}]}
