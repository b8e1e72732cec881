"""The Kubernetes manifests in contrib/deploy: valid API objects, consistent references, flags the CLIs accept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from heapster.flags import heapster_parser, parse_flags, validate_heapster
from heapster.plugins import EVENT_SINK, EVENT_SOURCE, METRIC_SINK, METRIC_SOURCE, load_plugins
from heapster_eventer.flags import parse_args as parse_eventer_args

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
MANIFESTS = sorted(DEPLOY.glob("*.yaml"))


def load_all() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in MANIFESTS:
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


DOCS = load_all()


def find(kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in DOCS if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def container(deployment: str) -> dict[str, Any]:
    (c,) = find("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return c


def test_every_expected_object_is_there() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in DOCS}
    assert {("Deployment", "heapster"), ("Service", "heapster"), ("Deployment", "monitoring-influxdb"),
            ("Service", "monitoring-influxdb"), ("Deployment", "eventer"), ("ServiceAccount", "heapster"),
            ("ServiceAccount", "eventer"), ("ClusterRole", "heapster"), ("ClusterRoleBinding", "heapster"),
            ("Role", "heapster-eventer"), ("APIService", "v1beta1.metrics.k8s.io")} <= kinds
    namespaced = [d for d in DOCS if d["kind"] not in ("ClusterRole", "ClusterRoleBinding", "APIService")]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"kube-system"}


@pytest.mark.parametrize("doc", DOCS, ids=[f"{d['kind']}/{d['metadata']['name']}" for d in DOCS])
def test_manifest_round_trips_through_the_kubernetes_models(doc: dict[str, Any]) -> None:
    """Deserialised into the client's V1 model and serialised back, nothing is lost: no misspelled field."""
    assert doc["apiVersion"].endswith("/v1") or doc["apiVersion"] == "v1"
    client = ApiClient()
    model = client._ApiClient__deserialize(doc, f"V1{doc['kind']}")  # type: ignore[attr-defined]
    assert type(model).__name__ == f"V1{doc['kind']}"
    assert client.sanitize_for_serialization(model) == doc


def test_a_misspelled_field_would_be_caught() -> None:
    client = ApiClient()
    broken = yaml.safe_load("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selectr: {a: b}}\n")
    model = client._ApiClient__deserialize(broken, "V1Service")  # type: ignore[attr-defined]
    assert client.sanitize_for_serialization(model) != broken


def test_heapster_flags_are_accepted_by_the_cli_and_its_plugins() -> None:
    c = container("heapster")
    assert c["command"] == ["heapster"]
    settings = parse_flags(heapster_parser(), c["args"], validate_heapster)
    assert settings["source"] == ["kubernetes:https://kubernetes.default"]
    assert settings["sink"] == ["influxdb:http://monitoring-influxdb:8086"]
    plugins = load_plugins(strict=True)
    plugins.configure(METRIC_SOURCE, settings["source"][0])
    for sink in settings["sink"]:
        plugins.configure(METRIC_SINK, sink)
    ports = {p["containerPort"] for p in c["ports"]}
    assert settings["heapster_port"] in ports
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert str(Path(settings["tls_cert"]).parent) in mounts and str(Path(settings["tls_key"]).parent) in mounts


def test_eventer_flags_are_accepted_by_the_eventer_and_its_plugins() -> None:
    c = container("eventer")
    assert c["command"] == ["eventer"]
    options = parse_eventer_args(c["args"])
    assert options.source == "kubernetes:https://kubernetes.default"
    assert options.leader_elect and options.checkpoint_configmap is not None
    plugins = load_plugins(strict=True)
    plugins.configure(EVENT_SOURCE, options.source)
    for sink in options.sinks:
        plugins.configure(EVENT_SINK, sink)
    assert options.healthz_port in {p["containerPort"] for p in c["ports"]}
    # The eventer's Role grants exactly its own Lease and checkpoint ConfigMap.
    rules = find("Role", "heapster-eventer")["rules"]
    named = {(r["resources"][0], n) for r in rules for n in r.get("resourceNames", [])}
    lease_ns, lease_name = options.leader_elect_lease
    cm_ns, cm_name = options.checkpoint_configmap
    assert {("leases", lease_name), ("configmaps", cm_name)} == named
    assert lease_ns == cm_ns == "kube-system"


def test_services_select_their_deployments_and_ports_match() -> None:
    for service, deployment, port, target in (("heapster", "heapster", 80, 8082),
                                              ("monitoring-influxdb", "monitoring-influxdb", 8086, 8086)):
        svc = find("Service", service)["spec"]
        labels = find("Deployment", deployment)["spec"]["template"]["metadata"]["labels"]
        assert svc["selector"].items() <= labels.items()
        assert [(p["port"], p["targetPort"]) for p in svc["ports"]] == [(port, target)]
        assert target in {p["containerPort"] for p in container(deployment)["ports"]}
    for name in ("heapster", "eventer", "monitoring-influxdb"):
        spec = find("Deployment", name)["spec"]
        assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    # The heapster sink URL names the InfluxDB Service.
    assert "http://monitoring-influxdb:8086" in " ".join(container("heapster")["args"])


def test_apiservice_points_at_the_heapster_service() -> None:
    api = find("APIService", "v1beta1.metrics.k8s.io")["spec"]
    assert (api["group"], api["version"]) == ("metrics.k8s.io", "v1beta1")
    svc = find("Service", api["service"]["name"])
    assert svc["metadata"]["namespace"] == api["service"]["namespace"]
    assert api["service"]["port"] in {p["port"] for p in svc["spec"]["ports"]}


def test_rbac_is_least_privilege() -> None:
    heapster_rules = find("ClusterRole", "heapster")["rules"]
    granted = {(r["apiGroups"][0], res, verb) for r in heapster_rules for res in r["resources"] for verb in r["verbs"]}
    reads = {("", res, v) for res in ("nodes", "pods", "namespaces", "events") for v in ("get", "list", "watch")}
    assert granted == reads | {("", "nodes/stats", "get")}
    eventer_rules = find("ClusterRole", "heapster-eventer")["rules"]
    assert eventer_rules == [{"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]}]
    for doc in DOCS:
        for rule in doc.get("rules", []):
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
            assert not {"delete", "deletecollection", "patch", "escalate", "bind"} & set(rule["verbs"])
    for name, account in (("heapster", "heapster"), ("heapster-eventer", "eventer")):
        (subject,) = find("ClusterRoleBinding", name)["subjects"]
        assert (subject["kind"], subject["name"], subject["namespace"]) == ("ServiceAccount", account, "kube-system")
    for deployment, account in (("heapster", "heapster"), ("eventer", "eventer")):
        assert find("Deployment", deployment)["spec"]["template"]["spec"]["serviceAccountName"] == account


def test_pods_run_as_non_root_and_the_image_user_is_not_root() -> None:
    for name in ("heapster", "eventer", "monitoring-influxdb"):
        pod = find("Deployment", name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    dockerfile = (DEPLOY / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    stages = [line for line in dockerfile if line.startswith("FROM ")]
    assert len(stages) == 2, "a multi-stage build keeps compilers and wheels out of the image"
    repo = DEPLOY.parent.parent
    for line in dockerfile:
        if line.startswith("COPY ") and "--from" not in line:
            assert (repo / line.split()[1]).exists(), line
