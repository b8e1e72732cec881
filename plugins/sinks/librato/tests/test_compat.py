"""Every real-world Heapster command line with a librato sink is accepted; a bad librato URI exits 2."""

from __future__ import annotations

import pytest

from heapster.cli import main
from heapster.testing.compat import check_heapster_cmdline, cmdlines_with_sink

LINES = cmdlines_with_sink("librato")


def test_the_collection_has_librato_lines() -> None:
    assert LINES


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_real_command_line_is_accepted(argv: list[str]) -> None:
    check_heapster_cmdline(argv, sinks={"librato"})


@pytest.mark.parametrize("spec", [
    "librato:?username=u",
    "librato:?token=t0psecret",
    "librato:?username=u&token=t0psecret&tagcluster=a",
])
def test_a_bad_uri_exits_2_with_one_line(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source=static:", f"--sink={spec}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("heapster: ") and err.count("\n") == 1 and "librato" in err
    assert "t0psecret" not in err
