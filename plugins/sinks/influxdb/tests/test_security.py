"""HTTPS (``secure``, ``insecuressl``) and authentication (``user``, ``pw``) against real influxd servers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_plus

import pytest
from structlog.testing import capture_logs

from heapster.errors import PermanentError, RetryableError
from heapster.model import DataBatch, MetricSet, MetricValue
from heapster_sink_influxdb.config import InfluxConfig
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


async def test_credentials_in_the_url_are_used(make_sink, auth_server, db_name) -> None:
    userinfo = f"{auth_server.admin_user}:{quote(auth_server.admin_password, safe='')}@"
    sink = await make_sink(hostport=userinfo + auth_server.hostport)
    await sink.export(one_point_batch())
    (result,) = auth_server.query('SELECT "value" FROM "uptime"', db_name)
    assert result["series"][0]["values"][0][1] == 42
    assert auth_server.admin_password not in sink.config.masked_uri


async def test_user_and_pw_options_win_over_the_url(make_sink, auth_server) -> None:
    with capture_logs() as logs:
        sink = await make_sink(f"user=admin&pw={WRONG}",
                               hostport=f"{auth_server.admin_user}:{auth_server.admin_password}@{auth_server.hostport}")
        with pytest.raises(PermanentError, match="401"):
            await sink.export(one_point_batch())
    assert WRONG not in repr(logs) and auth_server.admin_password not in repr(logs)


def test_derived_forms_of_the_password_are_redacted() -> None:
    config = InfluxConfig(user="alice", password="p@ss word/1")
    basic = base64.b64encode(b"alice:p@ss word/1").decode()
    echoed = (f"401: bad credentials in 'Authorization: Basic {basic}' for "
              f"http://alice:{quote('p@ss word/1', safe='')}@influx:8086?pw={quote_plus('p@ss word/1')}")
    redacted = config.redact(echoed)
    for form in (basic, "p@ss word/1", quote("p@ss word/1", safe=""), quote_plus("p@ss word/1")):
        assert form not in redacted
    assert "401: bad credentials" in redacted and "influx:8086" in redacted
