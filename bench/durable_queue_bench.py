"""The durable sink queue through an InfluxDB outage with a SIGKILL in the middle, with real processes.

    .venv/bin/python bench/durable_queue_bench.py                       # 20 min outage at 10 s resolution
    .venv/bin/python bench/durable_queue_bench.py --outage 120 --resolution 5 --nodes 3

It starts the cluster simulator, a real ``influxd`` and the real ``heapster`` with
``--sink=influxdb:...`` and ``--sink_queue_dir``. Once ``--before`` windows are in InfluxDB it stops
influxd; halfway through ``--outage`` seconds it SIGKILLs heapster and starts it again with the
same command line; at the end of the outage it starts influxd again and waits until every window
heapster queued is in InfluxDB. It prints: the windows queued and found (with their point counts),
points written twice (InfluxDB's ``pointsWrittenOK`` against the points stored), the time to drain
the backlog, and the disk the queue took per batch (SQLite payload and files).

``tests/test_durable_queue_e2e.py`` runs the same :func:`run_outage` with a short outage in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from heapster.testing import net
from heapster.testing.jsonlogs import json_log_records
from heapster.testing.net import free_port
from heapster.testing.processes import stop_process
from heapster.timefmt import parse_rfc3339
from heapster_simulator.testing import simulator_process
from heapster_sink_influxdb.testing import InfluxServer, influxd_server

DB = "k8s_durable"
INFLUX_SINK = "InfluxDB Sink"


def wait_until(condition: Callable[[], Any], within: float, what: str, check: Callable[[], None] | None = None) -> Any:
    """:func:`heapster.testing.net.wait_until` every 0.2 s, calling ``check`` (which raises if heapster died)
    before each poll."""
    def polled() -> Any:
        if check is not None:
            check()
        return condition()

    return net.wait_until(polled, timeout=within, interval=0.2, what=what)


def epoch(stamp: str) -> float:
    """Epoch seconds of an ISO 8601 time as heapster logs it."""
    return parse_rfc3339(stamp).timestamp()


class Heapster:
    """One heapster process writing JSON logs to a file."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Heapster:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([str(Path(sys.executable).with_name("heapster")), *self.args],
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        return json_log_records(self.log_path, event)

    def alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            msg = f"heapster exited with {self.process.returncode}: {self.log_path.read_text()[-3000:]}"
            raise AssertionError(msg)

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, grace: float = 30.0) -> int:
        assert self.process is not None
        return stop_process(self.process, grace)


def influx_json(server: InfluxServer, query: str, db: str | None = None) -> Any:
    params = {"q": query, "epoch": "s", **({"db": db} if db else {})}
    with urllib.request.urlopen(f"{server.url}/query?{urllib.parse.urlencode(params)}", timeout=60) as resp:
        return json.loads(resp.read())


def points_per_window(server: InfluxServer, first: int, last: int) -> Counter[int]:
    """Stored points per timestamp (epoch seconds) from ``first`` to ``last``, over every measurement."""
    body = influx_json(server, f'SELECT COUNT("value") FROM /.*/ WHERE time >= {first - 1}s AND time <= {last + 1}s '
                               'GROUP BY time(1s) fill(none)', DB)
    counts: Counter[int] = Counter()
    for series in body["results"][0].get("series") or []:
        for stamp, count in series["values"]:
            counts[int(stamp)] += int(count)
    return counts


def points_written(server: InfluxServer) -> int:
    """``pointsWrittenOK`` of influxd's HTTP service since it started."""
    body = influx_json(server, "SHOW STATS FOR 'httpd'")
    total = 0
    for series in body["results"][0].get("series") or []:
        column = series["columns"].index("pointsWrittenOK")
        total += sum(int(v[column]) for v in series["values"])
    return total


def queue_on_disk(directory: Path) -> dict[str, int]:
    """Batches, payload bytes and file bytes of the (closed) queue databases in ``directory``."""
    figures = {"batches": 0, "payload": 0, "files": 0}
    for path in directory.glob("metrics-*.sqlite"):
        db = sqlite3.connect(path)
        try:
            count, size = db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM queue").fetchone()
        finally:
            db.close()
        figures["batches"] += int(count)
        figures["payload"] += int(size)
    figures["files"] = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
    return figures


