"""A simulated Kubernetes cluster (API server + kubelets on loopback) for heapster's tests, demo and benchmarks."""

from __future__ import annotations

from .cluster import SimulatedCluster
from .config import API_FAULTS, NODE_FAULTS, SimulatorConfig

__all__ = ["API_FAULTS", "NODE_FAULTS", "SimulatedCluster", "SimulatorConfig"]
