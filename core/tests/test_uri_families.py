"""Option families (``tag_*``) and the real-world command-line helper."""

from __future__ import annotations

import pytest

from heapster.errors import UsageError
from heapster.interfaces import Option, OptionKind
from heapster.testing.compat import cmdlines_with_sink, heapster_cmdlines, sink_key
from heapster.uri import parse_uri, resolve_options

OPTIONS = [Option("tags"), Option("tag_*"), Option("n_*", OptionKind.INT)]


def test_a_family_collects_every_member() -> None:
    config = resolve_options(parse_uri("librato:?tags=a&tag_a=1&tag_b=2&n_x=3"), OPTIONS, "sink 'x'")
    assert config["tag_*"] == {"a": "1", "b": "2"} and config["n_*"] == {"x": 3} and config["tags"] == "a"


def test_a_family_is_empty_by_default_and_its_bare_prefix_is_unknown() -> None:
    assert resolve_options(parse_uri("x:"), OPTIONS, "sink 'x'")["tag_*"] == {}
    with pytest.raises(UsageError, match=r"unknown option 'tag_'.*tag_<name>"):
        resolve_options(parse_uri("x:?tag_=1"), OPTIONS, "sink 'x'")
    with pytest.raises(UsageError, match="'n_x'"):
        resolve_options(parse_uri("x:?n_x=y"), OPTIONS, "sink 'x'")


def test_command_lines() -> None:
    lines = heapster_cmdlines()
    assert len(lines) > 50 and all(" " not in arg for argv in lines for arg in argv)
    assert sink_key("--sink=statsd:udp://x") == "statsd" and sink_key("--sink=log") == "log"
    assert sink_key("--source=kubernetes") is None
    assert all(any(a.startswith("--sink=graphite:") for a in argv) for argv in cmdlines_with_sink("graphite"))
