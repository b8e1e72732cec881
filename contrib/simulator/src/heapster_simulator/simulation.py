"""The simulated cluster's state behind both servers: model, API stores, faults, churn, restarts and events."""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from .config import API_FAULTS, NODE_FAULTS, SimulatorConfig
from .events import bump_event, new_event
from .model import ClusterModel, NodeState, PodState
from .objects import render_namespace, render_node, render_pod
from .peers import Peer, parse_peer, render_service, render_slice, slice_name
from .store import ResourceStore, Versions
from .workloads import NAMESPACES


class Simulation:
    """Everything the API server and the kubelets serve, and every change the simulator makes to it."""

    def __init__(self, config: SimulatorConfig, now: float | None = None) -> None:
        config.validate()
        self.config = config
        self.kubelet_port = config.kubelet_port
        started = time.time() if now is None else now
        self.model = ClusterModel(config.nodes, config.pods_per_node, config.containers_per_pod, config.seed, started)
        self.rng = random.Random(config.seed + 1)
        self.versions = Versions()
        history = config.watch_history
        self.nodes = ResourceStore(self.versions, "Node", "v1", False,
                                   lambda node: render_node(node, self.kubelet_port, time.time()), history)
        self.pods = ResourceStore(self.versions, "Pod", "v1", True,
                                  lambda pod: render_pod(pod, self.model.nodes[pod.node]), history)
        self.namespaces = ResourceStore(self.versions, "Namespace", "v1", False, _identity, history)
        self.events = ResourceStore(self.versions, "Event", "v1", True, _identity, history)
        self.configmaps = ResourceStore(self.versions, "ConfigMap", "v1", True, _identity, history)
        self.leases = ResourceStore(self.versions, "Lease", "coordination.k8s.io/v1", True, _identity, history)
        self.services = ResourceStore(self.versions, "Service", "v1", True, _identity, history)
        self.endpointslices = ResourceStore(self.versions, "EndpointSlice", "discovery.k8s.io/v1", True, _identity,
                                            history)
        for name in NAMESPACES:
            uid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            self.namespaces.load(("", name), render_namespace(name, uid, started - 5 * 86_400.0, 0))
        for node in self.model.nodes:
            self.nodes.load(("", node.name), node)
            for pod in node.pods:
                self.pods.load(pod.key, pod)
        for store in self.all_stores():
            store.seal()
        self.on_node_down: Callable[[NodeState, bool], None] | None = None
        self.counts = {"events_added": 0, "events_modified": 0, "pods_replaced": 0, "containers_restarted": 0,
                       "watches_dropped": 0, "expired": 0, "summaries_served": 0,
                       "summaries_prerendered": 0, "summaries_rendered_ahead": 0}
        self._event_order: deque[tuple[str, str]] = deque()
        self._carry = {"events": 0.0, "churn": 0.0, "restarts": 0.0}
        self._node_by_name = {node.name: node for node in self.model.nodes}
        for node_name, kind in config.faults.items():
            self.set_fault(node_name, kind)
        for text in config.peers:
            self.add_peer(parse_peer(text))

    def all_stores(self) -> list[ResourceStore]:
        """Every resource store."""
        return [self.nodes, self.pods, self.namespaces, self.events, self.configmaps, self.leases, self.services,
                self.endpointslices]

    def node(self, name: str) -> NodeState:
        """The node called `name`; KeyError when there is none."""
        try:
            return self._node_by_name[name]
        except KeyError:
            raise KeyError(f"no node {name!r}") from None

    # --- faults ------------------------------------------------------------------------------------------------

    def set_fault(self, node_name: str, kind: str) -> None:
        """Inject fault `kind` into a node's kubelet (or node object for `notready`); `none` clears it."""
        if kind not in NODE_FAULTS:
            raise ValueError(f"unknown fault {kind!r}; valid: {', '.join(NODE_FAULTS)}")
        node = self.node(node_name)
        previous = node.fault
        node.fault = kind
        ready = kind != "notready"
        if ready != node.ready:
            node.ready = ready
            node.ready_since = time.time()
            self.nodes.put(("", node.name), node)
        if self.on_node_down is not None and (previous == "down") != (kind == "down"):
            self.on_node_down(node, kind == "down")

    def api_fault(self, kind: str) -> int:
        """Inject an API fault: `drop-watch` closes every watch, `expire` makes every older RV answer 410."""
        if kind == "drop-watch":
            dropped = sum(store.drop_watches() for store in self.all_stores())
            self.counts["watches_dropped"] += dropped
            return dropped
        if kind == "expire":
            rv = self.versions.next()
            for store in self.all_stores():
                store.expire(rv)
            self.counts["expired"] += 1
            return rv
        raise ValueError(f"unknown API fault {kind!r}; valid: {', '.join(API_FAULTS)}")

    # --- peers: a headless Service and EndpointSlices for processes on loopback ------------------------------

    def add_peer(self, peer: Peer) -> None:
        """Add (or update: address, port, readiness) a peer of the peer Service, creating the Service."""
        peer.validate()
        namespace, service = self.config.peer_namespace, self.config.peer_service
        if self.services.get((namespace, service)) is None:
            self.services.put((namespace, service), render_service(service, namespace, peer.port))
        self.endpointslices.put((namespace, slice_name(service, peer.name)), render_slice(service, namespace, peer))

    def remove_peer(self, name: str) -> bool:
        """Remove a peer's EndpointSlice (as when its pod is deleted); False if there was none."""
        key = (self.config.peer_namespace, slice_name(self.config.peer_service, name))
        return self.endpointslices.delete(key) is not None

    # --- changes over time -------------------------------------------------------------------------------------

    def generate_events(self, count: int, bump_share: float = 0.0) -> int:
        """Create `count` events now; with bump_share > 0 that share re-occurs (count + 1) instead."""
        made = 0
        now = time.time()
        for _ in range(count):
            if self._event_order and bump_share > 0 and self.rng.random() < bump_share:
                key = self._event_order[self.rng.randrange(len(self._event_order))]
                event = self.events.get(key)
                if event is not None:
                    bump_event(event, now)
                    self.events.put(key, event)
                    self.counts["events_modified"] += 1
                    made += 1
                    continue
            event = self._new_event(now)
            key = (event["metadata"]["namespace"], event["metadata"]["name"])
            self.events.put(key, event)
            self._event_order.append(key)
            self.counts["events_added"] += 1
            made += 1
        while len(self._event_order) > self.config.max_events:  # the API server's event TTL
            self.events.delete(self._event_order.popleft())
        return made

    def _new_event(self, now: float) -> dict[str, Any]:
        if not self.model.nodes:
            node = NodeState(0, "", "", "", now)
            return new_event(self.rng, None, node, now)
        node = self.rng.choice(self.model.nodes)
        pod: PodState | None = None
        if node.pods and self.rng.random() < 0.85:
            pod = self.rng.choice(node.pods)
        return new_event(self.rng, pod, node, now)

    def replace_pods(self, count: int) -> int:
        """Pod churn: `count` pods are deleted and replaced by new pods of the same app on the same node."""
        done = 0
        for _ in range(count):
            replaced = self.model.replace_random_pod(time.time())
            if replaced is None:
                break
            old, new = replaced
            self.pods.delete(old.key)
            self.pods.put(new.key, new)
            done += 1
        self.counts["pods_replaced"] += done
        return done

    def restart_containers(self, count: int) -> int:
        """`count` containers restart: startTime moves to now, counters start again, restartCount + 1."""
        done = 0
        for _ in range(count):
            restarted = self.model.restart_random_container(time.time())
            if restarted is None:
                break
            pod, _container = restarted
            self.pods.put(pod.key, pod)
            done += 1
        self.counts["containers_restarted"] += done
        return done

    def tick(self, seconds: float) -> None:
        """Advance the rate-driven changes (events, churn, restarts) by `seconds` of wall time."""
        config = self.config
        self._carry["events"] += config.events_per_second * seconds
        self._carry["churn"] += config.churn_per_minute * seconds / 60.0
        self._carry["restarts"] += config.restarts_per_minute * seconds / 60.0
        due = {name: int(value) for name, value in self._carry.items()}
        for name, whole in due.items():
            self._carry[name] -= whole
        if due["churn"]:
            self.replace_pods(due["churn"])
        if due["restarts"]:
            self.restart_containers(due["restarts"])
        if due["events"]:
            self.generate_events(due["events"], bump_share=0.25)

    def state(self) -> dict[str, Any]:
        """Counts for `GET /simulator/state`."""
        faults = {node.name: node.fault for node in self.model.nodes if node.fault != "none"}
        return {"nodes": len(self.nodes), "pods": len(self.pods), "namespaces": len(self.namespaces),
                "events": len(self.events), "configmaps": len(self.configmaps), "leases": len(self.leases),
                "endpointslices": len(self.endpointslices),
                "resourceVersion": self.versions.current, "faults": faults, **self.counts}


def _identity(obj: dict[str, Any]) -> dict[str, Any]:
    return obj
