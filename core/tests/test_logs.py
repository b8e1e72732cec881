"""Secrets never reach a log line."""

from __future__ import annotations

import io
import json
import logging

import structlog

from heapster.logs import configure, mask_secrets


def test_mask_secrets_in_free_text() -> None:
    text = ("connecting to http://admin:hunter2@influx:8086?pw=s3cret&db=k8s with "
            "Authorization: Bearer abc.def.ghi and password=topsecret")
    masked = mask_secrets(text)
    for secret in ("hunter2", "s3cret", "abc.def.ghi", "topsecret"):
        assert secret not in masked
    assert "db=k8s" in masked


def test_log_lines_are_json_and_masked_for_structlog_and_stdlib() -> None:
    out = io.StringIO()
    configure(verbosity=0, fmt="json", stream=out)
    structlog.get_logger("t").warning("sink.create.failed", sink="influxdb:http://h?pw=hunter2", n=1)
    logging.getLogger("some.client").warning("retrying http://u:p4ss@host/ token=zzz")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["event"] == "sink.create.failed" and lines[0]["n"] == 1
    assert "hunter2" not in out.getvalue() and "p4ss" not in out.getvalue() and "zzz" not in out.getvalue()


def test_verbosity_controls_debug() -> None:
    out = io.StringIO()
    configure(verbosity=0, fmt="json", stream=out)
    structlog.get_logger("t").debug("hidden")
    configure(verbosity=2, fmt="json", stream=out)
    structlog.get_logger("t").debug("shown")
    assert "hidden" not in out.getvalue() and "shown" in out.getvalue()
