"""Secrets never reach a log line."""

from __future__ import annotations

import base64
import io
import json
import logging

import structlog

from heapster.logs import configure, mask_secrets, register_secret


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


def test_basic_credentials_and_registered_secrets_are_masked_in_every_form() -> None:
    basic = base64.b64encode(b"bob:Sq3ak-y").decode()
    assert basic not in mask_secrets(f"server said: Authorization: Basic {basic} is not valid")
    register_secret("T0ps3cret!", user="carol")
    out = io.StringIO()
    configure(verbosity=0, fmt="json", stream=out)
    carol = base64.b64encode(b"carol:T0ps3cret!").decode()
    structlog.get_logger("t").error("sink.failed", error=f"echo of {carol} and T0ps3cret%21 and T0ps3cret!")
    logging.getLogger("some.client").error("request to http://h/?x=T0ps3cret%21 failed")
    text = out.getvalue()
    for form in (carol, "T0ps3cret", "T0ps3cret%21"):
        assert form not in text
    assert text.count("sink.failed") == 1 and "request to http://h/" in text
