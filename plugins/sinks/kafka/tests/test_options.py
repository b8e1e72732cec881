"""URI options: Heapster's names and defaults, usage errors naming the bad option, secrets kept out of logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from heapster.errors import UsageError
from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.testing.compat import check_heapster_cmdline, cmdlines_with_sink
from heapster_sink_kafka.sink import KafkaEventSink, KafkaMetricSink


def build(spec: str, events: bool = False):
    plugins = load_plugins()
    if events:
        return plugins.build_event_sink(spec, PluginContext())
    return plugins.build_metric_sink(spec, PluginContext())


def test_defaults_are_heapsters() -> None:
    metrics = build("kafka:?brokers=k:9092")
    events = build("kafka:?brokers=k:9092", events=True)
    assert isinstance(metrics, KafkaMetricSink) and isinstance(events, KafkaEventSink)
    assert metrics.config.topic == "heapster-metrics" and events.config.topic == "heapster-events"
    assert metrics.config.brokers == ("k:9092",)
    assert metrics.config.compression == "none" and metrics.config.security_protocol == "PLAINTEXT"
    assert (metrics.name, events.name) == ("kafka", "Apache Kafka Sink")


def test_one_uri_names_both_topics_and_several_brokers() -> None:
    spec = "kafka:?brokers=a:9092&brokers=b:9093&timeseriestopic=ts&eventstopic=ev&compression=lz4"
    assert build(spec).config.topic == "ts"
    assert build(spec, events=True).config.topic == "ev"
    assert build(spec).config.brokers == ("a:9092", "b:9093")


def test_sasl_and_tls_choose_the_security_protocol(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert build("kafka:?brokers=k:1&user=u&password=p").config.security_protocol == "SASL_PLAINTEXT"
    assert build(f"kafka:?brokers=k:1&cacert={ca}").config.security_protocol == "SSL"
    assert build(f"kafka:?brokers=k:1&cacert={ca}&user=u&password=p").config.security_protocol == "SASL_SSL"


@pytest.mark.parametrize(("spec", "named"), [
    ("kafka:", "brokers"),
    ("kafka:?brokers=k:1&compression=zstd", "compression"),
    ("kafka:?brokers=k:1&user=u", "password"),
    ("kafka:?brokers=k:1&cacert=/nonexistent/ca.pem", "cacert"),
    ("kafka:?brokers=k:1&insecuressl=maybe", "insecuressl"),
    ("kafka:?brokers=k:1&topic=x", "topic"),
])
def test_a_bad_option_is_a_usage_error_naming_it(spec: str, named: str) -> None:
    with pytest.raises(UsageError, match=named):
        build(spec)


def test_the_password_never_reaches_the_logged_uri() -> None:
    sink = build("kafka:?brokers=k:1&user=admin&password=s3cr3t-pw")
    assert "s3cr3t-pw" not in sink.config.masked_uri and "user=admin" in sink.config.masked_uri


def test_the_real_world_lines_are_there() -> None:
    assert cmdlines_with_sink("kafka")


@pytest.mark.parametrize("argv", cmdlines_with_sink("kafka"), ids=" ".join)
def test_every_real_world_command_line_with_kafka_is_accepted(argv: list[str]) -> None:
    check_heapster_cmdline(argv, sinks={"kafka"})


async def test_the_password_stays_out_of_errors_and_logs(capsys: pytest.CaptureFixture[str]) -> None:
    from heapster.errors import RetryableError
    from heapster.testing.net import free_port

    sink = build(f"kafka:?brokers=127.0.0.1:{free_port()}&user=admin&password=s3cr3t-pw&timeout=1s")
    with pytest.raises(RetryableError) as caught:
        await sink.start()
    await sink.close()
    assert "s3cr3t-pw" not in str(caught.value)
    out = capsys.readouterr()
    assert "s3cr3t-pw" not in out.out + out.err
