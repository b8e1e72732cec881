"""Encoding cost of the prometheus, prometheusremotewrite and otlp sinks, from one process.

Builds batches shaped like a cluster of N nodes x 30 pods x 2 containers
(``heapster.testing.synthetic_batch``) and prints:

* the ``prometheus`` sink's render time (both formats, once per batch) and scrape body sizes, next
  to the same exposition made with ``prometheus_client``'s collector API (why it is hand-written);
* remote-write encoding (protobuf + snappy) in series per second;
* OTLP/HTTP encoding (protobuf + gzip) in series per second.

Times are CPU seconds of this process (``time.process_time``), so other load on the machine does not
inflate them; the encoders are single-threaded.

With ``--send``, end to end from this one process (wall and CPU time of the sink's ``export``):

* remote write into a real Prometheus (Debian's, ``--web.enable-remote-write-receiver``), series/s;
* OTLP/HTTP into the strict receiver double (``heapster_sink_otlp.testing.OtlpReceiver``, run in a
  separate process so its decoding does not share this process's CPU), series/s;
* the ``prometheus`` sink's ``/metrics``: export (render) time, then the wall time of a scrape with
  gzip (what Prometheus sends) and without, OpenMetrics and text.

The sinks get a sealed batch holding only columns, as the pipeline hands it when no other sink asked
for ``metric_sets``.

    .venv/bin/python bench/modern_sinks_bench.py [--nodes 1000 --nodes 5000] [--skip-client]
    .venv/bin/python bench/modern_sinks_bench.py --send [--send-nodes 1000] --nodes 1000 --nodes 5000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from heapster.model import DataBatch, MetricType
from heapster.testing import synthetic_batch


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """CPU seconds of this process spent in ``call`` (steadier than wall time on a shared machine)."""
    gc.collect()
    started = time.process_time()
    result = call()
    return time.process_time() - started, result


def client_exposition(batch: DataBatch) -> bytes:
    """The same families through prometheus_client's collector API (for comparison only)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.exposition import generate_latest

    from heapster_sink_prometheus.names import family

    stamp = batch.timestamp.timestamp()

    class BatchCollector:
        def collect(self) -> Iterable[Any]:
            families: dict[Any, Any] = {}
            for metric_set in batch.metric_sets.values():
                keys = [k for k, v in metric_set.labels.items() if v]
                values = [metric_set.labels[k] for k in keys]
                items = [(n, v.metric_type, v.value, keys, values) for n, v in metric_set.values.items()]
                for m in metric_set.labeled:
                    merged = {**metric_set.labels, **m.labels}
                    mk = [k for k, v in merged.items() if v]
                    items.append((m.name, m.metric_type, m.value, mk, [merged[k] for k in mk]))
                for name, mtype, value, k, v in items:
                    fam = family(name, mtype)
                    key = (fam, tuple(k))
                    metric = families.get(key)
                    if metric is None:
                        cls = CounterMetricFamily if mtype is MetricType.CUMULATIVE else GaugeMetricFamily
                        metric = families[key] = cls(fam.name, fam.help, labels=k)
                    metric.add_metric(v, value, timestamp=stamp)
            return families.values()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(BatchCollector())  # type: ignore[arg-type]
    return generate_latest(registry)


def bench_prometheus(batch: DataBatch, series: int, skip_client: bool) -> None:
    from heapster_sink_prometheus.exposition import encode_batch, render, render_gzip

    seconds, samples = timed(lambda: encode_batch(batch))
    text_s, text = timed(lambda: render_gzip(samples, openmetrics=False))
    om_s, om = timed(lambda: render_gzip(samples, openmetrics=True))
    plain = len(render(samples, openmetrics=False))
    print(f"  prometheus: encode {seconds:.2f} s + text {text_s:.2f} s + OpenMetrics {om_s:.2f} s (each rendered "
          f"straight into gzip) = {seconds + text_s + om_s:.2f} s per batch; "
          f"{series / (seconds + text_s):,.0f} series/s for one format")
    print(f"    kept per batch: {len(text) / 2**20:.1f} MiB text + {len(om) / 2**20:.1f} MiB OpenMetrics gzipped "
          f"(text uncompressed: {plain / 2**20:.0f} MiB)")
    if not skip_client:
        client_s, body = timed(lambda: client_exposition(batch))
        print(f"    prometheus_client collector + generate_latest: {client_s:.2f} s "
              f"({series / client_s:,.0f} series/s, {len(body) / 2**20:.0f} MiB, not compressed)")


