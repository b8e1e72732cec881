"""Retention policies, database re-creation, outages, rejected points and secrets, against a real influxd."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from heapster import selfmetrics
from heapster.errors import RetryableError
from heapster.model import DataBatch, MetricSet, MetricValue
from heapster.testing import synthetic_batch

SECRET = "Sup3r-s3cret-pw"
NOW = datetime.now(UTC).replace(microsecond=0)


def dropped_items() -> float:
    value = selfmetrics.REGISTRY.get_sample_value("heapster_sink_dropped_items_total", {"sink": "InfluxDB Sink"})
    return value or 0.0


def small_batch(minute: int, values: dict[str, int | float]) -> DataBatch:
    labels = {"type": "node", "nodename": "node-1"}
    return DataBatch(NOW - timedelta(minutes=minute),
                     {"node:node-1": MetricSet(labels=labels, values={k: MetricValue(v) for k, v in values.items()})})


def retention_policies(server, db: str) -> dict[str, tuple[str, bool]]:
    (result,) = server.query(f'SHOW RETENTION POLICIES ON "{db}"')
    return {row[0]: (row[1], row[4]) for row in result["series"][0]["values"]}


async def test_retention_policy_is_created_with_the_configured_duration(make_sink, server, db_name) -> None:
    await make_sink("retention=2d")
    assert retention_policies(server, db_name)["default"] == ("48h0m0s", True)


async def test_retention_policy_is_altered_when_the_option_changes(make_sink, server, db_name) -> None:
    await make_sink("retention=2d")
    await make_sink("retention=1w")
    assert retention_policies(server, db_name)["default"] == ("168h0m0s", True)
    await make_sink()  # retention=0: keep forever
    assert retention_policies(server, db_name)["default"] == ("0s", True)


async def test_points_go_to_the_configured_retention_policy(make_sink, server, db_name) -> None:
    sink = await make_sink("rp=heapster&retention=30d")
    await sink.export(small_batch(1, {"uptime": 5}))

    assert retention_policies(server, db_name)["heapster"] == ("720h0m0s", True)
    (result,) = server.query(f'SELECT "value" FROM "{db_name}"."heapster"."uptime"', db_name)
    assert result["series"][0]["values"][0][1] == 5


async def test_a_dropped_database_is_recreated(make_sink, server, db_name) -> None:
    sink = await make_sink("retention=3d")
    await sink.export(small_batch(2, {"uptime": 1}))
    server.query(f'DROP DATABASE "{db_name}"')

    await sink.export(small_batch(1, {"uptime": 2}))

    assert retention_policies(server, db_name)["default"] == ("72h0m0s", True)
    (result,) = server.query('SELECT "value" FROM "uptime"', db_name)
    assert [row[1] for row in result["series"][0]["values"]] == [2]


async def test_a_down_server_is_retryable_and_the_retry_writes_everything(make_sink, server, db_name) -> None:
    sink = await make_sink(f"pw={SECRET}&batch_size=50")
    batch = synthetic_batch(NOW - timedelta(minutes=5), nodes=2, pods=3, containers=2)
    expected = len(list(sink.schema.lines(batch)))
    await asyncio.to_thread(server.stop)
    try:
        with capture_logs() as logs, pytest.raises(RetryableError) as failure:
            await sink.export(batch)
    finally:
        await asyncio.to_thread(server.start)
    assert SECRET not in str(failure.value) and SECRET not in repr(logs)

    await sink.export(batch)

    assert len(server.points(db_name)) == expected


async def test_a_type_conflict_drops_only_the_bad_point_and_is_logged_once(make_sink, server, db_name) -> None:
    sink = await make_sink(f"pw={SECRET}")
    await sink.export(small_batch(3, {"memory/usage": 100}))
    before = dropped_items()

    with capture_logs() as logs:
        await sink.export(small_batch(2, {"memory/usage": 1.5, "uptime": 7, "cpu/usage_rate": 3}))
        await sink.export(small_batch(1, {"memory/usage": 2.5, "uptime": 8}))

    assert dropped_items() - before == 2
    rejected = [entry for entry in logs if entry["event"] == "influxdb.write.rejected"]
    assert len(rejected) == 1
    assert "field type conflict" in rejected[0]["error"]
    assert rejected[0]["line"].startswith("memory/usage,") and " value=1.5 " in rejected[0]["line"]
    assert SECRET not in repr(logs)
    (result,) = server.query('SELECT "value" FROM "uptime"', db_name)
    assert [row[1] for row in result["series"][0]["values"]] == [7, 8]
    (result,) = server.query('SELECT "value" FROM "memory/usage"', db_name)
    assert [row[1] for row in result["series"][0]["values"]] == [100]


async def test_a_conflict_inside_one_request_is_isolated_by_bisection(make_sink, server, db_name) -> None:
    sink = await make_sink()
    labels = {"type": "node", "nodename": "node-1"}
    sets = {f"node:n{i}": MetricSet(labels={**labels, "nodename": f"n{i}"},
                                    values={"custom/x": MetricValue(1.5 if i == 5 else i), "uptime": MetricValue(i)})
            for i in range(8)}
    before = dropped_items()
    statuses: list[int] = []
    original = sink.writer._post

    async def recording_post(lines: list[str], body: bytes | None = None) -> tuple[int, str]:
        status, error = await original(lines, body)
        statuses.append(status)
        return status, error

    sink.writer._post = recording_post
    await sink.export(DataBatch(NOW - timedelta(minutes=1), sets))

    assert statuses[0] == 400 and len(statuses) > 2  # refused as a whole, then bisected
    assert dropped_items() - before == 1
    uptime, custom = server.query('SELECT COUNT("value") FROM "uptime"; SELECT COUNT("value") FROM "custom/x"',
                                  db_name)
    assert uptime["series"][0]["values"][0][1] == 8
    assert custom["series"][0]["values"][0][1] == 7


async def test_the_password_never_appears_in_errors_or_logs(make_sink, server) -> None:
    with capture_logs() as logs:
        sink = await make_sink(f"pw={SECRET}&user=admin&retention=1w")
        await sink.export(small_batch(1, {"uptime": 1}))
    assert SECRET not in repr(logs)
    assert SECRET not in sink.config.masked_uri
    assert "xxxxx" in sink.config.masked_uri


async def test_a_restarted_server_is_written_to_without_a_retry(make_sink, server, db_name) -> None:
    sink = await make_sink()
    await sink.export(small_batch(3, {"uptime": 1}))
    await asyncio.to_thread(server.kill)
    await asyncio.to_thread(server.start)

    await sink.export(small_batch(2, {"uptime": 2}))  # the pooled connection died with the old process

    (result,) = server.query('SELECT "value" FROM "uptime"', db_name)
    assert [row[1] for row in result["series"][0]["values"]] == [1, 2]
