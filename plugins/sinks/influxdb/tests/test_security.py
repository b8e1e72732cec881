"""HTTPS (``secure``, ``insecuressl``) and authentication (``user``, ``pw``) against real influxd servers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from heapster.errors import PermanentError, RetryableError
from heapster.model import DataBatch, MetricSet, MetricValue
from heapster_sink_influxdb.testing import InfluxServer, influxd_server

WRONG = "Wr0ng-Passw0rd-xyz"


def one_point_batch() -> DataBatch:
    return DataBatch(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1),
                     {"cluster": MetricSet({"type": "cluster"}, {"uptime": MetricValue(42)})})


@pytest.fixture(scope="module")
def tls_server() -> Iterator[InfluxServer]:
    with influxd_server(tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def auth_server() -> Iterator[InfluxServer]:
    with influxd_server(auth=True) as server:
        yield server


async def test_secure_with_insecuressl_writes_over_https(make_sink, tls_server, db_name) -> None:
    sink = await make_sink("secure=true&insecuressl=true", hostport=tls_server.hostport)
    await sink.export(one_point_batch())
    (result,) = tls_server.query('SELECT "value" FROM "uptime"', db_name)
    assert result["series"][0]["values"][0][1] == 42


async def test_secure_rejects_an_unverifiable_certificate(make_sink, tls_server) -> None:
    with pytest.raises(RetryableError, match="SSL"):
        await make_sink("secure=true", hostport=tls_server.hostport)


async def test_credentials_are_sent(make_sink, auth_server, db_name) -> None:
    sink = await make_sink(f"user={auth_server.admin_user}&pw={auth_server.admin_password}",
                           hostport=auth_server.hostport)
    await sink.export(one_point_batch())
    (result,) = auth_server.query('SELECT "value" FROM "uptime"', db_name)
    assert result["series"][0]["values"][0][1] == 42


async def test_a_wrong_password_is_permanent_and_never_shown(make_sink, auth_server) -> None:
    with capture_logs() as logs:
        sink = await make_sink(f"user=admin&pw={WRONG}", hostport=auth_server.hostport)
        with pytest.raises(PermanentError) as at_export:
            await sink.export(one_point_batch())
    (start_failed,) = [entry for entry in logs if entry["event"] == "influxdb.sink.start.failed"]
    assert "401" in start_failed["error"]
    assert at_export.value.dropped == 1 and "401" in str(at_export.value)
    assert WRONG not in str(at_export.value) + repr(logs)


async def test_a_user_without_admin_rights_writes_to_an_existing_database(make_sink, auth_server, db_name) -> None:
    auth_server.query(f'CREATE DATABASE "{db_name}"')
    auth_server.query("CREATE USER writer WITH PASSWORD 'writer-pw'")
    auth_server.query(f'GRANT WRITE ON "{db_name}" TO writer')
    with capture_logs() as logs:
        sink = await make_sink("user=writer&pw=writer-pw&rp=autogen", hostport=auth_server.hostport)
        await sink.export(one_point_batch())
    assert any(entry["event"] == "influxdb.database.unmanaged" for entry in logs)
    (result,) = auth_server.query('SELECT "value" FROM "uptime"', db_name)
    assert result["series"][0]["values"][0][1] == 42
