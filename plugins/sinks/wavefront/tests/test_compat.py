"""Every real-world Heapster command line with a wavefront sink is accepted."""

from __future__ import annotations

import pytest

from heapster.errors import UsageError
from heapster.testing.compat import check_heapster_cmdline, cmdlines_with_sink

LINES = cmdlines_with_sink("wavefront")


def test_the_collection_has_wavefront_lines() -> None:
    assert LINES


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_real_command_line_is_accepted(argv: list[str]) -> None:
    check_heapster_cmdline(argv, sinks={"wavefront"})


@pytest.mark.parametrize("spec", ["wavefront:proxy:notaport", "wavefront:proxy:2878?includeContainers=maybe",
                                  "wavefront:proxy:2878?clustername=a"])
def test_a_bad_uri_is_refused_as_heapster_would_be_told(spec: str) -> None:
    with pytest.raises(UsageError):
        check_heapster_cmdline(["--source=kubernetes", f"--sink={spec}"], sinks={"wavefront"})
