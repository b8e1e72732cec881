"""The Grafana dashboards: generated files are current, and every query returns data from a real influxd
that heapster (scraping the cluster simulator) wrote to, in both ``withfields`` modes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from heapster.testing.modules import load_module
from heapster.testing.net import PATIENCE
from heapster_simulator.testing import simulator_process
from heapster_sink_influxdb.testing import InfluxServer, influxd_server

GRAFANA = Path(__file__).resolve().parents[1] / "grafana"
DATABASES = {"": "k8s_plain", "withfields": "k8s_fields"}
"""Dashboard folder (withfields mode) -> database heapster wrote to."""


def load_generator() -> ModuleType:
    return load_module(GRAFANA / "generate.py", "grafana_generate")


def dashboards() -> list[tuple[str, Path]]:
    return [(mode, path) for mode in DATABASES for path in sorted((GRAFANA / "dashboards" / mode).glob("*.json"))]


def series_with_values(server: InfluxServer, db: str, statement: str) -> list[dict[str, Any]]:
    series = server.query(statement, db)[0].get("series", [])
    return [s for s in series if any(v is not None for row in s["values"] for v in row[1:])]


@pytest.fixture(scope="module")
def influx_with_heapster_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """influxd holding a few batches heapster scraped from a 2-node simulated cluster, written in both modes."""
    tmp = tmp_path_factory.mktemp("grafana")
    (tmp / "influxd").mkdir()
    with influxd_server(tmp / "influxd") as influx, \
            simulator_process(tmp, nodes=2, pods_per_node=6, api_scheme="https") as ready:
        source = f"kubernetes:{ready['api']}?inClusterConfig=false&auth={ready['kubeconfig']}"
        sinks = [f"--sink=influxdb:{influx.url}?db={DATABASES['']}",
                 f"--sink=influxdb:{influx.url}?db={DATABASES['withfields']}&withfields=true"]
        log = (tmp / "heapster.log").open("wb")
        heapster = subprocess.Popen([sys.executable, "-m", "heapster.cli", f"--source={source}", *sinks,
                                     "--metric_resolution=5s", "--heapster-port=0", "--disable_metric_sink"],
                                    stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 2 * PATIENCE  # heapster's start and three windows, on a loaded machine
            while time.monotonic() < deadline:  # rates appear with the second batch; wait for the third
                assert heapster.poll() is None, (tmp / "heapster.log").read_text()[-3000:]
                try:
                    counts = [series_with_values(influx, DATABASES[""], 'SELECT count("value") FROM "cpu/usage_rate"'),
                              series_with_values(influx, DATABASES["withfields"],
                                                 'SELECT count("usage_rate") FROM "cpu"')]
                except RuntimeError:  # database not created yet
                    counts = []
                if len(counts) == 2 and all(c and c[0]["values"][0][1] >= 2 * 15 for c in counts):
                    break
                time.sleep(0.5)
            else:
                tail = (tmp / "heapster.log").read_text()[-3000:]
                pytest.fail(f"no rates in InfluxDB after {2 * PATIENCE:g} s: {tail}")
        finally:
            heapster.send_signal(signal.SIGTERM)
            heapster.wait(30)
            log.close()
        yield influx


def test_committed_dashboards_match_the_generator() -> None:
    generated = load_generator().render_all()
    assert len(generated) == 6
    for path, text in generated.items():
        assert path.read_text() == text, f"{path} is stale: run python contrib/grafana/generate.py"


def test_dashboards_are_grafana_json() -> None:
    uids = set()
    for _, path in dashboards():
        board = json.loads(path.read_text())
        uids.add(board["uid"])
        assert board["panels"] and board["templating"]["list"][0]["type"] == "datasource"
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        for p in board["panels"]:
            assert p["datasource"] == "$datasource" and p["targets"]
            assert all(t["rawQuery"] and "$timeFilter" in t["query"] for t in p["targets"])
    assert len(uids) == 6


def substitute(text: str, values: dict[str, str]) -> str:
    """What Grafana does before sending a query: time filter, interval and template variables."""
    text = text.replace("$timeFilter", "time > now() - 1h").replace("$__interval", "10s")
    for name in sorted(values, key=len, reverse=True):
        text = text.replace(f"${name}", values[name])
    assert not re.search(r"\$(?!tag_)\w", text), f"unsubstituted variable in {text}"
    return text


@pytest.mark.parametrize(("mode", "path"), dashboards(), ids=[f"{m or 'default'}/{p.stem}" for m, p in dashboards()])
def test_every_dashboard_query_returns_data(influx_with_heapster_data: InfluxServer, mode: str, path: Path) -> None:
    influx, db = influx_with_heapster_data, DATABASES[mode]
    board = json.loads(path.read_text())
    values: dict[str, str] = {}
    for var in board["templating"]["list"]:
        if var["type"] != "query":
            continue
        rows = influx.query(substitute(var["query"], values), db)[0].get("series", [])
        options = sorted({row[1] for s in rows for row in s["values"]})
        assert options, f"variable {var['name']} has no values: {var['query']}"
        values[var["name"]] = "(" + "|".join(re.escape(o) for o in options) + ")"  # Grafana's "All"
    for panel in board["panels"]:
        for target in panel["targets"]:
            statement = substitute(target["query"], values)
            found = series_with_values(influx, db, statement)
            assert found, f"{path.name} panel {panel['title']!r} target {target['refId']}: no data for {statement}"
            if "GROUP BY time(10s), " in statement:
                tag = statement.rsplit('"', 2)[1]
                assert all(s["tags"].get(tag) for s in found), f"series without {tag}: {statement}"
