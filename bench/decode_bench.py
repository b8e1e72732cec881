"""The floor of the scrape path, and what heapster spends turning kubelet summaries into one window's columns.

    .venv/bin/python bench/decode_bench.py [--nodes 1000] [--pods-per-node 30] [--repeat 5] [--baseline REV]

Renders `--nodes` distinct summaries with the cluster simulator (30 pods x 2 containers: about 119 KB each), twice:
at `now` and 10 s later (new values, the same pods). Prints, in CPU time of this process per summary:
- `orjson.loads`: parsing the whole JSON into Python objects (the floor a general-purpose parser sets), and
  msgspec's typed parse of the fields Heapster reads;
- the window (decode + concat): every summary decoded (`decode_summary_columns`, as the source calls it) and the
  parts joined into one batch (`ColumnBatch.concat`, as the scheduler does), for the first cycle (no entity table
  known yet) and a steady cycle (each node's entity table known from the cycle before), and the steady halves;
- with `--baseline REV` (a git revision, e.g. `main`), the same for that revision's decoder (its `summary.py`,
  today's `ColumnBatch.concat` of the built parts it returns), and its steady cycle's decode with entity tables of
  its own, interleaved run by run with today's (A B A B), so load drifts on the shared machine hit both; then
  `--pairs` steady decodes of 20 summaries, today's and the baseline's in turn, and the median of their ratios.
Each figure is the best and the median of `--repeat` runs; the garbage collector is off while timing, as the
source decodes with it paused. Other processes share the machine: compare figures of one run.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from heapster.columns import ColumnBatch
from heapster.testing.batches import column_batch_differences
from heapster.testing.modules import load_module
from heapster_simulator.config import SimulatorConfig
from heapster_simulator.simulation import Simulation
from heapster_simulator.summary import node_summary
from heapster_source_kubernetes import summary as decoding

SUMMARY_PATH = "plugins/sources/kubernetes/src/heapster_source_kubernetes/summary.py"


def cpu_ms(work: Callable[[], object]) -> float:
    """CPU milliseconds of one run of ``work``, the garbage collector off."""
    gc.collect()
    gc.disable()
    try:
        began = time.process_time()
        work()
        return (time.process_time() - began) * 1000
    finally:
        gc.enable()


def baseline_module(rev: str) -> ModuleType:
    """The decoder module of git revision ``rev``, imported under its own name."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "-C", str(root), "show", f"{rev}:{SUMMARY_PATH}"], check=True,
                            capture_output=True).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_summary.py"
    path.write_bytes(source)
    return load_module(path, "baseline_summary")


def window(module: ModuleType, bodies: list[bytes], infos: list[Any], now: float, shapes: Any) -> ColumnBatch:
    """One window: every summary decoded, the parts joined (what the source and the scheduler do)."""
    if shapes is None:
        parts = [module.decode_summary_columns(b, module.NodeInfo(i.nodename, i.hostname, i.host_id), now)
                 for b, i in zip(bodies, infos, strict=True)]
    else:
        parts = [module.decode_summary_columns(b, i, now, shapes) for b, i in zip(bodies, infos, strict=True)]
    return ColumnBatch.concat(parts)


