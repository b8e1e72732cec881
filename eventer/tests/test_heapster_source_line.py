"""End to end: the eventer started with a ``--source`` copied from a heapster command line (kubelet options and
all) exports events, and warns once naming the options that do not apply to events, as Go's eventer ignored them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from heapster.testing.net import PATIENCE
from heapster_eventer.testing import EventerProcess
from heapster_simulator.testing import simulator_process

pytestmark = pytest.mark.e2e


def test_the_kubelet_options_of_a_heapster_line_are_ignored_with_one_warning(
        tmp_path: Path, eventers: Callable[[list[str], Path], EventerProcess]) -> None:
    with simulator_process(tmp_path, nodes=1, pods_per_node=2, events_per_second=20, seed=5) as simulator:
        source = (f"--source=kubernetes:{simulator['api']}?inClusterConfig=false&useServiceAccount=false"
                  "&kubeletHttps=false&kubeletPort=10255")
        eventer = eventers([source, "--sink=log", "--frequency=5s"], tmp_path / "eventer.log")
        eventer.wait_for(lambda: any(r["events"] > 0 for r in eventer.logs("eventer.exporting")), PATIENCE,
                         "a first export of events")
        (warning,) = eventer.logs("plugin.options.ignored")
        assert warning["level"] == "warning"
        assert (warning["plugin"], warning["options"]) == ("event source 'kubernetes'", ["kubeletHttps", "kubeletPort"])
        assert "eventer" in warning["reason"]
        assert eventer.stop() == 0
