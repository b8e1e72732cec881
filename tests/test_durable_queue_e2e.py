"""End to end, real processes: influxd goes down, heapster (with --sink_queue_dir) is SIGKILLed and
restarted in the middle of the outage; once influxd is back every window queued is in InfluxDB with
its full point count, and no point was written twice. The long version (20 min at 10 s) is
``bench/durable_queue_bench.py``; this runs the same scenario with a short outage.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from heapster.testing.modules import load_module

pytestmark = pytest.mark.e2e

BENCH = Path(__file__).resolve().parent.parent / "bench" / "durable_queue_bench.py"


def _bench() -> ModuleType:
    return load_module(BENCH, "durable_queue_bench")


def test_an_outage_with_a_kill_in_the_middle_loses_no_window_and_repeats_no_point(tmp_path: Path) -> None:
    bench = _bench()
    result = bench.run_outage(tmp_path, resolution=5.0, outage=30.0, before=2)
    run1_first, run2_first = result.first_of_run
    steady = result.points[result.exported_before[1]]  # the second window has rates, the first not
    assert steady > result.points[run1_first] > 0
    outage_windows = [w for w in result.queued if w > max(result.exported_before)]
    assert len(outage_windows) >= 2 and run2_first in outage_windows
    assert result.disk["batches"] >= 1 and result.replayed == result.disk["batches"]
    for window in outage_windows:
        expected = result.points[run1_first] if window == run2_first else steady
        assert result.points.get(window) == expected, f"window {window}: {result.points.get(window)} points"
    assert result.written_after == result.stored_after, "points were written to InfluxDB twice"