def paired_ratio(old: ModuleType, first: list[bytes], second: list[bytes], infos: list[Any], now: float,
                 pairs: int) -> str:
    """Today's steady decode of 20 summaries against the baseline's, run in turn ``pairs`` times (which one goes
    first alternates): the median and quartiles of the per-pair CPU ratios, which load drifts hardly move."""
    sides = []
    for module in (decoding, old):
        side_infos = [module.NodeInfo(i.nodename, i.hostname, i.host_id) for i in infos[:20]]
        shapes = module.SummaryShapes()
        for body, info in zip(first, side_infos, strict=False):
            module.decode_summary_columns(body, info, now, shapes)
        sides.append((module, side_infos, shapes))
    ratios = []
    for k in range(pairs):
        spent = [0.0, 0.0]
        for side in ((0, 1) if k % 2 == 0 else (1, 0)):
            module, side_infos, shapes = sides[side]
            spent[side] = cpu_ms(lambda module=module, side_infos=side_infos, shapes=shapes: [
                module.decode_summary_columns(b, i, now + 10, shapes)
                for b, i in zip(second, side_infos, strict=False)])
        ratios.append(spent[0] / spent[1])
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    return f"median {median:.3f} (quartiles {q1:.3f}-{q3:.3f}) over {pairs} pairs of 20 summaries"


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", default="", help="a git revision to compare with (e.g. main)")
    parser.add_argument("--pairs", type=int, default=100,
                        help="with --baseline: steady decodes of 20 summaries, today's and the baseline's in turn")
    args = parser.parse_args()
    sim = Simulation(SimulatorConfig(nodes=args.nodes, pods_per_node=args.pods_per_node))
    now = time.time()
    cycles = [[orjson.dumps(node_summary(node, args.pods_per_node, t)) for node in sim.model.nodes]
              for t in (now, now + 10)]
    infos = [decoding.NodeInfo(node.name, node.name, "") for node in sim.model.nodes]
    n, r = len(infos), args.repeat
    size = sum(len(body) for body in cycles[0]) / n / 1000
    print(f"{n} summaries of {size:.0f} KB ({args.pods_per_node} pods x 2 containers); "
          f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    first, second = cycles

    def per_summary(runs: list[float]) -> str:
        return f"best {min(runs) / n:.3f} ms, median {statistics.median(runs) / n:.3f} ms per summary"

    floor = [cpu_ms(lambda: [orjson.loads(b) for b in first]) for _ in range(r)]
    print(f"orjson.loads (the floor)   : {per_summary(floor)}")
    typed = [cpu_ms(lambda: [decoding._parse(b) for b in first]) for _ in range(r)]
    print(f"msgspec typed parse        : {per_summary(typed)}")
    old = baseline_module(args.baseline) if args.baseline else None
    runs: dict[str, list[float]] = {}
    kept = decoding.SummaryShapes()
    for _ in range(r):
        # First cycle: no entity table known. Steady: the table of the cycle before, new values.
        shapes = decoding.SummaryShapes()
        runs.setdefault("new, first cycle", []).append(
            cpu_ms(lambda shapes=shapes: window(decoding, first, infos, now, shapes)))
        runs.setdefault("new, steady cycle", []).append(
            cpu_ms(lambda shapes=shapes: window(decoding, second, infos, now + 10, shapes)))
        kept = shapes
        parts: list[ColumnBatch] = []
        runs.setdefault("new, steady: decode only", []).append(cpu_ms(lambda shapes=shapes, parts=parts: parts.extend(
            decoding.decode_summary_columns(b, i, now + 10, shapes) for b, i in zip(second, infos, strict=True))))
        runs.setdefault("new, steady: concat only", []).append(cpu_ms(lambda parts=parts: ColumnBatch.concat(parts)))
        if old is not None:
            runs.setdefault(f"{args.baseline}, any cycle", []).append(
                cpu_ms(lambda: window(old, second, infos, now + 10, None)))
            if hasattr(old, "SummaryShapes"):  # the baseline's steady cycle, with entity tables of its own
                old_infos = [old.NodeInfo(i.nodename, i.hostname, i.host_id) for i in infos]
                old_shapes = old.SummaryShapes()
                for body, info in zip(first, old_infos, strict=True):
                    old.decode_summary_columns(body, info, now, old_shapes)
                runs.setdefault(f"{args.baseline}, steady: decode only", []).append(cpu_ms(
                    lambda old_infos=old_infos, old_shapes=old_shapes: [
                        old.decode_summary_columns(b, i, now + 10, old_shapes)
                        for b, i in zip(second, old_infos, strict=True)]))
    for label, found in runs.items():
        print(f"{'window, ' + label:35}: {per_summary(found)}")
    if old is not None and args.pairs and hasattr(old, "SummaryShapes"):
        ratio = paired_ratio(old, first, second, infos, now, args.pairs)
        print(f"steady decode, today's / {args.baseline}'s CPU: {ratio}")
    if old is not None:
        want = window(old, second, infos, now + 10, None)
        for label, known in (("first", None), ("steady", kept)):
            differences = column_batch_differences(want, window(decoding, second, infos, now + 10, known))
            print(f"{label} cycle's batch the same as {args.baseline}'s: {differences or 'yes'}")


if __name__ == "__main__":
    main()
