"""The heapster command line: Heapster's flags, one-line usage errors with exit 2, plugins, version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from heapster.cli import main
from heapster.flags import heapster_parser, normalize_argv, parse_flags, validate_heapster


def settings_for(*argv: str) -> dict[str, object]:
    return parse_flags(heapster_parser(), ["--source=static:", *argv], validate_heapster)


def test_heapster_defaults() -> None:
    s = settings_for()
    assert s["metric_resolution"] == 60.0 and s["heapster_port"] == 8082
    assert s["sink_export_data_timeout"] == 20.0 and s["label_separator"] == ","
    assert s["sink"] == [] and s["disable_export"] is False and s["listen_ip"] == ""


def test_underscores_and_dashes_are_the_same_flag() -> None:
    a = settings_for("--metric_resolution=30s", "--heapster_port=9000", "--sink_export_data_timeout=1m")
    b = settings_for("--metric-resolution=30s", "--heapster-port=9000", "--sink-export-data-timeout=1m")
    assert a == b and a["metric_resolution"] == 30.0 and a["sink_export_data_timeout"] == 60.0


def test_go_style_single_dash_and_bool_flags() -> None:
    assert normalize_argv(["-source=x", "-v", "-vv", "--v=3"]) == ["--source=x", "-v", "-vv", "--v=3"]
    s = settings_for("--disable_export", "--api-server=false", "--store_label=app,team=owner", "--store_label=x")
    assert s["disable_export"] is True and s["api_server"] is False
    assert s["store_label"] == ["app", "team=owner", "x"]


def test_the_log_flush_frequency_of_kubernetes_logs_is_accepted_as_heapster_did() -> None:
    """Heapster v1.3+ imported k8s.io/apiserver/pkg/util/logs, whose pflag.Duration("log-flush-frequency", 5s)
    sat on the flag set heapster parsed (normalized, so the underscore spelling worked too)."""
    assert settings_for()["log_flush_frequency"] == 5.0
    assert settings_for("--log-flush-frequency=10s")["log_flush_frequency"] == 10.0
    assert settings_for("--log_flush_frequency", "1m")["log_flush_frequency"] == 60.0


def test_glog_level_after_the_v_shorthand_as_pflag_read_it() -> None:
    """pflag made glog's one-letter ``v`` a shorthand (AddGoFlag: ``if len(flag.Name) == 1 { flag.Shorthand =
    flag.Name }``), taking the level as the next argument or attached: heapster -v 4, -v4 and -v=4 were --v=4."""
    assert normalize_argv(["-v", "4", "-v4", "-v=2", "-v", "--sink=log"]) == ["--v=4", "--v=4", "--v=2", "-v",
                                                                            "--sink=log"]
    for argv in (["-v", "4"], ["-v4"], ["-v=4"], ["--v", "4"]):
        assert settings_for(*argv)["glog_v"] == 4
    assert (settings_for("-v")["verbose"], settings_for("-vv", "--v=1")["verbose"]) == (1, 2)  # ours: one step more


def test_repeatable_sinks_keep_their_order() -> None:
    s = settings_for("--sink=log", "--sink=influxdb:http://influx:8086")
    assert s["sink"] == ["log", "influxdb:http://influx:8086"]


@pytest.mark.parametrize(("argv", "expected"), [
    (["--source=static:", "--metric_resolution=4s"], "metric resolution should not be less than 5 seconds"),
    (["--source=static:", "--metric_resolution=soon"], "invalid duration 'soon'"),
    (["--source=static:", "--log-flush-frequency=5"], "invalid duration '5'"),  # pflag: missing unit in duration
    (["--source=static:", "--heapster_port=http"], "argument --heapster-port: invalid int value"),
    (["--source=static:", "--heapster_port=99999"], "--heapster-port 99999 is not a port (0 to 65535)"),
    (["--source=static:", "--heapster_port=-1"], "--heapster-port -1 is not a port (0 to 65535)"),
    (["--source=static:", "--sourc=x"], "unknown flag --sourc (did you mean --source?)"),
    ([], "wrong number of sources specified: 0"),
    (["--source=static:", "--source=static:"], "wrong number of sources specified: 2"),
    (["--source=static:", "--tls_cert=a.pem"], "both --tls_cert and --tls_key"),
    (["--source=static:", "--sink=log", "--historical_source=influxdb:http://x"], "--historical_source must equal"),
    (["--source=nosuch:"], "no source 'nosuch'; installed:"),
    (["--source=static:?nodes=many"], "bad value 'many' for option 'nodes' of source 'static'"),
    (["--source=static:?colour=red"],
     "unknown option 'colour' for source 'static'; valid options: containers, nodes, pods"),
    (["--source=static:", "--sink=nosuch:http://x"], "no sink 'nosuch'; installed:"),
    (["--source=static:", "--allowed_users=alice"], "--allowed_users needs --tls_client_ca"),
    (["--source=static:", "--shard=0/2", "--shard_client_cert=c.pem"], "both --shard_client_cert and --shard_clie"),
    (["--source=static:", "--shard=0/2", "--shard_peer_ca=ca.pem"], "--shard_peer_ca needs --tls_cert and --tls_key"),
    (["--source=static:", "--tls_cert=a.pem", "--tls_key=a.key", "--allowed_users=alice,bob"],
     "--allowed_users needs --tls_client_ca"),
])
def test_usage_errors_exit_2_with_one_line(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("heapster: ")
    assert expected in err


def test_unknown_sink_names_the_distribution_that_provides_it(capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEAPSTER_DISABLE_PLUGINS", "heapster-sink-influxdb")
    assert main(["--source=static:", "--sink=influxdb:http://monitoring-influxdb:8086"]) == 2
    err = capsys.readouterr().err
    assert "no sink 'influxdb'; installed: " in err and "pip install heapster-sink-influxdb" in err


def test_errors_never_show_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source=static:", "--sink=nosuch:http://u:hunter2@x?pw=s3cret"]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err and "s3cret" not in err


def test_version_and_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    from heapster import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"version: {__version__}\ncommit: python\n"
    assert main(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PLUGIN", "DISTRIBUTION", "VERSION", "KEYS"]
    # Aligned: every column starts where its header does.
    starts = [lines[0].index(title) for title in ("DISTRIBUTION", "VERSION", "KEYS")]
    log = next(line for line in lines if line.startswith("log "))
    assert [log.index(cell) for cell in ("heapster-core", __version__, "event sink: log")] == starts
    assert all(line[starts[0] - 3:starts[0]] == "   " for line in lines[1:])
    static = next(line for line in lines if line.startswith("static "))
    assert static[starts[2]:] == "event source: static; source: static"


def test_plugins_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["plugins", "--format=json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    log = next(p for p in listing["plugins"] if p["name"] == "log")
    assert log["distribution"] == "heapster-core" and log["module"] == "heapster.sinks.log"
    assert log["keys"] == {"event sink": ["log"], "sink": ["log"]} and listing["failures"] == []
    assert main(["plugins", "--format=yaml"]) == 2
    assert "invalid choice: 'yaml'" in capsys.readouterr().err


def test_shard_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert settings_for("--shard=1/3")["shard"] == (1, 3)
    assert main(["--source=static:", "--shard=3/3"]) == 2
    assert "invalid shard '3/3'" in capsys.readouterr().err


def test_shard_from_the_statefulset_pod_name(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "heapster-2")
    assert settings_for("--shard=auto/3")["shard"] == (2, 3)
    monkeypatch.setenv("POD_NAME", "heapster")
    assert main(["--source=static:", "--shard=auto/3"]) == 2
    assert "pod name 'heapster' (from $POD_NAME) does not end in -<ordinal>" in capsys.readouterr().err


def test_peers_need_a_source_that_can_find_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source=static:", "--shard=1/3", "--shard_service=heapster"]) == 2
    err = capsys.readouterr().err
    assert "no peer discovery 'static'; installed:" in err  # the kubernetes source's, when installed
    assert main(["--source=static:", "--shard=1/3", "--shard_peer_timeout=0s"]) == 2
    assert "--shard_peer_timeout must be positive" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "expected"), [
    (["--tls_cert=/nonexistent.pem", "--tls_key=/nonexistent.key"],
     "heapster: cannot load --tls_cert/--tls_key: No such file or directory"),
    (["--tls_cert={pem}", "--tls_key={pem}"], "heapster: cannot load --tls_cert/--tls_key: [SSL] PEM lib"),
])
def test_tls_files_that_cannot_be_loaded_name_the_flag_and_exit_2(flags: list[str], expected: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Was: 'cannot serve the HTTP API on 0.0.0.0:0: No such file or directory' (exit 1), naming no file."""
    pem = tmp_path / "garbage.pem"
    pem.write_text("not a certificate\n")
    argv = ["--source=static:", "--heapster_port=0", *(flag.format(pem=pem) for flag in flags)]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith(expected)