@dataclass
class OutageResult:
    """What one run saw."""

    queued: list[int] = field(default_factory=list)
    """Windows (epoch s) heapster queued, both processes, in order."""
    first_of_run: list[int] = field(default_factory=list)
    """The first window each heapster process queued (it has no rates yet)."""
    exported_before: list[int] = field(default_factory=list)
    """Windows in InfluxDB before the outage began."""
    points: Counter[int] = field(default_factory=Counter)
    written_after: int = 0
    """Points influxd accepted after it came back."""
    stored_after: int = 0
    """Points stored for the windows not yet exported before the outage."""
    replayed: int = 0
    """Batches the second heapster found on disk."""
    disk: dict[str, int] = field(default_factory=dict)
    drain_seconds: float = 0.0
    backlog: int = 0
    """Batches waiting when influxd came back."""
    outage_seconds: float = 0.0


def run_outage(tmp: Path, *, resolution: float, outage: float, before: int = 2, nodes: int = 2,
               pods_per_node: int = 2, containers_per_pod: int = 1, say: Callable[[str], None] = lambda _: None
               ) -> OutageResult:
    """The scenario of the module docstring; returns what was queued, stored and measured."""
    result = OutageResult()
    (tmp / "influxd").mkdir(parents=True, exist_ok=True)
    with simulator_process(tmp, nodes=nodes, pods_per_node=pods_per_node, containers_per_pod=containers_per_pod,
                           api_scheme="https", token="durable-queue", churn_per_minute=0, restarts_per_minute=0,
                           events_per_second=0) as _ready, \
            influxd_server(tmp / "influxd") as influx:
        kubeconfig = tmp / "simulator" / "kubeconfig"
        queue_dir = tmp / "queue"
        args = [f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={kubeconfig}",
                f"--sink=influxdb:{influx.url}?db={DB}", f"--metric_resolution={resolution:g}s",
                f"--heapster-port={free_port()}", "--listen_ip=127.0.0.1", "--log-format=json",
                f"--sink_queue_dir={queue_dir}", "--shutdown_timeout=20s"]
        first = Heapster(args, tmp / "heapster-1.log").start()
        second: Heapster | None = None
        try:
            def exported(h: Heapster) -> list[int]:
                return [int(epoch(r["window"])) for r in h.records("batch.exported") if r.get("sink") == INFLUX_SINK]

            def queued(h: Heapster) -> list[int]:
                return [int(epoch(r["window"])) for r in h.records("batch.queued")]

            startup = resolution * (before + 3) + 2 * net.PATIENCE  # the daemon's start included
            wait_until(lambda: len(exported(first)) >= before, startup, f"{before} windows in InfluxDB", first.alive)
            influx.stop()
            down_at = time.monotonic()
            result.exported_before = exported(first)
            say(f"influxd stopped after {len(result.exported_before)} windows; outage of {outage:.0f}s")
            wait_until(lambda: time.monotonic() - down_at >= outage / 2
                       and set(queued(first)) - set(result.exported_before), outage + resolution * 3 + 30,
                       "half the outage, and a window queued in it", first.alive)
            first.kill()
            result.disk = queue_on_disk(queue_dir)
            say(f"heapster SIGKILLed with {result.disk['batches']} batches on disk")
            second = Heapster(args, tmp / "heapster-2.log").start()
            wait_until(lambda: second.records("sink.queue.replaying"), 2 * net.PATIENCE,
                       "the restarted heapster to replay", second.alive)  # its start included
            result.replayed = int(second.records("sink.queue.replaying")[0]["batches"])
            wait_until(lambda: time.monotonic() - down_at >= outage and queued(second),
                       outage + resolution * 3 + 60, "the end of the outage", second.alive)
            result.backlog = len([w for w in queued(first) + queued(second) if w not in result.exported_before])
            influx.start()
            up_at = time.monotonic()
            result.outage_seconds = up_at - down_at
            say(f"influxd back after {result.outage_seconds:.0f}s with {result.backlog} batches waiting")
            target = queued(second)[-1]
            wait_until(lambda: target in exported(second), max(120.0, outage), "the backlog to drain", second.alive)
            result.drain_seconds = time.monotonic() - up_at
            assert second.stop() == 0, second.log_path.read_text()[-3000:]
            result.queued = queued(first) + queued(second)
            result.first_of_run = [queued(first)[0], queued(second)[0]]
            result.points = points_per_window(influx, min(result.queued), max(result.queued))
            result.written_after = points_written(influx)
            last_before = max(result.exported_before)
            result.stored_after = sum(n for w, n in result.points.items() if w > last_before)
        finally:
            for h in (first, second):
                if h is not None and h.process is not None and h.process.poll() is None:
                    h.stop(5)
    return result