def bench_remote_write(batch: DataBatch, series: int) -> None:
    try:
        from heapster_sink_prometheusremotewrite.encoding import encode_requests
    except ImportError:
        return
    seconds, requests = timed(lambda: list(encode_requests(batch, max_series=2000)))
    size = sum(len(r.body) for r in requests)
    print(f"  remote write: {seconds:.2f} s, {series / seconds:,.0f} series/s, {len(requests)} requests, "
          f"{size / 2**20:.1f} MiB snappy")


def bench_otlp(batch: DataBatch, series: int) -> None:
    try:
        from heapster_sink_otlp.metrics import encode_metrics
    except ImportError:
        return
    seconds, bodies = timed(lambda: list(encode_metrics(batch, max_resources=1000)))
    gz_s, compressed = timed(lambda: [gzip.compress(b, 1) for b in bodies])
    print(f"  otlp: encode {seconds:.2f} s ({series / seconds:,.0f} series/s), gzip {gz_s:.2f} s; "
          f"{series / (seconds + gz_s):,.0f} series/s with gzip; {len(bodies)} requests, "
          f"{sum(map(len, compressed)) / 2**20:.1f} MiB gzipped")


def columns_only(batch: DataBatch) -> DataBatch:
    """A sealed batch holding only the columns of ``batch`` (what a sink gets from the pipeline)."""
    fresh = DataBatch(batch.timestamp, columns=batch.columns)
    fresh.seal()
    return fresh


async def _export_timed(sink: Any, batch: DataBatch) -> tuple[float, float]:
    """(wall s, CPU s of this process) of one ``sink.export``."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    await sink.export(batch)
    return time.perf_counter() - wall, time.process_time() - cpu


def send_remote_write(batch: DataBatch, series: int) -> None:
    from heapster.interfaces import PluginContext
    from heapster.plugins import load_plugins
    from heapster_sink_prometheus.testing import prometheus_server

    async def run(url: str) -> tuple[float, float]:
        sink = load_plugins().build_metric_sink(f"prometheusremotewrite:{url}", PluginContext())
        try:
            return await _export_timed(sink, columns_only(batch))
        finally:
            await sink.close()

    with prometheus_server() as server:
        wall, cpu = asyncio.run(run(server.remote_write_url))
    print(f"  remote write -> real Prometheus: {wall:.2f} s wall, {series / wall:,.0f} series/s end to end; "
          f"{cpu:.2f} s CPU in this process = {series / cpu:,.0f} series per CPU second")


_RECEIVER = """
import sys
from heapster_sink_otlp.testing import OtlpReceiver
with OtlpReceiver() as receiver:
    print(receiver.url, flush=True)
    sys.stdin.read()
    print(len(receiver.metric_points), len(receiver.rejected), flush=True)
