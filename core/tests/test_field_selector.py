"""Field selectors: parsing, and ``?fieldSelector=`` on the metrics API's pod lists (kubectl top pod
--field-selector), filtered on metadata.name and metadata.namespace as metrics-server does."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from heapster.selectors import parse_field_selector
from heapster.testing.api import ApiServerThread, populated_store


@pytest.fixture(scope="module")
def api_server() -> Iterator[ApiServerThread]:
    store, cluster = asyncio.run(populated_store(range(3), 10, namespaces=("default", "kube-system")))
    server = ApiServerThread(store, cluster, 10)
    yield server
    server.stop()


def test_parse() -> None:
    selector = parse_field_selector("metadata.name=a, metadata.namespace!=b")
    assert selector.fields == {"metadata.name", "metadata.namespace"}
    assert selector.matches({"metadata.name": "a", "metadata.namespace": "c"})
    assert not selector.matches({"metadata.name": "a", "metadata.namespace": "b"})
    assert parse_field_selector("spec.nodeName==").matches({})  # a missing field reads as ""
    assert parse_field_selector(None).matches({}) and parse_field_selector("").fields == set()
    for bad in ("metadata.name", "=x", "a=b c"):
        with pytest.raises(ValueError, match="invalid field selector term"):
            parse_field_selector(bad)


def pod_names(server: ApiServerThread, path: str, selector: str) -> list[str]:
    query = urllib.parse.urlencode({"fieldSelector": selector})
    with urllib.request.urlopen(f"{server.url}/apis/metrics.k8s.io/v1beta1{path}?{query}", timeout=10) as resp:
        return [f"{i['metadata']['namespace']}/{i['metadata']['name']}" for i in json.load(resp)["items"]]


def test_pod_lists_filter_on_name_and_namespace(api_server: ApiServerThread) -> None:
    assert pod_names(api_server, "/pods", "metadata.namespace=kube-system") == ["kube-system/pod-0-1",
                                                                               "kube-system/pod-1-1"]
    assert pod_names(api_server, "/pods", "metadata.name!=pod-0-0,metadata.namespace==default") == [
        "default/pod-1-0"]
    assert pod_names(api_server, "/namespaces/default/pods", "metadata.name=pod-1-0") == ["default/pod-1-0"]
    assert pod_names(api_server, "/pods", "spec.nodeName=node-0") == []  # as metrics-server: not a field it has
    with pytest.raises(urllib.error.HTTPError) as failed:
        pod_names(api_server, "/pods", "metadata.name")
    assert failed.value.code == 400 and "invalid field selector term" in failed.value.read().decode()