def codec_figures(nodes: int, pods_per_node: int, containers_per_pod: int) -> None:
    """Bytes and CPU of the queue's batch codec on one synthetic batch, against plain JSON."""
    from datetime import UTC

    import orjson

    from heapster.batchcodec import DATA_BATCH_CODEC
    from heapster.testing import synthetic_batch

    batch = synthetic_batch(datetime(2026, 1, 1, tzinfo=UTC), nodes=nodes, pods=pods_per_node,
                            containers=containers_per_pod, seq=3)
    batch.seal()
    _ = batch.columns  # as the scheduler hands it to the sinks: processed, in columns
    DATA_BATCH_CODEC.encode(batch)  # imports and first-call costs out of the figure
    started = time.perf_counter()
    data = DATA_BATCH_CODEC.encode(batch)
    encoded = time.perf_counter() - started
    started = time.perf_counter()
    DATA_BATCH_CODEC.decode(data)
    decoded = time.perf_counter() - started
    plain = len(orjson.dumps([None, [[k, m.labels, {n: [v.value, int(v.metric_type)] for n, v in m.values.items()}]
                                     for k, m in batch.metric_sets.items()]]))
    sets = len(batch.metric_sets)
    print(f"codec ({nodes} nodes, {sets} metric sets): {len(data) / 1024:.1f} KiB zlib'd JSON "
          f"({len(data) / sets:.0f} B per metric set; plain JSON {plain / 1024:.1f} KiB), "
          f"encode {encoded * 1000:.1f} ms, decode {decoded * 1000:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=float, default=10.0, help="heapster's --metric_resolution, s")
    parser.add_argument("--outage", type=float, default=1200.0, help="seconds influxd is down (default 20 min)")
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--pods-per-node", type=int, default=10)
    parser.add_argument("--containers-per-pod", type=int, default=2)
    parser.add_argument("--codec-only", action="store_true", help="print the codec figures only")
    args = parser.parse_args()
    codec_figures(args.nodes, args.pods_per_node, args.containers_per_pod)
    codec_figures(1000, 30, 2)
    if args.codec_only:
        return 0
    with tempfile.TemporaryDirectory(prefix="durable-queue-bench-") as tmp:
        started = time.monotonic()
        r = run_outage(Path(tmp), resolution=args.resolution, outage=args.outage, nodes=args.nodes,
                       pods_per_node=args.pods_per_node, containers_per_pod=args.containers_per_pod,
                       say=lambda text: print(f"[{time.monotonic() - started:7.1f}s] {text}", flush=True))
    outage_windows = [w for w in r.queued if w > max(r.exported_before)]
    missing = [w for w in outage_windows if not r.points.get(w)]
    steady = Counter(r.points[w] for w in outage_windows if w not in r.first_of_run)
    print(f"cluster                : {args.nodes} nodes x {args.pods_per_node} pods x {args.containers_per_pod} "
          f"containers, resolution {args.resolution:g}s")
    print(f"outage                 : {r.outage_seconds:.0f}s, heapster SIGKILLed and restarted halfway")
    print(f"windows queued         : {len(outage_windows)} during the outage, {len(missing)} missing in InfluxDB")
    print(f"points per window      : {dict(steady)} (first window after the restart: "
          f"{r.points.get(r.first_of_run[1])}, no rates yet)")
    print(f"written twice          : {r.written_after - r.stored_after} points "
          f"({r.written_after} written after influxd returned, {r.stored_after} stored)")
    print(f"replayed after restart : {r.replayed} batches")
    print(f"backlog drained in     : {r.drain_seconds:.1f}s ({r.backlog} batches, "
          f"{r.backlog / max(r.drain_seconds, 1e-9):.1f} batches/s)")
    if r.disk.get("batches"):
        print(f"disk per batch         : {r.disk['payload'] / r.disk['batches'] / 1024:.1f} KiB payload, "
              f"{r.disk['files'] / r.disk['batches'] / 1024:.1f} KiB of files "
              f"({r.disk['batches']} batches, {r.disk['files'] / 1024**2:.1f} MiB)")
    return 1 if missing or r.written_after != r.stored_after else 0


if __name__ == "__main__":
    raise SystemExit(main())
