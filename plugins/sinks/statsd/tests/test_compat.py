"""Every real-world Heapster command line with a statsd sink is accepted."""

from __future__ import annotations

import pytest

from heapster.errors import UsageError
from heapster.testing.compat import check_heapster_cmdline, cmdlines_with_sink

LINES = cmdlines_with_sink("statsd")


def test_the_collection_has_statsd_lines() -> None:
    assert LINES


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_real_command_line_is_accepted(argv: list[str]) -> None:
    check_heapster_cmdline(argv, sinks={"statsd"})


@pytest.mark.parametrize("spec", ["statsd:udp://d:1?protocolType=dogstatsd", "statsd:udp://d:notaport",
                                  "statsd:udp://d:8125?numMetricsPerMsg=0"])
def test_a_bad_uri_is_refused_as_heapster_would_be_told(spec: str) -> None:
    with pytest.raises(UsageError):
        check_heapster_cmdline(["--source=kubernetes", f"--sink={spec}"], sinks={"statsd"})
