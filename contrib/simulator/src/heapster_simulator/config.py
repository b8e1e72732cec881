"""Settings of a simulated cluster and the fault kinds it can inject."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

NODE_FAULTS = ("slow", "error500", "unauthorized", "malformed", "huge", "hugemalformed", "notready", "down", "none")
API_FAULTS = ("drop-watch", "expire")


@dataclass
class SimulatorConfig:
    """Everything that shapes a simulated cluster; the command line maps onto these fields one to one."""

    nodes: int = 3
    pods_per_node: int = 30
    containers_per_pod: int = 2
    api_host: str = "127.0.0.1"
    api_port: int = 0
    kubelet_port: int = 0
    kubelet_scheme: str = "https"
    api_scheme: str = "http"
    token: str | None = None
    state_dir: Path | None = None
    events_per_second: float = 0.0
    churn_per_minute: float = 0.0
    restarts_per_minute: float = 0.0
    seed: int = 0
    faults: dict[str, str] = field(default_factory=dict)
    slow_seconds: float = 60.0
    huge_bytes: int = 200 * 1024 * 1024
    bookmark_interval: float = 30.0
    watch_history: int = 20_000
    max_events: int = 20_000
    prerender_summaries: bool = False
    """Render each kubelet's next summary in the background after serving one, so a request is a memcpy."""
    apiservices: dict[str, str] = field(default_factory=dict)
    """Aggregated APIs: ``{"metrics.k8s.io/v1beta1": "http://127.0.0.1:8082"}`` (group/version -> backend)."""
    peers: list[str] = field(default_factory=list)
    """Processes behind the headless peer Service: ``NAME=HOST:PORT`` (``heapster-0=127.0.0.1:8082``)."""
    peer_service: str = "heapster"
    peer_namespace: str = "kube-system"

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting."""
        if self.nodes < 0:
            raise ValueError(f"nodes must be >= 0, got {self.nodes}")
        if self.pods_per_node < 0 or self.containers_per_pod < 1:
            raise ValueError("pods-per-node must be >= 0 and containers-per-pod >= 1")
        if self.kubelet_scheme not in ("http", "https"):
            raise ValueError(f"kubelet-scheme must be http or https, got {self.kubelet_scheme!r}")
        if self.api_scheme not in ("http", "https"):
            raise ValueError(f"api-scheme must be http or https, got {self.api_scheme!r}")
        for rate_name in ("events_per_second", "churn_per_minute", "restarts_per_minute"):
            if getattr(self, rate_name) < 0:
                raise ValueError(f"{rate_name.replace('_', '-')} must be >= 0")
        if self.watch_history < 1 or self.max_events < 1:
            raise ValueError("watch-history and max-events must be >= 1")
        from .aggregator import parse_apiservice

        for group_version, url in self.apiservices.items():
            parse_apiservice(f"{group_version}={url}")
        from .peers import parse_peer

        for text in self.peers:
            parse_peer(text)
        if not self.peer_service or not self.peer_namespace:
            raise ValueError("peer-service and peer-namespace must not be empty")
        for node, kind in self.faults.items():
            if kind not in NODE_FAULTS:
                raise ValueError(f"unknown fault {kind!r} for {node}; valid: {', '.join(NODE_FAULTS)}")
