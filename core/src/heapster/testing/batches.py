"""Synthetic batches and events shaped like what the Kubernetes source produces."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from heapster import keys
from heapster.model import DataBatch, LabeledMetric, MetricSet, MetricType, MetricValue
from heapster.timefmt import rfc3339

if TYPE_CHECKING:
    from heapster.columns import ColumnBatch

C, G = MetricType.CUMULATIVE, MetricType.GAUGE


def _container_set(labels: dict[str, str], seq: int, now: datetime, started: datetime) -> MetricSet:
    return MetricSet(
        labels=labels,
        values={
            "uptime": MetricValue(int((now - started).total_seconds() * 1000), C),
            "cpu/usage": MetricValue(1_000_000_000 * (seq + 1) + 7, C),
            "memory/usage": MetricValue(10_000_000 + seq, G),
            "memory/working_set": MetricValue(8_000_000 + seq, G),
            "memory/rss": MetricValue(6_000_000 + seq, G),
            "memory/page_faults": MetricValue(1000 + seq, C),
            "memory/major_page_faults": MetricValue(seq, C),
            "ephemeral_storage/usage": MetricValue(4096 * (seq + 1), G),
        },
        labeled=[
            LabeledMetric("filesystem/usage", {"resource_id": "/"}, 4096 * (seq + 1), G),
            LabeledMetric("filesystem/limit", {"resource_id": "/"}, 10_000_000, G),
        ],
        collection_start=started,
        create_time=started,
        scrape_time=now,
    )


def synthetic_batch(timestamp: datetime, nodes: int = 2, pods: int = 2, containers: int = 2,
                    seq: int = 0, namespaces: Sequence[str] = ("default",)) -> DataBatch:
    """A batch with ``nodes`` nodes, each running ``pods`` pods of ``containers`` containers.

    ``seq`` shifts every counter, so consecutive batches look like consecutive scrapes. Pod ``pod-N-P`` is in
    ``namespaces[P % len(namespaces)]``.
    """
    batch = DataBatch(timestamp=timestamp)
    # Counters start at midnight, the same for every window of a day, so consecutive
    # batches yield rates instead of looking like restarts.
    started = timestamp.replace(hour=0, minute=0, second=0, microsecond=0)
    for n in range(nodes):
        node = f"node-{n}"
        base = {"nodename": node, "hostname": node, "host_id": f"host-{n}"}
        node_set = _container_set({**base, "type": keys.NODE}, seq, timestamp, started)
        node_set.values["network/rx"] = MetricValue(100_000 * (seq + 1), C)
        node_set.values["network/tx"] = MetricValue(50_000 * (seq + 1), C)
        batch.metric_sets[keys.node_key(node)] = node_set
        for p in range(pods):
            ns, pod = namespaces[p % len(namespaces)], f"pod-{n}-{p}"
            pod_labels = {**base, "namespace_name": ns, "pod_name": pod, "pod_id": f"uid-{n}-{p}"}
            pod_set = MetricSet(labels={**pod_labels, "type": keys.POD},
                                values={"network/rx": MetricValue(1000 * (seq + 1), C)},
                                collection_start=started, create_time=started, scrape_time=timestamp)
            batch.metric_sets[keys.pod_key(ns, pod)] = pod_set
            for c in range(containers):
                name = f"c{c}"
                labels = {**pod_labels, "type": keys.POD_CONTAINER, "container_name": name,
                          "container_base_image": f"image-{c}:v1"}
                batch.metric_sets[keys.pod_container_key(ns, pod, name)] = _container_set(
                    labels, seq, timestamp, started)
    return batch


def synthetic_event(timestamp: datetime, n: int = 0, count: int = 1, kind: str = "Pod") -> dict[str, Any]:
    """A core/v1 Event as the API server sends it."""
    name = f"pod-{n}"
    return {
        "metadata": {"name": f"{name}.{n:08x}", "namespace": "default", "uid": str(uuid.UUID(int=n + 1)),
                     "resourceVersion": str(1000 + n * 10 + count), "creationTimestamp": rfc3339(timestamp)},
        "involvedObject": {"kind": kind, "namespace": "default", "name": name, "uid": f"uid-{n}",
                           "apiVersion": "v1", "resourceVersion": "42", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled", "message": f"Container image pulled ({n})",
        "source": {"component": "kubelet", "host": "node-0"},
        "firstTimestamp": rfc3339(timestamp), "lastTimestamp": rfc3339(timestamp),
        "count": count, "type": "Normal", "eventTime": None, "reportingComponent": "", "reportingInstance": "",
    }


def column_batch_differences(a: ColumnBatch, b: ColumnBatch) -> list[str]:
    """Where two batches differ, exactly: entity table, series, column order, metric types, dtypes and every
    cell (int cells among floats included); an empty list when they are the same."""
    import numpy as np  # not at import: plugin entry points import this module and must stay light

    found = []
    for name in ("keys", "labels", "series_labels"):
        if getattr(a, name) != getattr(b, name):
            found.append(name)
    for name in ("types", "collection_start", "create_time", "scrape_time", "series_entity"):
        x, y = getattr(a, name), getattr(b, name)
        if x.dtype != y.dtype or not np.array_equal(x, y):
            found.append(name)
    for table in ("values", "labeled"):
        x, y = getattr(a, table), getattr(b, table)
        if list(x) != list(y):
            found.append(f"{table}: columns {list(x)} != {list(y)}")
            continue
        for name, column in x.items():
            other = y[name]
            same_ints = (column.ints is None) == (other.ints is None) and (
                column.ints is None or np.array_equal(column.ints, other.ints))
            if (column.metric_type != other.metric_type or column.data.dtype != other.data.dtype
                    or not np.array_equal(column.data, other.data, equal_nan=column.is_float) or not same_ints):
                found.append(f"{table}: {name}")
    return found
