"""URI forms and options: Heapster's defaults, usage errors naming the bad part, real command lines."""

from __future__ import annotations

import pytest

from heapster.errors import UsageError
from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.testing.compat import check_heapster_cmdline, cmdlines_with_sink


def config(spec: str):
    return load_plugins().build_metric_sink(spec, PluginContext()).config


def test_defaults_are_heapsters() -> None:
    c = config("riemann:")
    assert (c.host, c.port, c.ttl, c.state, c.tags, c.batch_size) == ("riemann-heapster", 5555, 60.0, "", ("heapster",),
                                                                      1000)


@pytest.mark.parametrize(("spec", "host", "port"), [
    ("riemann:http://localhost:5555", "localhost", 5555),
    ("riemann:tcp://riemann.monitoring:5556?ttl=30", "riemann.monitoring", 5556),
    ("riemann:localhost:5557", "localhost", 5557),
])
def test_uri_forms(spec: str, host: str, port: int) -> None:
    c = config(spec)
    assert (c.host, c.port) == (host, port)


def test_the_docs_example() -> None:
    c = config("riemann:http://localhost:5555?ttl=120&state=ok&tags=foobar&batchsize=150")
    assert (c.ttl, c.state, c.tags, c.batch_size) == (120.0, "ok", ("foobar",), 150)


@pytest.mark.parametrize(("spec", "named"), [
    ("riemann:?ttl=soon", "ttl"),
    ("riemann:?batchsize=0", "batchsize"),
    ("riemann:?batchsize=x", "batchsize"),
    ("riemann:tcp://host?ttl=1", "address"),
    ("riemann:?host=x", "host"),
])
def test_a_bad_value_is_a_usage_error_naming_it(spec: str, named: str) -> None:
    with pytest.raises(UsageError, match=named):
        config(spec)


def test_the_real_world_lines_are_there() -> None:
    assert cmdlines_with_sink("riemann")


@pytest.mark.parametrize("argv", cmdlines_with_sink("riemann"), ids=" ".join)
def test_every_real_world_command_line_with_riemann_is_accepted(argv: list[str]) -> None:
    check_heapster_cmdline(argv, sinks={"riemann"})
