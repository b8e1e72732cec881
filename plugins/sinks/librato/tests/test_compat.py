"""Every real-world Heapster command line with a librato sink is accepted."""

from __future__ import annotations

import pytest

from heapster.errors import UsageError
from heapster.testing.compat import check_heapster_cmdline, cmdlines_with_sink

LINES = cmdlines_with_sink("librato")


def test_the_collection_has_librato_lines() -> None:
    assert LINES


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_real_command_line_is_accepted(argv: list[str]) -> None:
    check_heapster_cmdline(argv, sinks={"librato"})


@pytest.mark.parametrize("spec", ["librato:?username=u", "librato:?token=t",
                                  "librato:?username=u&token=t&tagcluster=a"])
def test_a_bad_uri_is_refused_as_heapster_would_be_told(spec: str) -> None:
    with pytest.raises(UsageError):
        check_heapster_cmdline(["--source=kubernetes", f"--sink={spec}"], sinks={"librato"})
