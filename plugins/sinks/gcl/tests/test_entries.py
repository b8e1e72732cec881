"""The log entries Heapster's gcl sink wrote, as they arrive at the Cloud Logging double."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.logging.type import log_severity_pb2
from google.protobuf import json_format

from heapster.errors import PermanentError, RetryableError, UsageError
from heapster.interfaces import PluginContext
from heapster.model import EventBatch
from heapster.plugins import load_plugins
from heapster.testing import synthetic_event
from heapster_sink_gcl.testing import LoggingServer

NOW = datetime.now(UTC).replace(microsecond=0)


def mine(server: LoggingServer, sink) -> list:
    return [e for e in server.entries if e.log_name.startswith(f"projects/{sink.project}/")]


async def test_an_event_is_a_notice_entry_in_kubernetes_io_events(make_sink, server: LoggingServer) -> None:
    sink = await make_sink()
    event = synthetic_event(NOW - timedelta(minutes=1), n=5, count=3)
    await sink.export_events(EventBatch(NOW, [event]))
    (entry,) = mine(server, sink)
    assert entry.log_name == f"projects/{sink.project}/logs/kubernetes.io%2Fevents"
    assert entry.severity == log_severity_pb2.NOTICE and entry.resource.type == "global"
    assert entry.insert_id == event["metadata"]["uid"]
    assert entry.timestamp.ToDatetime(UTC) == NOW - timedelta(minutes=1)
    payload = json_format.MessageToDict(entry.json_payload)
    assert payload["involvedObject"] == event["involvedObject"] and payload["message"] == event["message"]
    assert payload["count"] == 3 and payload["eventTime"] is None


async def test_an_event_without_last_timestamp_uses_its_event_time(make_sink, server: LoggingServer) -> None:
    sink = await make_sink()
    event = {**synthetic_event(NOW, n=6), "lastTimestamp": None, "firstTimestamp": None,
             "eventTime": (NOW - timedelta(seconds=30)).isoformat().replace("+00:00", ".000000Z")}
    await sink.export_events(EventBatch(NOW, [event]))
    (entry,) = mine(server, sink)
    assert entry.timestamp.ToDatetime(UTC) == NOW - timedelta(seconds=30)


async def test_entries_go_1000_per_request_and_refused_ones_are_counted(make_sink, server: LoggingServer) -> None:
    sink = await make_sink()
    before = server.requests
    events = [synthetic_event(NOW, n=i) for i in range(2100)]
    events[5] = {**events[5], "lastTimestamp": (NOW - timedelta(days=40)).isoformat().replace("+00:00", "Z")}
    with pytest.raises(PermanentError, match="refused 1 entries") as caught:
        await sink.export_events(EventBatch(NOW, events))
    assert caught.value.dropped == 1
    assert server.requests - before == 3
    assert len(mine(server, sink)) == 2099  # partial success: the valid entries are written


async def test_an_unavailable_api_is_retryable(make_sink, server: LoggingServer) -> None:
    import grpc

    sink = await make_sink()
    server.fail_with = grpc.StatusCode.UNAVAILABLE
    with pytest.raises(RetryableError):
        await sink.export_events(EventBatch(NOW, [synthetic_event(NOW)]))


async def test_the_project_is_found_like_heapster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  server: LoggingServer) -> None:
    monkeypatch.delenv("GOOGLE_PROJECT_ID", raising=False)
    credentials = tmp_path / "sa.json"
    credentials.write_text('{"project_id": "from-file"}')
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
    sink = load_plugins().build_event_sink(f"gcl:?endpoint={server.endpoint}&insecure=true", PluginContext())
    await sink.start()
    assert sink.project == "from-file"
    await sink.close()
    monkeypatch.setenv("GOOGLE_PROJECT_ID", "from-env")
    sink = load_plugins().build_event_sink(f"gcl:?endpoint={server.endpoint}&insecure=true", PluginContext())
    await sink.start()
    assert sink.project == "from-env"
    await sink.close()


def test_heapsters_bare_gcl_is_accepted_and_bad_options_are_usage_errors() -> None:
    plugins = load_plugins()
    assert plugins.build_event_sink("gcl", PluginContext()).name == "GCL Sink"
    assert "gcl" not in plugins.keys("sink")  # not a metric sink, as in Heapster
    with pytest.raises(UsageError, match="endpoint"):
        plugins.build_event_sink("gcl:?insecure=true", PluginContext())
    with pytest.raises(UsageError, match="logName"):
        plugins.build_event_sink("gcl:?logName=x", PluginContext())
