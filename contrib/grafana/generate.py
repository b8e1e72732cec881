"""Generate the Grafana dashboards (cluster, nodes, pods) for heapster's InfluxDB schema, in both withfields modes.

    python contrib/grafana/generate.py          # rewrites dashboards/*.json and dashboards/withfields/*.json

The JSON files are committed; a test checks they match this script and runs every query against influxd.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
MODES = {"": False, "withfields": True}

# Panels: (title, unit, [(metric, alias suffix)], where, group by tag or None)
Panel = tuple[str, str, list[tuple[str, str]], str, str | None]

NODE = "\"type\" = 'node' AND \"nodename\" =~ /^$nodename$/"
POD = "\"type\" = 'pod' AND \"namespace_name\" =~ /^$namespace$/ AND \"pod_name\" =~ /^$podname$/"
CONTAINER = ("\"type\" = 'pod_container' AND \"namespace_name\" =~ /^$namespace$/ "
             "AND \"pod_name\" =~ /^$podname$/")

DASHBOARDS: dict[str, dict[str, Any]] = {
    "cluster": {
        "title": "Heapster / Cluster",
        "variables": [],
        "panels": [
            ("Cluster CPU (millicores)", "none",
             [("cpu/usage_rate", "usage"), ("cpu/request", "requests"), ("cpu/limit", "limits")],
             "\"type\" = 'cluster'", None),
            ("Cluster memory", "bytes",
             [("memory/usage", "usage"), ("memory/request", "requests"), ("memory/limit", "limits")],
             "\"type\" = 'cluster'", None),
            ("CPU usage by node (millicores)", "none", [("cpu/usage_rate", "")], "\"type\" = 'node'", "nodename"),
            ("Memory usage by node", "bytes", [("memory/usage", "")], "\"type\" = 'node'", "nodename"),
            ("CPU usage by namespace (millicores)", "none", [("cpu/usage_rate", "")], "\"type\" = 'ns'",
             "namespace_name"),
            ("Memory usage by namespace", "bytes", [("memory/usage", "")], "\"type\" = 'ns'", "namespace_name"),
        ],
    },
    "nodes": {
        "title": "Heapster / Nodes",
        "variables": [("nodename", "Node", "SHOW TAG VALUES FROM \"uptime\" WITH KEY = \"nodename\" "
                                           "WHERE \"type\" = 'node'")],
        "panels": [
            ("CPU (millicores)", "none",
             [("cpu/usage_rate", "usage"), ("cpu/node_allocatable", "allocatable"),
              ("cpu/node_capacity", "capacity")], NODE, "nodename"),
            ("Memory", "bytes",
             [("memory/usage", "usage"), ("memory/working_set", "working set"),
              ("memory/node_allocatable", "allocatable")], NODE, "nodename"),
            ("Utilization of allocatable", "percentunit",
             [("cpu/node_utilization", "cpu"), ("memory/node_utilization", "memory")], NODE, "nodename"),
            ("Network", "Bps", [("network/rx_rate", "received"), ("network/tx_rate", "sent")], NODE, "nodename"),
            ("Filesystem usage", "bytes", [("filesystem/usage", "")], NODE, "resource_id"),
            ("Pods' CPU requests (millicores)", "none", [("cpu/request", "requests")], NODE, "nodename"),
        ],
    },
    "pods": {
        "title": "Heapster / Pods",
        "variables": [
            ("namespace", "Namespace", "SHOW TAG VALUES FROM \"uptime\" WITH KEY = \"namespace_name\""),
            ("podname", "Pod", "SHOW TAG VALUES FROM \"uptime\" WITH KEY = \"pod_name\" "
                               "WHERE \"namespace_name\" =~ /^$namespace$/"),
        ],
        "panels": [
            ("Pod CPU (millicores)", "none",
             [("cpu/usage_rate", "usage"), ("cpu/request", "request"), ("cpu/limit", "limit")], POD, "pod_name"),
            ("Pod memory", "bytes",
             [("memory/usage", "usage"), ("memory/working_set", "working set"), ("memory/limit", "limit")],
             POD, "pod_name"),
            ("Pod network", "Bps", [("network/rx_rate", "received"), ("network/tx_rate", "sent")], POD, "pod_name"),
            ("Container CPU usage (millicores)", "none", [("cpu/usage_rate", "")], CONTAINER, "container_name"),
            ("Container memory working set", "bytes", [("memory/working_set", "")], CONTAINER, "container_name"),
            ("Container restarts", "none", [("restart_count", "")], CONTAINER, "container_name"),
        ],
    },
}


def measurement_and_field(metric: str, withfields: bool) -> tuple[str, str]:
    """Where the sink writes ``metric``: ``cpu/usage_rate`` -> (``cpu/usage_rate``, value) or (``cpu``, usage_rate)."""
    if withfields and "/" in metric:
        measurement, field = metric.split("/", 1)
        return measurement, field
    return metric, "value"


def query(metric: str, where: str, group_by: str | None, withfields: bool) -> str:
    """One InfluxQL panel query with Grafana's ``$timeFilter`` and ``$__interval``."""
    measurement, field = measurement_and_field(metric, withfields)
    group = f"time($__interval), \"{group_by}\"" if group_by else "time($__interval)"
    return (f"SELECT mean(\"{field}\") FROM \"{measurement}\" WHERE {where} AND $timeFilter "
            f"GROUP BY {group} fill(none)")


