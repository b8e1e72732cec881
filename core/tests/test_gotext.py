"""Go's strconv.Quote (%q) and strconv.ParseUint, as Heapster's messages carry them."""

from __future__ import annotations

import re

import pytest

from heapster.gotext import go_quote, parse_uint64


@pytest.mark.parametrize(("text", "quoted"), [
    ("resource_id", '"resource_id"'), ("", '""'), ('a"b\\c', '"a\\"b\\\\c"'),
    ("é日本", '"é日本"'),  # printable non-ASCII kept (json.dumps and repr differ here)
    ("a\nb\t\x01\x7f", '"a\\nb\\t\\x01\\x7f"'), ("\u00a0\u200b", '"\\u00a0\\u200b"'), ("\U000e0001", '"\\U000e0001"'),
])
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_parse_uint64() -> None:
    assert parse_uint64("0") == 0 and parse_uint64("18446744073709551615") == 2**64 - 1
    for bad, why in (("", "invalid syntax"), ("+5", "invalid syntax"), ("٣", "invalid syntax"),
                     ("18446744073709551616", "value out of range")):
        with pytest.raises(ValueError, match=re.escape(f"strconv.ParseUint: parsing {go_quote(bad)}: {why}")):
            parse_uint64(bad)
