"""InfluxQL for the historical API: object selectors, raw and aggregated metric queries.

Names are checked against Heapster's allowed characters and quoted, so a request can never
inject InfluxQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from heapster_sink_influxdb.lineproto import CLUSTER_TAG, POD_ID_MEASUREMENT, VALUE_FIELD

NAME_ALLOWED = re.compile(r"^[a-zA-Z0-9_.-]+$")
METRIC_ALLOWED = re.compile(r"^[a-zA-Z0-9_./:-]+$")
LABEL_KEY_ALLOWED = re.compile(r"^[a-zA-Z0-9_./-]+$")

AGGREGATIONS: dict[str, str] = {
    "average": 'MEAN("{f}")',
    "max": 'MAX("{f}")',
    "min": 'MIN("{f}")',
    "median": 'MEDIAN("{f}")',
    "count": 'COUNT("{f}")',
    "50-perc": 'PERCENTILE("{f}", 50)',
    "95-perc": 'PERCENTILE("{f}", 95)',
    "99-perc": 'PERCENTILE("{f}", 99)',
}
"""Heapster's aggregation names and the InfluxQL function computing each."""


class InvalidName(ValueError):
    """A name in the request has characters the historical API does not accept."""


def ident(name: str) -> str:
    """A double-quoted InfluxQL identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: str) -> str:
    """A single-quoted InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True, slots=True)
class ObjectKey:
    """Which object a historical request is about (Heapster's ``HistoricalKey``)."""

    type: str
    node: str = ""
    namespace: str = ""
    pod: str = ""
    container: str = ""
    pod_id: str = ""

    def check(self) -> None:
        """Raise :class:`InvalidName` when a name has characters outside ``[a-zA-Z0-9_.-]``."""
        for what, value in (("node name", self.node), ("namespace name", self.namespace),
                            ("pod name", self.pod), ("container name", self.container),
                            ("pod id", self.pod_id)):
            if value and not NAME_ALLOWED.match(value):
                msg = f"Invalid {what} {value!r}"
                raise InvalidName(msg)


def check_metric_name(name: str) -> None:
    if not METRIC_ALLOWED.match(name):
        msg = f"Invalid metric name {name!r}"
        raise InvalidName(msg)


def check_labels(labels: dict[str, str]) -> None:
    for key in labels:
        if not LABEL_KEY_ALLOWED.match(key):
            msg = f"Invalid label key {key!r}"
            raise InvalidName(msg)


def selector(key: ObjectKey, cluster_name: str) -> str:
    """The WHERE predicate selecting one object's series (pod-id keys must be resolved first)."""
    parts = [f'"type" = {literal(key.type)}', f"{ident(CLUSTER_TAG)} = {literal(cluster_name)}"]
    if key.type in ("node", "sys_container"):
        parts.append(f'"nodename" = {literal(key.node)}')
    if key.type in ("ns", "pod", "pod_container"):
        parts.append(f'"namespace_name" = {literal(key.namespace)}')
    if key.type in ("pod", "pod_container"):
        parts.append(f'"pod_name" = {literal(key.pod)}')
    if key.type in ("sys_container", "pod_container"):
        parts.append(f'"container_name" = {literal(key.container)}')
    return " AND ".join(parts)


def label_predicate(labels: dict[str, str]) -> str:
    return "".join(f" AND {ident(k)} = {literal(v)}" for k, v in sorted(labels.items()))


def time_predicate(start_ns: int, end_ns: int) -> str:
    """Both ends inclusive, as the Model API filters."""
    return f" AND time >= {int(start_ns)} AND time <= {int(end_ns)}"


def raw_query(measurement: str, field: str, where: str) -> str:
    """Every value of one field of the selected series, oldest first."""
    return f"SELECT {ident(field)} FROM {ident(measurement)} WHERE {where}"


def aggregate_query(measurement: str, field: str, aggregations: list[str], where: str,
                    bucket_ns: int) -> str:
    """The requested aggregations over the selected series, per bucket when ``bucket_ns`` > 0."""
    functions = ", ".join(AGGREGATIONS[a].format(f=field.replace('"', '\\"')) for a in aggregations)
    query = f"SELECT {functions} FROM {ident(measurement)} WHERE {where}"
    if bucket_ns > 0:
        query += f" GROUP BY time({max(1, bucket_ns // 1000)}u) fill(none)"
    return query


def pod_id_queries(pod_id: str, cluster_name: str) -> list[str]:
    """First and last sighting of a pod UID, with the namespace/name it had (tags selected as columns).

    No ``GROUP BY`` tag: InfluxDB 3 answers grouped tags as plain columns, so both sightings are
    plain rows ``[time, value, namespace_name, pod_name]`` on every version.
    """
    where = f'"pod_id" = {literal(pod_id)} AND {ident(CLUSTER_TAG)} = {literal(cluster_name)}'
    columns = f'{ident(VALUE_FIELD)}, "namespace_name", "pod_name"'
    source = ident(POD_ID_MEASUREMENT)
    return [f"SELECT {columns} FROM {source} WHERE {where} ORDER BY time {order} LIMIT 1"
            for order in ("ASC", "DESC")]
