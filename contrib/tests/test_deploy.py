"""The kustomize overlays in contrib/deploy, rendered by ``kubectl kustomize``: valid API objects, consistent
references, flags the CLIs accept."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from heapster.flags import heapster_parser, parse_flags, validate_heapster
from heapster.plugins import EVENT_SINK, EVENT_SOURCE, METRIC_SINK, METRIC_SOURCE, load_plugins
from heapster_eventer.flags import parse_args as parse_eventer_args

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
OVERLAYS = ("single", "ha", "sharded")


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """The objects ``kubectl kustomize contrib/deploy/<overlay>`` renders (kubectl from Debian's kubernetes-client)."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is not on PATH: ./dev setup installs Debian's kubernetes-client"
    out = subprocess.run([kubectl, "kustomize", str(DEPLOY / overlay)], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


DOCS = list(render("single"))
ALL = [(overlay, doc) for overlay in OVERLAYS for doc in render(overlay)]


def find(kind: str, name: str, overlay: str = "single") -> dict[str, Any]:
    matches = [d for d in render(overlay) if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name} in {overlay}, found {len(matches)}"
    return matches[0]


def container(deployment: str, overlay: str = "single", kind: str = "Deployment") -> dict[str, Any]:
    (c,) = find(kind, deployment, overlay)["spec"]["template"]["spec"]["containers"]
    return c


def test_every_expected_object_is_there() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in DOCS}
    assert {("Deployment", "heapster"), ("Service", "heapster"), ("Deployment", "monitoring-influxdb"),
            ("Service", "monitoring-influxdb"), ("Deployment", "eventer"), ("ServiceAccount", "heapster"),
            ("ServiceAccount", "eventer"), ("ClusterRole", "heapster"), ("ClusterRoleBinding", "heapster"),
            ("Role", "heapster-eventer"), ("APIService", "v1beta1.metrics.k8s.io")} <= kinds
    namespaced = [d for d in DOCS if d["kind"] not in ("ClusterRole", "ClusterRoleBinding", "APIService")]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"kube-system"}


@pytest.mark.parametrize(("overlay", "doc"), ALL, ids=[f"{o}:{d['kind']}/{d['metadata']['name']}" for o, d in ALL])
def test_manifest_round_trips_through_the_kubernetes_models(overlay: str, doc: dict[str, Any]) -> None:
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


# --- the ha and sharded overlays ----------------------------------------------------------------------

def heapster_settings(c: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """The container's flags as heapster parses them, ``$(VAR)`` expanded as the kubelet does."""
    args = [re.sub(r"\$\((\w+)\)", lambda m: (env or {})[m.group(1)], a) for a in c["args"]]
    return parse_flags(heapster_parser(), args, validate_heapster)


def pod_labels(kind: str, overlay: str) -> dict[str, str]:
    labels: dict[str, str] = find(kind, "heapster", overlay)["spec"]["template"]["metadata"]["labels"]
    return labels


def lease_rules_match(overlay: str, lease: str) -> None:
    namespace, name = lease.split("/")
    role = find("Role", "heapster", overlay)
    assert role["metadata"]["namespace"] == namespace
    named = {(r["resources"][0], n, v) for r in role["rules"] for n in r.get("resourceNames", []) for v in r["verbs"]}
    assert {("leases", name, "get"), ("leases", name, "update")} <= named
    assert {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
            "verbs": ["get", "list", "watch"]} in role["rules"]
    (subject,) = find("RoleBinding", "heapster", overlay)["subjects"]
    assert subject["name"] == find(*_workload(overlay), overlay)["spec"]["template"]["spec"]["serviceAccountName"]


def _workload(overlay: str) -> tuple[str, str]:
    return ("StatefulSet" if overlay == "sharded" else "Deployment", "heapster")


def test_single_runs_one_replica_without_leader_election() -> None:
    assert find("Deployment", "heapster")["spec"]["replicas"] == 1
    assert not heapster_settings(container("heapster"))["leader_elect"]


def test_ha_runs_two_replicas_on_different_nodes_with_one_leader() -> None:
    spec = find("Deployment", "heapster", "ha")["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    c = container("heapster", "ha")
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
    assert env["POD_NAME"] == "metadata.name"
    settings = heapster_settings(c, {"POD_NAME": "heapster-abc"})
    assert settings["leader_elect"] and settings["leader_elect_identity"] == "heapster-abc"
    assert settings["sink"] == ["influxdb:http://monitoring-influxdb:8086"]
    lease_rules_match("ha", settings["leader_elect_lease"])
    labels = pod_labels("Deployment", "ha")
    (term,) = spec["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= labels.items()
    pdb = find("PodDisruptionBudget", "heapster", "ha")
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # The APIService reaches both replicas through the Service.
    api = find("APIService", "v1beta1.metrics.k8s.io", "ha")["spec"]
    svc = find("Service", api["service"]["name"], "ha")["spec"]
    assert svc["selector"].items() <= labels.items()
    model = ApiClient()._ApiClient__deserialize(find("Deployment", "heapster", "ha"), "V1Deployment")  # type: ignore[attr-defined]
    assert model.spec.replicas == 2
    assert model.spec.template.spec.affinity.pod_anti_affinity is not None


def test_sharded_runs_a_statefulset_whose_pod_index_picks_the_shard() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in render("sharded")}
    assert ("Deployment", "heapster") not in kinds
    sts = find("StatefulSet", "heapster", "sharded")
    model = ApiClient()._ApiClient__deserialize(sts, "V1StatefulSet")  # type: ignore[attr-defined]
    replicas = model.spec.replicas
    assert replicas == 3
    headless = find("Service", model.spec.service_name, "sharded")["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    labels = pod_labels("StatefulSet", "sharded")
    assert headless["selector"].items() <= labels.items()
    c = container("heapster", "sharded", "StatefulSet")
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
    assert env["SHARD_INDEX"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert headless["ports"][0]["targetPort"] in {p["containerPort"] for p in c["ports"]}
    for index in range(replicas):
        settings = heapster_settings(c, {"SHARD_INDEX": str(index), "POD_NAME": f"heapster-{index}"})
        assert settings["shard"] == (index, replicas)
        assert settings["shard_service"] == model.spec.service_name and settings["shard_namespace"] == "kube-system"
        # Peers are checked against a CA from the mounted Secret, not the system's trust store.
        assert Path(settings["shard_peer_ca"]).parent == Path(settings["tls_cert"]).parent
        # With --shard the Lease picks who writes the roll-ups; every shard exports its own nodes.
        assert settings["leader_elect"] and settings["leader_elect_identity"] == f"heapster-{index}"
    lease_rules_match("sharded", settings["leader_elect_lease"])
    api = find("APIService", "v1beta1.metrics.k8s.io", "sharded")["spec"]
    assert find("Service", api["service"]["name"], "sharded")["spec"]["selector"].items() <= labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_has_the_shared_parts(overlay: str) -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in render(overlay)}
    assert {("Service", "heapster"), ("APIService", "v1beta1.metrics.k8s.io"), ("Deployment", "eventer"),
            ("Deployment", "monitoring-influxdb"), ("Role", "heapster"), ("Role", "heapster-eventer")} <= kinds
    assert _workload(overlay) in kinds
