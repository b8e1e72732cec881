"""The ``influxdb`` URI options: registration, defaults, validation and masking (HEAPSTER.md §7.2)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from heapster.errors import UsageError
from heapster.plugins import METRIC_SINK, load_plugins
from heapster_sink_influxdb.config import InfluxConfig, build_config

DEFAULTS = {
    "user": "root", "pw": "root", "db": "k8s", "rp": "default", "retention": "0", "secure": False,
    "insecuressl": False, "withfields": False, "cluster_name": "default", "disable_counter_metrics": False,
    "concurrency": 1, "batch_size": 10000, "pod_id_index": True,
    "api": "auto", "org": "", "bucket": "", "token": "",  # InfluxDB 2 and 3
}


def configure(spec: str) -> InfluxConfig:
    _, config = load_plugins().configure(METRIC_SINK, spec)
    return build_config(config)


@pytest.mark.parametrize("kind", ["sink", "event sink"])
def test_every_option_is_declared_with_heapsters_default(kind: str) -> None:
    registration = load_plugins().get(kind, "influxdb")
    assert {o.name: o.default for o in registration.options} == DEFAULTS
    assert registration.secret_options == ("pw", "token")


def test_defaults_and_url() -> None:
    config = configure("influxdb:http://monitoring-influxdb:8086")
    assert (config.host, config.port, config.base_url) == ("monitoring-influxdb", 8086,
                                                           "http://monitoring-influxdb:8086")
    assert (config.db, config.rp, config.retention, config.concurrency, config.batch_size) == (
        "k8s", "default", "INF", 1, 10000)
    assert configure("influxdb:").base_url == "http://localhost:8086"
    assert configure("influxdb:http://[::1]:9999?secure=true").base_url == "https://[::1]:9999"


def test_options_are_typed() -> None:
    config = configure("influxdb:http://h:1?user=u&pw=p&db=d&rp=r&retention=7d&secure=1&insecuressl=T"
                       "&withfields=true&cluster_name=prod&disable_counter_metrics=TRUE&concurrency=4&batch_size=500"
                       "&pod_id_index=false")
    assert config == InfluxConfig(
        host="h", port=1, user="u", password="p", db="d", rp="r", retention="7d", secure=True, insecure_ssl=True,
        with_fields=True, cluster_name="prod", disable_counter_metrics=True, concurrency=4, batch_size=500,
        pod_id_index=False, masked_uri=config.masked_uri)
    assert config.retention_seconds == 7 * 86400


@pytest.mark.parametrize(("query", "message"), [
    ("retention=7x", "retention"),
    ("retention=30m", "minimum is 1h"),
    ("concurrency=0", "concurrency"),
    ("batch_size=-1", "batch_size"),
    ("withfields=maybe", "withfields"),
    ("db=", "db"),
    ("colour=red", "unknown option 'colour'"),
])
def test_bad_values_are_usage_errors(query: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        configure(f"influxdb:http://h:8086?{query}")


def test_the_password_is_masked() -> None:
    config = configure("influxdb:http://h:8086?user=u&pw=hunter22")
    assert "hunter22" not in config.masked_uri and "pw=xxxxx" in config.masked_uri
    assert config.redact("error with hunter22 inside") == "error with xxxxx inside"
    with pytest.raises(UsageError) as bad:
        configure("influxdb:http://h:8086?pw=hunter22&concurrency=zero")
    assert "hunter22" not in str(bad.value)


def test_the_entry_point_module_imports_no_client_library() -> None:
    code = ("import sys, heapster_sink_influxdb.plugin; "
            "print(sorted(m for m in ('aiohttp', 'influxdb', 'requests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