def variable(name: str, label: str, statement: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": "$datasource", "query": statement,
            "refresh": 2, "multi": True, "includeAll": True, "sort": 1, "current": {}, "options": [],
            "hide": 0, "regex": "", "skipUrlSync": False}


def panel(index: int, spec: Panel, withfields: bool) -> dict[str, Any]:
    title, unit, metrics, where, group_by = spec
    targets = []
    for number, (metric, suffix) in enumerate(metrics):
        alias = " ".join(part for part in ((f"$tag_{group_by}" if group_by else ""), suffix) if part) or "cluster"
        targets.append({"refId": chr(ord("A") + number), "rawQuery": True, "resultFormat": "time_series",
                        "query": query(metric, where, group_by, withfields), "alias": alias})
    return {
        "id": index + 1, "type": "timeseries", "title": title, "datasource": "$datasource",
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit, "custom": {"lineWidth": 1, "fillOpacity": 10}}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": targets,
    }


def dashboard(name: str, withfields: bool) -> dict[str, Any]:
    """The Grafana dashboard JSON (importable; the data source is chosen at import or from the picker)."""
    spec = DASHBOARDS[name]
    suffix = " (withfields)" if withfields else ""
    variables = [{"name": "datasource", "label": "InfluxDB", "type": "datasource", "query": "influxdb",
                  "current": {}, "hide": 0, "options": [], "refresh": 1, "regex": "", "skipUrlSync": False}]
    variables += [variable(*v) for v in spec["variables"]]
    return {
        "title": spec["title"] + suffix,
        "uid": f"heapster-{name}{'-wf' if withfields else ''}",
        "tags": ["heapster", "kubernetes", "influxdb"],
        "description": f"heapster metrics in InfluxDB, sink option withfields={str(withfields).lower()}",
        "editable": True, "schemaVersion": 27, "version": 1, "timezone": "browser", "refresh": "1m",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "panels": [panel(i, p, withfields) for i, p in enumerate(spec["panels"])],
    }


def render_all() -> dict[Path, str]:
    """Every dashboard file's path and JSON text."""
    files = {}
    for mode, withfields in MODES.items():
        for name in DASHBOARDS:
            path = OUT / mode / f"{name}.json" if mode else OUT / f"{name}.json"
            files[path] = json.dumps(dashboard(name, withfields), indent=2) + "\n"
    return files


def main() -> int:
    for path, text in render_all().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
