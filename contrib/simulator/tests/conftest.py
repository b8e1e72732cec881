"""Shared fixtures: one simulated cluster per module, run in a background thread for the synchronous client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from heapster_simulator import SimulatorConfig
from heapster_simulator.testing import ThreadedCluster, simulator_thread

TOKEN = "simulator-test-token"

client: Any = kubernetes.client
config: Any = kubernetes.config


@pytest.fixture(scope="module")
def threaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedCluster]:
    """A 4-node cluster (6 pods × 2 containers each) with HTTPS API, bearer token and fast bookmarks."""
    settings = SimulatorConfig(nodes=4, pods_per_node=6, api_scheme="https", token=TOKEN, bookmark_interval=0.2,
                               state_dir=Path(tmp_path_factory.mktemp("sim")), seed=7)
    with simulator_thread(settings) as running:
        yield running


@pytest.fixture(scope="module")
def api_client(threaded: ThreadedCluster) -> Iterator[Any]:
    """A real kubernetes ApiClient built from the simulator's kubeconfig."""
    api = config.new_client_from_config(config_file=str(threaded.cluster.kubeconfig_path))
    yield api
    api.close()


@pytest.fixture(scope="module")
def core(api_client: Any) -> Any:
    """CoreV1Api on the simulator."""
    return client.CoreV1Api(api_client)
