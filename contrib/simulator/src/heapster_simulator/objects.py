"""Kubernetes API objects (Node, Pod, Namespace, Event) rendered from the compact model as wire JSON dicts."""

from __future__ import annotations

import functools
import random
import uuid
from typing import Any

from .model import NodeState, PodState, rfc3339
from .summary import NODE_CPUS, NODE_MEMORY
from .workloads import container_image, template_hash

KUBELET_VERSION = "v1.35.0"
_REQUESTS_CPU = {True: "100m", False: "10m"}
_REQUESTS_MEMORY = {True: "128Mi", False: "32Mi"}


def render_node(node: NodeState, kubelet_port: int, now: float) -> dict[str, Any]:
    """The Node object as `GET /api/v1/nodes/{name}` returns it."""
    created = rfc3339(node.created)
    heartbeat = rfc3339(now - (now % 60))
    ready = node.ready

    def condition(kind: str, status: str, reason: str, message: str, since: float) -> dict[str, Any]:
        return {"type": kind, "status": status, "lastHeartbeatTime": heartbeat,
                "lastTransitionTime": rfc3339(since), "reason": reason, "message": message}

    capacity = {"cpu": str(NODE_CPUS), "ephemeral-storage": "524288000Ki", "hugepages-1Gi": "0",
                "hugepages-2Mi": "0", "memory": f"{NODE_MEMORY // 1024}Ki", "pods": "110"}
    allocatable = dict(capacity, cpu=f"{NODE_CPUS * 1000 - 200}m", memory=f"{NODE_MEMORY // 1024 - 524288}Ki",
                       **{"ephemeral-storage": "483183820800"})
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": node.name,
            "uid": node.uid,
            "resourceVersion": str(node.rv),
            "creationTimestamp": created,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "sim-standard-16",
                "topology.kubernetes.io/region": "sim-region-1",
                "topology.kubernetes.io/zone": f"sim-region-1{'abc'[node.index % 3]}",
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {"podCIDR": node.pod_cidr(), "podCIDRs": [node.pod_cidr()]},
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                          "kubelet has sufficient memory available", node.created),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure",
                          node.created),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available",
                          node.created),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", node.ready_since)
                if ready else
                condition("Ready", "False", "KubeletNotReady", "container runtime is down", node.ready_since),
            ],
            "addresses": [{"type": "InternalIP", "address": node.ip}, {"type": "Hostname", "address": node.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": {
                "machineID": node.machine_id,
                "systemUUID": node.uid,
                "bootID": node.boot_id,
                "kernelVersion": "6.12.10-sim",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://2.2.1",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": [{"names": ["registry.k8s.io/pause:3.10.1"], "sizeBytes": 265_458}],
        },
    }


@functools.lru_cache(maxsize=1024)
def _owner_identity(namespace: str, app: str, kind: str) -> tuple[str, str]:
    name = f"{app}-{template_hash(app)}" if kind == "ReplicaSet" else app
    return name, str(uuid.UUID(int=random.Random(f"{namespace}/{name}").getrandbits(128), version=4))


def _owner(pod: PodState) -> dict[str, Any]:
    spec = pod.spec
    name, owner_uid = _owner_identity(spec.namespace, spec.app, spec.owner_kind)
    return {"apiVersion": "apps/v1", "kind": spec.owner_kind, "name": name, "uid": owner_uid,
            "controller": True, "blockOwnerDeletion": True}


def render_pod(pod: PodState, node: NodeState) -> dict[str, Any]:
    """The Pod object as `GET /api/v1/namespaces/{ns}/pods/{name}` returns it."""
    spec = pod.spec
    created = pod.created_stamp
    labels = {"app": spec.app}
    if spec.owner_kind == "ReplicaSet":
        labels["pod-template-hash"] = template_hash(spec.app)
    api_volume = pod.api_volume
    containers = []
    statuses = []
    for j, name in enumerate(pod.containers):
        main = j == 0
        image = container_image(spec, name)
        mounts = [{"name": api_volume, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                   "readOnly": True}]
        if main and spec.data_volume is not None:
            mounts.insert(0, {"name": spec.data_volume, "mountPath": f"/{spec.data_volume}"})
        resources = {"requests": {"cpu": _REQUESTS_CPU[main], "memory": _REQUESTS_MEMORY[main]},
                     "limits": {"memory": "512Mi" if main else "64Mi"}}
        containers.append({"name": name, "image": image, "resources": resources, "volumeMounts": mounts,
                           "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                           "terminationMessagePolicy": "File"})
        status: dict[str, Any] = {
            "name": name, "image": image, "imageID": f"{image.split(':')[0]}@sha256:{pod.uid.replace('-', '')}",
            "containerID": f"containerd://{pod.uid.replace('-', '')}{j:02d}{pod.restarts[j]:06d}",
            "ready": True, "started": True, "restartCount": pod.restarts[j],
            "state": {"running": {"startedAt": pod.start_stamps[j]}}, "lastState": {},
        }
        if pod.restarts[j]:
            status["lastState"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                                  "startedAt": created, "finishedAt": pod.start_stamps[j]}}
        statuses.append(status)
    volumes: list[dict[str, Any]] = [{"name": api_volume, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    ]}}]
    if spec.data_volume is not None:
        if spec.owner_kind == "StatefulSet":
            volumes.insert(0, {"name": spec.data_volume,
                               "persistentVolumeClaim": {"claimName": f"{spec.data_volume}-{pod.name}"}})
        else:
            volumes.insert(0, {"name": spec.data_volume, "emptyDir": {}})
    ready_at = rfc3339(max(pod.starts))
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": pod.name,
            "namespace": pod.namespace,
            "uid": pod.uid,
            "resourceVersion": str(pod.rv),
            "creationTimestamp": created,
            "labels": labels,
            "ownerReferences": [_owner(pod)],
        },
        "spec": {
            "nodeName": node.name,
            "containers": containers,
            "volumes": volumes,
            "restartPolicy": "Always",
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": created},
                {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": created},
                {"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": ready_at},
                {"type": "ContainersReady", "status": "True", "lastProbeTime": None, "lastTransitionTime": ready_at},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": created},
            ],
            "hostIP": node.ip,
            "hostIPs": [{"ip": node.ip}],
            "podIP": pod.ip,
            "podIPs": [{"ip": pod.ip}],
            "startTime": created,
            "containerStatuses": statuses,
            "qosClass": "Burstable",
        },
    }


def render_namespace(name: str, uid: str, created: float, rv: int) -> dict[str, Any]:
    """A Namespace object."""
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": name, "uid": uid, "resourceVersion": str(rv), "creationTimestamp": rfc3339(created),
                     "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def empty_object(kind: str, api_version: str) -> dict[str, Any]:
    """The object of a BOOKMARK event, as the Go API server serialises an empty object of `kind`."""
    if kind == "Event" and api_version == "v1":
        return {"kind": kind, "apiVersion": api_version, "metadata": {}, "involvedObject": {},
                "reportingComponent": "", "reportingInstance": "", "eventTime": None, "firstTimestamp": None,
                "lastTimestamp": None, "source": {}}
    if kind == "Pod":
        return {"kind": kind, "apiVersion": api_version, "metadata": {}, "spec": {"containers": []}, "status": {}}
    return {"kind": kind, "apiVersion": api_version, "metadata": {}}
