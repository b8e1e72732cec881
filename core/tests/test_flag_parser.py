"""heapster.flags.FlagParser builds without loading shutil, and its help reads as argparse's."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_building_a_flag_parser_loads_no_shutil_and_help_reads_as_argparses(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from heapster.flags import FlagParser

    monkeypatch.setenv("COLUMNS", "70")
    parsers = [cls(prog="x", description="d") for cls in (FlagParser, argparse.ArgumentParser)]
    for parser in parsers:
        parser.add_argument("--source", action="append", metavar="KEY:URI", help="a source " * 12)
        parser.add_argument("--pair", nargs=2, metavar=("A", "B"), help="two")
    assert parsers[0].format_help() == parsers[1].format_help()
    with pytest.raises(ValueError, match="length of metavar tuple"):
        parsers[0].add_argument("--bad", nargs=2, metavar=("A", "B", "C"))
    code = ("import sys\nfrom heapster.flags import FlagParser\np = FlagParser(prog='x')\n"
            "p.add_argument('--a', help='b')\nprint('shutil' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
