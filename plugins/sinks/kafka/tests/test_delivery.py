"""What reaches a real broker: every value once per export, with each compression, and over TLS."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.testing import synthetic_batch
from heapster_sink_kafka.messages import metric_messages
from heapster_sink_kafka.sink import RoundRobinPartitioner, ssl_context
from heapster_sink_kafka.testing import KafkaBroker, read_topic


@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4"])
async def test_every_value_arrives_once_with_each_compression(make_sink, broker: KafkaBroker, topic: str,
                                                              compression: str) -> None:
    sink = await make_sink(f"compression={compression}")
    batch = synthetic_batch(datetime.now(UTC), nodes=2, pods=2, containers=2)
    await sink.export(batch)
    expected = sorted(m for m in metric_messages(batch) if m)
    assert len(expected) == sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())
    assert sorted(await read_topic(broker.bootstrap, topic)) == expected


def test_the_partitioner_is_round_robin_over_the_available_partitions() -> None:
    partitioner = RoundRobinPartitioner()
    assert [partitioner(None, [0, 1, 2, 3], [0, 1, 2, 3]) for _ in range(6)] == [0, 1, 2, 3, 0, 1]
    assert [partitioner(None, [0, 1, 2, 3], [1, 3]) for _ in range(2)] == [1, 3]  # 6, 7 over two partitions


async def test_messages_are_spread_over_the_partitions(make_sink, broker: KafkaBroker, topic: str) -> None:
    sink = await make_sink()
    await sink.export(synthetic_batch(datetime.now(UTC), nodes=1, pods=1, containers=1))
    assert sink.producer is not None
    partitions = sink.producer.client.cluster.partitions_for_topic(topic)
    assert partitions and len(partitions) > 1
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
    finally:
        await consumer.stop()
    assert all(count > 0 for count in ends.values()), ends


def test_the_tls_options_build_the_client_context(tmp_path: Path) -> None:
    """(The Tansu build used for the tests has no TLS listener, so TLS is checked up to the client context.)"""
    ca = trustme.CA()
    client = ca.issue_cert("heapster")
    ca_file, cert, key = tmp_path / "ca.pem", tmp_path / "client.pem", tmp_path / "client.key"
    ca.cert_pem.write_to_path(str(ca_file))
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    spec = f"kafka:?brokers=k:9093&cacert={ca_file}&cert={cert}&key={key}"
    sink = load_plugins().build_metric_sink(spec, PluginContext())
    context = ssl_context(sink.config)
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1
    insecure = ssl_context(load_plugins().build_metric_sink(spec + "&insecuressl=true", PluginContext()).config)
    assert insecure is not None and insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
    assert ssl_context(load_plugins().build_metric_sink("kafka:?brokers=k:1", PluginContext()).config) is None
