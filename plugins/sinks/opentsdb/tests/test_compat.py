"""Every real-world Heapster command line with a opentsdb sink is accepted."""

from __future__ import annotations

import pytest

from heapster.errors import UsageError
from heapster.testing.compat import check_heapster_cmdline, cmdlines_with_sink

LINES = cmdlines_with_sink("opentsdb")


def test_the_collection_has_opentsdb_lines() -> None:
    assert LINES


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_real_command_line_is_accepted(argv: list[str]) -> None:
    check_heapster_cmdline(argv, sinks={"opentsdb"})


@pytest.mark.parametrize("spec", ["opentsdb:http://t:x", "opentsdb:?cluster=a%20b",
                                  "opentsdb:?clustr=a"])
def test_a_bad_uri_is_refused_as_heapster_would_be_told(spec: str) -> None:
    with pytest.raises(UsageError):
        check_heapster_cmdline(["--source=kubernetes", f"--sink={spec}"], sinks={"opentsdb"})