"""


def send_otlp(batch: DataBatch, series: int) -> None:
    from heapster.interfaces import PluginContext
    from heapster.plugins import load_plugins

    async def run(url: str) -> tuple[float, float]:
        sink = load_plugins().build_metric_sink(f"otlp:{url}", PluginContext())
        try:
            return await _export_timed(sink, columns_only(batch))
        finally:
            await sink.close()

    receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
    assert receiver.stdout is not None and receiver.stdin is not None
    try:
        url = receiver.stdout.readline().strip()
        wall, cpu = asyncio.run(run(url))
    finally:
        answer, _ = receiver.communicate("", timeout=600)
    points, rejected = answer.split()
    print(f"  otlp -> strict receiver double (own process): {wall:.2f} s wall, {series / wall:,.0f} series/s end "
          f"to end; {cpu:.2f} s CPU in this process = {series / cpu:,.0f} series per CPU second; "
          f"received {int(points):,} points, {rejected} rejected")


def scrape(batch: DataBatch, series: int) -> None:
    import aiohttp

    from heapster.interfaces import PluginContext
    from heapster.plugins import load_plugins

    async def run() -> None:
        sink: Any = load_plugins().build_metric_sink("prometheus:?port=0&listen_ip=127.0.0.1", PluginContext())
        await sink.start()
        try:
            wall, cpu = await _export_timed(sink, columns_only(batch))
            print(f"  prometheus /metrics: export (encode + both formats into gzip) {wall:.2f} s wall "
                  f"({cpu:.2f} s CPU)")
            url = f"http://127.0.0.1:{sink.port}/metrics"
            async with aiohttp.ClientSession(auto_decompress=False) as session:
                for label, headers in (
                        ("OpenMetrics, gzip (Prometheus' request)",
                         {"Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
                          "Accept-Encoding": "gzip"}),
                        ("text, gzip", {"Accept": "text/plain", "Accept-Encoding": "gzip"}),
                        ("text, no gzip", {"Accept": "text/plain", "Accept-Encoding": "identity"})):
                    best, size = float("inf"), 0
                    for _ in range(3):
                        started = time.perf_counter()
                        async with session.get(url, headers=headers) as resp:
                            size = len(await resp.read())
                        best = min(best, time.perf_counter() - started)
                    print(f"    scrape {label}: {best * 1000:,.0f} ms (best of 3), {size / 2**20:.1f} MiB sent")
        finally:
            await sink.close()

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, action="append", help="cluster sizes (default 1000 and 5000)")
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--containers", type=int, default=2)
    parser.add_argument("--skip-client", action="store_true", help="skip the prometheus_client comparison")
    parser.add_argument("--send", action="store_true",
                        help="end to end: remote write to a real Prometheus, OTLP to the double, /metrics scrapes")
    parser.add_argument("--send-nodes", type=int, action="append",
                        help="sizes for remote write and OTLP end to end with --send (default 1000)")
    args = parser.parse_args()
    if args.send:
        main_send(args)
        return
    now = datetime.now(UTC).replace(microsecond=0)
    for nodes in args.nodes or [1000, 5000]:
        batch = synthetic_batch(now, nodes=nodes, pods=args.pods, containers=args.containers, seq=1)
        series = sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())
        print(f"{nodes} nodes: {len(batch.metric_sets):,} metric sets, {series:,} series")
        batch.columns  # noqa: B018 - the pipeline hands sinks a sealed batch: both views already made
        batch.seal()
        bench_prometheus(batch, series, args.skip_client)
        bench_remote_write(batch, series)
        bench_otlp(batch, series)
        del batch


def main_send(args: argparse.Namespace) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    send_sizes = set(args.send_nodes or [1000])
    for nodes in sorted(set(args.nodes or [1000, 5000]) | send_sizes):
        batch = columns_only(synthetic_batch(now, nodes=nodes, pods=args.pods, containers=args.containers, seq=1))
        cols = batch.columns
        series = sum(len(rows) for _, _, rows, _ in cols.metrics()) + \
            sum(len(rows) for _, _, rows, _ in cols.labeled_metrics())
        print(f"{nodes} nodes: {len(cols):,} metric sets, {series:,} series")
        if nodes in send_sizes:
            send_remote_write(batch, series)
            send_otlp(batch, series)
        if nodes in set(args.nodes or [1000, 5000]):
            scrape(batch, series)
        del batch, cols


if __name__ == "__main__":
    main()
