"""Memory under hostile kubelets: an oversized or malformed body is freed when its scrape fails.

Each case runs the real scheduler and source in a fresh interpreter, tuned as the daemon is
(``gc.freeze()``, high collector thresholds), against the simulator's ``huge`` and
``hugemalformed`` faults, and reads the process's resident size after every scrape.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from heapster_simulator.testing import simulator_process

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
CAP = 16 * MIB
SCRAPES = 20

SCRAPER = textwrap.dedent('''
    import asyncio, json, sys, time
    from heapster.interfaces import PluginContext
    from heapster.memory import release_free_memory, tune_gc
    from heapster.plugins import load_plugins
    from heapster.scheduler import Scheduler, SchedulerSettings
    from heapster.selfmetrics import scrape_failures

    def rss_mib():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024

    async def main(spec, scrapes, faulty):
        source = load_plugins().build_metric_source(spec, PluginContext())
        await source.start()
        tune_gc()
        scheduler = Scheduler(source, [], [], SchedulerSettings(resolution=60, scrape_deadline=60,
                                                                node_timeout=60, max_jitter=0))
        sizes, sets = [], []
        now = time.time()
        for _ in range(scrapes):
            batch = await scheduler.scrape(now - 60, now)
            release_free_memory()  # as every housekeep does
            sizes.append(rss_mib())
            sets.append(len(batch.metric_sets))
        reasons = {s.labels["reason"] for s in scrape_failures.collect()[0].samples
                   if s.labels.get("node") == faulty and s.name.endswith("_total")}
        await source.close()
        print(json.dumps({"rss": sizes, "sets": sets, "reasons": sorted(reasons)}))

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
''')


def _scrape_repeatedly(tmp_path: Path, fault: str, huge_bytes: int) -> dict[str, Any]:
    faulty = "sim-node-0001"
    with simulator_process(tmp_path, nodes=2, pods_per_node=2, faults={faulty: fault}, huge_bytes=huge_bytes):
        state = tmp_path / "simulator"
        spec = (f"kubernetes.summary_api:?inClusterConfig=false&auth={state / 'kubeconfig'}"
                f"&kubeletCAFile={state / 'ca.crt'}&kubeletTimeout=30s&kubeletMaxBytes={CAP}")
        done = subprocess.run([sys.executable, "-c", SCRAPER, spec, str(SCRAPES), faulty],
                              capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(("fault", "huge_bytes", "reason"), [
    ("huge", 4 * CAP, "too_large"),  # cut at the cap while streaming
    ("hugemalformed", CAP - MIB, "malformed"),  # read whole (within the cap), then fails to decode
])
def test_rss_stays_flat_over_20_scrapes_of_a_hostile_node(tmp_path: Path, fault: str, huge_bytes: int,
                                                          reason: str) -> None:
    result = _scrape_repeatedly(tmp_path, fault, huge_bytes)
    assert result["reasons"] == [reason]
    assert set(result["sets"]) == {1 + 4 + 2 * 3}  # the healthy node still scraped every time
    rss = result["rss"]
    growth = max(rss[1:]) - rss[0]
    # Before the fix each failed scrape kept its body (about the cap, 16 MiB) alive: +300 MiB here.
    assert growth < 2 * CAP / MIB, f"RSS grew by {growth:.0f} MiB over {SCRAPES} scrapes: {rss}"
