"""Every option of HEAPSTER.md §8 with its default, and clear errors for bad ones."""

from __future__ import annotations

import subprocess
import sys

import pytest

from heapster.errors import UsageError
from heapster.interfaces import PluginContext
from heapster.plugins import EVENT_SINK, METRIC_SINK, load_plugins
from heapster_sink_elasticsearch.config import Settings, startup_timeout
from heapster_sink_elasticsearch.sink import ElasticsearchEventSink, ElasticsearchMetricSink
from heapster_sink_elasticsearch.testing import settings_for


def test_defaults_are_heapsters() -> None:
    s = settings_for("elasticsearch:?nodes=http://es:9200")
    assert s == Settings(nodes=("http://es:9200",), index="heapster", username="", password="", max_retries=0,
                         health_check=True, sniff=True, startup_timeout=5.0, ver="5", bulk_workers=5,
                         cluster_name="default", pipeline="", data_streams=False)
    assert s.auth is None


def test_every_option_is_read() -> None:
    s = settings_for(
        "elasticsearch:?nodes=http://a:9200&nodes=https://b:9243&index=k8s&esUserName=elastic&esUserSecret=s3cret"
        "&maxRetries=3&healthCheck=false&sniff=false&startupHealthcheckTimeout=2&ver=8&bulkWorkers=2"
        "&cluster_name=prod&pipeline=geo&dataStreams=true")
    assert s.nodes == ("http://a:9200", "https://b:9243")
    assert (s.index, s.auth, s.max_retries, s.health_check, s.sniff) == ("k8s", ("elastic", "s3cret"), 3, False, False)
    assert (s.startup_timeout, s.ver, s.bulk_workers, s.cluster_name, s.pipeline, s.data_streams) == (
        2.0, "8", 2, "prod", "geo", True)
    assert "s3cret" not in repr(s)


def test_nodes_override_the_url_and_the_url_is_used_without_them() -> None:
    assert settings_for("elasticsearch:http://es.local:9200?nodes=http://other:9200").nodes == ("http://other:9200",)
    assert settings_for("elasticsearch:http://es.local:9200?index=x").nodes == ("http://es.local:9200",)


def test_nodes_without_scheme_and_with_credentials() -> None:
    s = settings_for("elasticsearch:?nodes=foo.com:9200&nodes=http://u:p%40ss@bar.com:9200/prefix/")
    assert s.nodes == ("http://foo.com:9200", "http://bar.com:9200/prefix")
    assert s.auth == ("u", "p@ss")


def test_no_node_is_heapsters_error() -> None:
    with pytest.raises(UsageError, match="There is no node assigned for connecting ES cluster"):
        settings_for("elasticsearch:?index=x")


@pytest.mark.parametrize(("query", "message"), [
    ("ver=6", "Unsupported ElasticSearch Client Version"),
    ("index=Heapster", "option 'index'"),
    ("bulkWorkers=0", "bulkWorkers"),
    ("maxRetries=-1", "maxRetries"),
    ("startupHealthcheckTimeout=soon", "startupHealthcheckTimeout"),
    ("nodes=ftp://x:1", "bad Elasticsearch node"),
    ("healthCheck=maybe", "healthCheck"),
])
def test_bad_values_are_usage_errors(query: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        settings_for(f"elasticsearch:?nodes=http://es:9200&{query}")


@pytest.mark.parametrize("ver", ["2", "5", "auto", "7", "8", "9", ""])
def test_accepted_versions(ver: str) -> None:
    assert settings_for(f"elasticsearch:?nodes=http://es:9200&ver={ver}").ver == ver


def test_startup_timeout_is_seconds_as_in_heapster_or_a_duration() -> None:
    assert startup_timeout("1") == 1.0
    assert startup_timeout("0.5") == 0.5
    assert startup_timeout("1500ms") == 1.5


def test_one_half_of_basic_auth_is_ignored_as_heapster_did() -> None:
    assert settings_for("elasticsearch:?nodes=http://es:9200&esUserName=elastic").auth is None


async def test_registered_for_metrics_and_events_through_entry_points() -> None:
    plugins = load_plugins(strict=True)
    spec = "elasticsearch:?nodes=http://127.0.0.1:9&esUserSecret=hunter2&esUserName=u"
    metric = plugins.build_metric_sink(spec, PluginContext())
    event = plugins.build_event_sink(spec, PluginContext())
    assert isinstance(metric, ElasticsearchMetricSink) and isinstance(event, ElasticsearchEventSink)
    assert plugins.get(METRIC_SINK, "elasticsearch").secret_options == ("esUserSecret",)
    assert plugins.get(EVENT_SINK, "elasticsearch").plugin.distribution == "heapster-sink-elasticsearch"
    with pytest.raises(UsageError, match="unknown option 'esPassword'"):
        plugins.build_metric_sink("elasticsearch:?nodes=http://es:9200&esPassword=x", PluginContext())
    await metric.close()
    await event.close()


def test_the_entry_point_module_does_not_import_the_client() -> None:
    code = ("import sys, heapster_sink_elasticsearch.plugin; "
            "print(any(m.split('.')[0] in ('elasticsearch', 'elastic_transport', 'aiohttp') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
