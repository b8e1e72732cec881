"""Every real-world Heapster command line with a statsd sink is accepted; a bad statsd URI exits 2."""

from __future__ import annotations

import pytest

from heapster.cli import main
from heapster.testing.compat import check_heapster_cmdline, cmdlines_with_sink

LINES = cmdlines_with_sink("statsd")


def test_the_collection_has_statsd_lines() -> None:
    assert LINES


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_real_command_line_is_accepted(argv: list[str]) -> None:
    check_heapster_cmdline(argv, sinks={"statsd"})


@pytest.mark.parametrize("spec", ["statsd:udp://d:1?protocolType=dogstatsd", "statsd:udp://d:notaport", "statsd:udp://d:8125?numMetricsPerMsg=0"])
def test_a_bad_uri_exits_2_with_one_line(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source=static:", f"--sink={spec}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("heapster: ") and err.count("\n") == 1 and "statsd" in err
    assert "t0psecret" not in err