def test_a_port_in_use_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--source=static:", "--listen_ip=127.0.0.1", f"--heapster_port={port}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("heapster: cannot serve the HTTP API on 127.0.0.1:") and "in use" in err


def test_the_event_loop_is_asyncio_unless_uvloop_is_asked_for_and_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from heapster.cli import event_loop_factory

    monkeypatch.delenv("HEAPSTER_UVLOOP", raising=False)
    assert event_loop_factory() is None
    monkeypatch.setenv("HEAPSTER_UVLOOP", "1")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # not installed: asyncio's loop, no failure
    assert event_loop_factory() is None
    fake = type(sys)("uvloop")
    fake.new_event_loop = asyncio.new_event_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", fake)
    assert event_loop_factory() is asyncio.new_event_loop
    monkeypatch.setenv("HEAPSTER_UVLOOP", "0")
    assert event_loop_factory() is None


def test_the_scrape_loop_is_of_the_daemons_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """HEAPSTER_UVLOOP=1 puts the scrape thread's loop (where kubelets are read) on uvloop too."""
    import sys

    from heapster.scrapeloop import ScrapeLoop

    made: list[asyncio.AbstractEventLoop] = []

    def new_event_loop() -> asyncio.AbstractEventLoop:
        made.append(asyncio.new_event_loop())
        return made[-1]

    fake = type(sys)("uvloop")
    fake.new_event_loop = new_event_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", fake)
    for setting, expected in (("0", 0), ("1", 1)):
        monkeypatch.setenv("HEAPSTER_UVLOOP", setting)
        loop = ScrapeLoop()
        try:
            assert len(made) == expected
            assert made == [] or loop.loop is made[-1]
        finally:
            loop.close()
