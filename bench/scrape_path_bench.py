"""Heapster's CPU per node on the scrape path: scheduler, kubelet GET over TLS, decode, join (issue 11).

    .venv/bin/python bench/scrape_path_bench.py [--kubelets 300] [--cycles 5] [--rounds 2] [--baseline main]
        [--no-decode] [--profile FILE]

Starts, in another process, `--kubelets` HTTPS kubelets (one port each on 127.0.0.1, a trustme certificate,
keep-alive, a bearer token required), each serving its own node's summary rendered by the cluster simulator
(N nodes x `--pods-per-node` pods x 2 containers, about 119 KB each, `Content-Length` framing as the simulator).
Then, in a fresh process per run, heapster's own scrape path as the daemon runs it: a :class:`Scheduler` scraping
real :class:`KubeletSummaryUnit`\\ s (shared :class:`SummaryShapes`) through a :class:`KubeletClient` on a
:class:`ScrapeLoop` thread, the scheduler's jitter, node timeout and scrape deadline, its self-metrics and the
window's join (``ColumnBatch.concat``); no processors, no store. Prints the CPU time of that process per node per
cycle (time.process_time: every thread; the kubelets' CPU is not counted), the first cycle (connections and TLS
handshakes, full decodes) apart from the mean of the steady ones.

`--no-decode` replaces the summary decode by a cached part per node (the same entity table and values every
cycle, merged by the join as a decoded part is), so what is left is the scheduler, the client and the join.
`--baseline REV` runs that git revision's `core/src` and `plugins/sources/kubernetes/src` (extracted with
`git archive`, put first on `PYTHONPATH`) in turns with the working tree's (copied at the start), A B A B,
`--rounds` times, against the same kubelets. `--profile FILE` writes a cProfile (CPU time of the scrape loop's
thread) of the steady cycles of the working tree's first run; `--spy FILE` py-spy's raw samples of them (every
thread, without cProfile's overhead).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import resource
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from kubelet_client_bench import TOKEN, Kubelet  # the same kubelet double

REPO = Path(__file__).resolve().parent.parent


# --- the kubelets (server process) ------------------------------------------------------------------------------


async def _serve(args: argparse.Namespace) -> None:
    from heapster_simulator.config import SimulatorConfig
    from heapster_simulator.simulation import Simulation
    from heapster_simulator.summary import node_summary

    sim = Simulation(SimulatorConfig(nodes=args.kubelets, pods_per_node=args.pods_per_node))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert)
    loop = asyncio.get_running_loop()
    now = time.time()
    kubelets = []
    for node in sim.model.nodes:
        body = orjson.dumps(node_summary(node, args.pods_per_node, now))
        answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                  + body)
        server = await loop.create_server(functools.partial(Kubelet, answer), "127.0.0.1", 0, ssl=ctx,
                                          backlog=256)
        kubelets.append({"node": node.name, "port": server.sockets[0].getsockname()[1]})
    await loop.run_in_executor(None, Path(args.serve).write_bytes, orjson.dumps(kubelets))
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin


# --- one run (a process of its own: the working tree or the baseline on PYTHONPATH) -----------------------------


def _measure(args: argparse.Namespace) -> None:
    from heapster.columns import ColumnBatch, PendingBatch
    from heapster.interfaces import MetricSource, ScrapeUnit, SystemClock
    from heapster.memory import shrink_tls_read_buffers, tune_gc
    from heapster.scheduler import Scheduler, SchedulerSettings
    from heapster.scrapeloop import ScrapeLoop
    from heapster_source_kubernetes import source as source_module
    from heapster_source_kubernetes.kubelet import KubeletClient, KubeletSettings, KubeletTarget
    from heapster_source_kubernetes.source import KubeletSummaryUnit
    from heapster_source_kubernetes.summary import SummaryShapes

    shrink_tls_read_buffers()
    kubelets = orjson.loads(Path(args.kubelets_file).read_bytes())
    ctx = ssl.create_default_context(cafile=args.ca)
    slow = 600.0 if args.callgrind else None  # valgrind runs Python ~50x slower: the same timers, set far out
    client = KubeletClient(KubeletSettings(timeout=slow or 10.0), ssl_context=ctx, token=lambda: TOKEN)
    shapes = SummaryShapes()
    clock = SystemClock()
    units: list[ScrapeUnit] = [
        KubeletSummaryUnit(KubeletTarget(k["node"], k["node"], "", "127.0.0.1", k["port"], "https"), client, clock,
                           shapes)
        for k in kubelets]
    if args.no_decode:
        decode = getattr(source_module, "decode_summary_columns")  # noqa: B009 (patched below)
        cached: dict[int, Any] = {}

        def cached_decode(body: Any, info: Any, now: float, found: Any = None) -> ColumnBatch:
            builder = cached.get(id(info))
            if builder is None:
                builder = cached[id(info)] = getattr(decode(body, info, now, found), "builder")  # noqa: B009
            return PendingBatch(builder)  # merged by the window's join as a decoded part is, left unchanged

        setattr(source_module, "decode_summary_columns", cached_decode)  # noqa: B010 (what the unit calls)

    class Source(MetricSource):
        name = "bench"

        async def scrape_units(self) -> list[ScrapeUnit]:
            return units

    loop = None if args.callgrind else ScrapeLoop()  # callgrind: one thread, the steady cycles inside starmap
    timing = SchedulerSettings(resolution=10.0, node_timeout=slow or 10.0, scrape_deadline=slow or 20.0)
    sched = Scheduler(Source(), [], [], timing, scrape_loop=loop)
    tune_gc()
    per_cycle: list[float] = []
    kernel: list[float] = []
    minor: list[float] = []
    profiler = None

    async def cycles(first: int, last: int) -> None:
        nonlocal profiler
        spy: subprocess.Popen[bytes] | None = None
        for cycle in range(first, last):
            if cycle == 1 and args.spy:  # py-spy samples this process from here (steady cycles only)
                spy = await asyncio.to_thread(
                    subprocess.Popen, [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(os.getpid()),
                                       "--rate", "250", "--format", "raw", "--output", args.spy,
                                       *(["--native"] if args.spy_native else [])],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await asyncio.sleep(1.0)  # attached
            if cycle == 1 and args.profile:  # the scrape loop's thread (cProfile sees the thread it is enabled in)
                import cProfile

                profiler = cProfile.Profile(time.thread_time)  # CPU time of that thread, not wall
                await loop.run(_call(profiler.enable))
            end = (int(time.time()) // 10 + 1) * 10.0
            began, times, faults = time.process_time(), os.times(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            batch = await sched.scrape(end - 10.0, end)
            per_cycle.append((time.process_time() - began) / len(units) * 1000)
            kernel.append((os.times().system - times.system) / len(units) * 1000)
            minor.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / len(units))
            sets = len(batch)
            assert batch.columns is not None and sets >= len(units) * 90, f"only {sets} metric sets"
            del batch
        if profiler is not None:
            await loop.run(_call(profiler.disable))
            profiler.dump_stats(args.profile)
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
            await asyncio.to_thread(spy.wait, 60)

    if args.callgrind:
        # Instructions are counted only inside itertools.starmap (--toggle-collect=starmap_next): the cycles after
        # the first two (connections, TLS handshakes, full decodes; then one steady cycle to settle), all of them
        # on this thread's loop (no ScrapeLoop thread; fewer than 100 nodes are joined on the loop too).
        runner = asyncio.new_event_loop()
        runner.run_until_complete(cycles(0, 2))
        list(itertools.starmap(runner.run_until_complete, [(cycles(2, args.cycles),)]))
        runner.close()
    else:
        asyncio.run(cycles(0, args.cycles))
        assert loop is not None
        loop.close()
    print(json.dumps({"first": per_cycle[0], "steady": per_cycle[1:], "kernel": kernel[1:], "faults": minor[1:]}))


async def _call(function: Any) -> None:
    function()


def _print_instructions(counts: Path, kubelets: int, cycles: int, name: str, round_: int) -> None:
    total = 0
    for line in counts.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            total = int(line.split()[1])
    print(f"  round {round_ + 1} {name:14s} {total / kubelets / cycles / 1e6:8.4f} M instructions per node per "
          f"cycle ({cycles} cycles counted)", flush=True)


# --- the driver ---------------------------------------------------------------------------------------------------


def _baseline_tree(rev: str, into: Path) -> Path:
    into.mkdir()
    for part in ("core/src", "plugins/sources/kubernetes/src"):
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, part], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main() -> None:
    """Parse the options; serve (the kubelets' process), measure (one run's process) or drive the runs."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubelets", type=int, default=300)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--baseline", default="", help="a git revision to run in turns with the working tree")
    parser.add_argument("--no-decode", action="store_true", help="a cached part per node instead of the decode")
    parser.add_argument("--profile", default="", help="cProfile of the working tree's first run's steady cycles")
    parser.add_argument("--spy", default="", help="py-spy raw samples of the working tree's first run's steady "
                                                  "cycles (pip install py-spy)")
    parser.add_argument("--callgrind", action="store_true",
                        help="count instructions (valgrind's callgrind) of the cycles after the first two, instead of "
                             "CPU time; on the main thread's loop, fewer than 100 kubelets (PYTHONHASHSEED=0)")
    parser.add_argument("--callgrind-dir", default="", help="keep callgrind's output files there")
    parser.add_argument("--spy-native", action="store_true", help="--spy with native (C) frames too")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--cert", help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kubelets-file", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args))
        return
    if args.measure:
        _measure(args)
        return
    import trustme

    with tempfile.TemporaryDirectory() as tmp:
        ca = trustme.CA()
        ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(f"{tmp}/cert.pem")
        ca.cert_pem.write_to_path(f"{tmp}/ca.pem")
        kubelets_file = Path(tmp) / "kubelets.json"
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(kubelets_file), "--cert",
                                   f"{tmp}/cert.pem", "--kubelets", str(args.kubelets), "--pods-per-node",
                                   str(args.pods_per_node)], stdin=subprocess.PIPE)
        # The working tree's sources are copied now, so that editing them while the bench runs changes nothing.
        mine = Path(tmp) / "mine"
        for part in ("core/src", "plugins/sources/kubernetes/src"):
            shutil.copytree(REPO / part, mine / part, ignore=shutil.ignore_patterns("__pycache__"))
        variants = [("working tree", {"PYTHONPATH": f"{mine}/core/src:{mine}/plugins/sources/kubernetes/src"})]
        if args.baseline:
            base = _baseline_tree(args.baseline, Path(tmp) / "base")
            path = f"{base}/core/src:{base}/plugins/sources/kubernetes/src"
            variants.insert(0, (args.baseline, {"PYTHONPATH": path}))
        try:
            deadline = time.monotonic() + 300
            while not kubelets_file.exists() or not kubelets_file.read_bytes():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the kubelets did not start")
                time.sleep(0.1)
            print(f"{args.kubelets} kubelets, {args.cycles} cycles per run, decode "
                  f"{'cached' if args.no_decode else 'real'}, load {os.getloadavg()[0]:.1f}", flush=True)
            results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in variants}
            for round_ in range(args.rounds):
                for name, env in variants:
                    command = [sys.executable, __file__, "--measure", "--kubelets-file", str(kubelets_file),
                               "--ca", f"{tmp}/ca.pem", "--cycles", str(args.cycles)]
                    if args.no_decode:
                        command.append("--no-decode")
                    if round_ == 0 and name == "working tree":
                        command += ["--profile", args.profile, "--spy", args.spy]
                    if args.spy_native:
                        command.append("--spy-native")
                    which = "new" if name == "working tree" else "base"
                    counts = Path(args.callgrind_dir or tmp) / f"callgrind.{which}.{round_ + 1}"
                    run_env = {**os.environ, **env}
                    if args.callgrind:
                        command = ["valgrind", "--tool=callgrind", "--toggle-collect=starmap_next",
                                   f"--callgrind-out-file={counts}", *command, "--callgrind"]
                        run_env["PYTHONHASHSEED"] = "0"
                    out = subprocess.run(command, check=False, env=run_env, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL if args.callgrind else None, text=True)
                    if out.returncode:
                        raise SystemExit(f"the run failed:\n{out.stdout}")
                    run = json.loads(out.stdout.strip().splitlines()[-1])
                    if args.callgrind:
                        _print_instructions(counts, args.kubelets, args.cycles - 2, name, round_)
                        results[name].append(run)
                        continue
                    results[name].append(run)
                    steady = sum(run["steady"]) / len(run["steady"])
                    kernel = sum(run["kernel"]) / len(run["kernel"])
                    faults = sum(run["faults"]) / len(run["faults"])
                    print(f"  round {round_ + 1} {name:14s} first {run['first']:6.3f}  steady {steady:6.3f} ms/node"
                          f"  ({', '.join(f'{s:.3f}' for s in run['steady'])}; kernel {kernel:.3f}, "
                          f"{faults:.1f} minor faults a node)"
                          f"  load {os.getloadavg()[0]:.1f}", flush=True)
            print("mean over rounds, CPU ms per node per cycle:")
            for name, runs in results.items():
                steady = [sum(r["steady"]) / len(r["steady"]) for r in runs]
                print(f"  {name:14s} first {sum(r['first'] for r in runs) / len(runs):6.3f}  "
                      f"steady {sum(steady) / len(steady):6.3f}")
        finally:
            server.stdin.close()  # type: ignore[union-attr]
            server.wait(10)


if __name__ == "__main__":
    main()
