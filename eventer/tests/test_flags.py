"""The eventer's flags: Heapster's names and defaults, and one-line usage errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from heapster.errors import UsageError
from heapster_eventer.flags import parse_args


def test_defaults_are_heapsters() -> None:
    opts = parse_args(["--source=kubernetes:https://kubernetes.default"])
    assert opts.sinks == []
    assert opts.frequency == 30.0
    assert (opts.healthz_ip, opts.healthz_port) == ("0.0.0.0", 8084)
    assert opts.max_procs == 0
    assert not opts.leader_elect
    assert opts.leader_elect_lease == ("kube-system", "heapster-eventer")
    assert opts.checkpoint_file is None and opts.checkpoint_configmap is None


def test_go_spellings_and_repeated_sinks() -> None:
    opts = parse_args(["-source=kubernetes:''", "--sink=log", "--sink", "influxdb:http://i:8086", "--max_procs=2",
                       "--healthz_port=9000", "-frequency=1m", "--leader-elect", "--checkpoint_configmap=ns/cp"])
    assert opts.source == "kubernetes:''"
    assert opts.sinks == ["log", "influxdb:http://i:8086"]
    assert (opts.max_procs, opts.healthz_port, opts.frequency) == (2, 9000, 60.0)
    assert opts.leader_elect
    assert opts.checkpoint_configmap == ("ns", "cp")


@pytest.mark.parametrize(("argv", "message"), [
    ([], "exactly one --source"),
    (["--source=a", "--source=b"], "exactly one --source"),
    (["--source=k", "--frequency=4s"], "between 5s and 3m"),
    (["--source=k", "--frequency=181s"], "between 5s and 3m"),
    (["--source=k", "--frequency=soon"], "invalid duration"),
    (["--source=k", "--checkpoint-configmap=justname"], "NAMESPACE/NAME"),
    (["--source=k", "--checkpoint-file=a", "--checkpoint-configmap=n/c"], "not both"),
    (["--source=k", "--leader-elect", "--leader-elect-renew-deadline=20s"], "leader election needs"),
    (["--source=k", "--no-such-flag"], "unknown flag"),
    # heapster's (pflag) only: Go's eventer parsed the standard flag set, where it was "provided but not defined"
    (["--source=k", "--log-flush-frequency=5s"], "unknown flag"),
])
def test_bad_flags_are_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_args(argv)


def test_frequency_limits_are_inclusive() -> None:
    assert parse_args(["--source=k", "--frequency=5s"]).frequency == 5.0
    assert parse_args(["--source=k", "--frequency=3m"]).frequency == 180.0


def _eventer(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from heapster_eventer.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_bad_flag_exits_2_with_one_line() -> None:
    done = _eventer("--source=kubernetes:http://127.0.0.1:1?inClusterConfig=false", "--frequency=1s")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "--frequency" in done.stderr


def test_bad_uri_option_and_unknown_sink_exit_2() -> None:
    bad_option = _eventer("--source=kubernetes:http://127.0.0.1:1?inClusterConfig=false&nope=1")
    assert bad_option.returncode == 2
    assert "nope" in bad_option.stderr and bad_option.stderr.strip().count("\n") == 0
    unknown = _eventer("--source=kubernetes:http://127.0.0.1:1?inClusterConfig=false", "--sink=nosuch:")
    assert unknown.returncode == 2
    assert "nosuch" in unknown.stderr and unknown.stderr.strip().count("\n") == 0


def test_version() -> None:
    done = _eventer("--version")
    assert done.returncode == 0
    from heapster_eventer import __version__

    assert done.stdout == f"version: {__version__}\ncommit: python\n"  # heapster --version's format


def test_a_heapster_source_line_is_no_usage_error_and_warns_only_once_the_flags_are_good() -> None:
    """Go's eventer ignored the kubelet options of a --source copied from heapster's command line; its usage errors
    stay one line (the warning about those options comes after every check)."""
    heapster_line = "--source=kubernetes:http://127.0.0.1:1?inClusterConfig=false&kubeletHttps=false&kubeletPort=10255"
    bad_sink = _eventer(heapster_line, "--sink=nosuch:")
    assert bad_sink.returncode == 2
    assert "nosuch" in bad_sink.stderr and bad_sink.stderr.strip().count("\n") == 0
    still_unknown = _eventer(heapster_line + "&nope=1")
    assert still_unknown.returncode == 2 and "unknown option 'nope'" in still_unknown.stderr
