"""Core/v1 Events about the simulated pods and nodes, and their events.k8s.io/v1 view."""

from __future__ import annotations

import random
import uuid
from typing import Any

from .model import NodeState, PodState, rfc3339
from .workloads import container_image

_POD_REASONS = (
    ("Normal", "Scheduled", "default-scheduler", "Successfully assigned {ns}/{name} to {node}", None),
    ("Normal", "Pulling", "kubelet", 'Pulling image "{image}"', "spec.containers{{{container}}}"),
    ("Normal", "Pulled", "kubelet", 'Successfully pulled image "{image}" in 1.2s', "spec.containers{{{container}}}"),
    ("Normal", "Created", "kubelet", "Created container: {container}", "spec.containers{{{container}}}"),
    ("Normal", "Started", "kubelet", "Started container {container}", "spec.containers{{{container}}}"),
    ("Warning", "BackOff", "kubelet", "Back-off restarting failed container {container} in pod {name}",
     "spec.containers{{{container}}}"),
    ("Warning", "Unhealthy", "kubelet", "Readiness probe failed: HTTP probe failed with statuscode: 503",
     "spec.containers{{{container}}}"),
    ("Normal", "Killing", "kubelet", "Stopping container {container}", "spec.containers{{{container}}}"),
)
_NODE_REASONS = (
    ("Normal", "Starting", "kubelet", "Starting kubelet."),
    ("Normal", "NodeHasSufficientMemory", "kubelet", "Node {node} status is now: NodeHasSufficientMemory"),
    ("Normal", "RegisteredNode", "node-controller", "Node {node} event: Registered Node {node} in Controller"),
    ("Warning", "NodeNotReady", "node-controller", "Node {node} status is now: NodeNotReady"),
)


def new_event(rng: random.Random, pod: PodState | None, node: NodeState, now: float) -> dict[str, Any]:
    """A new core/v1 Event about `pod` (or about `node` when pod is None), count 1, without resourceVersion."""
    stamp = rfc3339(now)
    hex_suffix = f"{int(now * 1e9) + rng.getrandbits(20):x}"[-16:]
    if pod is not None:
        kind, reason, component, message, field_path = rng.choice(_POD_REASONS)
        container = rng.choice(pod.containers)
        text = message.format(ns=pod.namespace, name=pod.name, node=node.name, container=container,
                              image=container_image(pod.spec, container))
        involved: dict[str, Any] = {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid,
                                    "apiVersion": "v1", "resourceVersion": str(pod.rv)}
        if field_path is not None:
            involved["fieldPath"] = field_path.format(container=container)
        namespace, subject = pod.namespace, pod.name
    else:
        kind, reason, component, message = rng.choice(_NODE_REASONS)
        text = message.format(node=node.name)
        involved = {"kind": "Node", "name": node.name, "uid": node.name, "apiVersion": "v1"}
        namespace, subject = "default", node.name
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {
            "name": f"{subject}.{hex_suffix}",
            "namespace": namespace,
            "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "resourceVersion": "0",
            "creationTimestamp": stamp,
        },
        "involvedObject": involved,
        "reason": reason,
        "message": text,
        "source": {"component": component, "host": node.name} if component == "kubelet" else {"component": component},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "type": kind,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": node.name if component == "kubelet" else "",
    }


def bump_event(event: dict[str, Any], now: float) -> None:
    """The same thing happened again: count + 1 and lastTimestamp moves to now."""
    event["count"] = int(event.get("count") or 1) + 1
    event["lastTimestamp"] = rfc3339(now)


def _micro_time(stamp: str | None) -> str | None:
    if stamp is None:
        return None
    return stamp[:-1] + ".000000Z" if stamp.endswith("Z") and "." not in stamp else stamp


def to_events_v1(event: dict[str, Any]) -> dict[str, Any]:
    """The events.k8s.io/v1 view of a core/v1 Event (as the API server converts it)."""
    converted: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": event.get("metadata", {}),
        "eventTime": event.get("eventTime") or _micro_time(event.get("firstTimestamp")),
        "reportingController": event.get("reportingComponent", ""),
        "reportingInstance": event.get("reportingInstance", ""),
        "action": event.get("reason", ""),
        "reason": event.get("reason", ""),
        "regarding": event.get("involvedObject", {}),
        "note": event.get("message", ""),
        "type": event.get("type", ""),
        "deprecatedSource": event.get("source", {}),
        "deprecatedFirstTimestamp": event.get("firstTimestamp"),
        "deprecatedLastTimestamp": event.get("lastTimestamp"),
        "deprecatedCount": event.get("count", 0),
    }
    if "involvedObject" not in event and "regarding" not in event:  # bookmark objects
        converted = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": event.get("metadata", {})}
    return converted
