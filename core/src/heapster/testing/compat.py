"""Real-world Heapster command lines (``tests/fixtures/heapster-cmdlines.txt``) and a check that heapster
accepts one without a cluster: flags, cross-flag rules, each named sink's URI and options, and building
the sink (which must not touch the network).

Use it in a sink's tests::

    @pytest.mark.parametrize("argv", cmdlines_with_sink("graphite"), ids=" ".join)
    def test_real_command_lines_are_accepted(argv):
        check_heapster_cmdline(argv, sinks={"graphite"})
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from heapster.flags import parse_heapster_settings
from heapster.interfaces import PluginContext
from heapster.plugins import Plugins, load_plugins
from heapster.testing.fixtures import fixtures_dir

CMDLINES_FILE = "heapster-cmdlines.txt"
DEFAULT_SOURCE = "--source=kubernetes.summary_api:''"
"""Added to documentation fragments that show only ``--sink`` (Heapster needs exactly one source)."""


def heapster_cmdlines(path: Path | None = None) -> list[list[str]]:
    """Every command line of the file as an argv (the file's lines split on single spaces)."""
    text = (path or fixtures_dir() / CMDLINES_FILE).read_text()
    return [line.split(" ") for line in text.splitlines() if line.strip() and not line.startswith("#")]


def sink_key(arg: str) -> str | None:
    """The sink key of a ``--sink=KEY[:URL]`` / ``-sink=...`` argument, else None."""
    name, sep, value = arg.lstrip("-").partition("=")
    if not sep or name != "sink" or not arg.startswith("-"):
        return None
    return value.partition(":")[0]


def cmdlines_with_sink(*keys: str, path: Path | None = None) -> list[list[str]]:
    """The command lines that use at least one of the sink ``keys``."""
    return [argv for argv in heapster_cmdlines(path) if any(sink_key(a) in keys for a in argv)]


def check_heapster_cmdline(argv: Sequence[str], sinks: Collection[str], plugins: Plugins | None = None) -> None:
    """Parse ``argv`` as ``heapster`` would and build every ``--sink`` whose key is in ``sinks``.

    Raises :class:`heapster.errors.UsageError` (exit status 2) where heapster would refuse the line.
    A line without ``--source`` (a documentation fragment) gets :data:`DEFAULT_SOURCE`.
    """
    args = list(argv)
    if not any(a.lstrip("-").startswith("source") for a in args):
        args.insert(0, DEFAULT_SOURCE)
    settings = parse_heapster_settings(args)
    plugins = plugins or load_plugins()
    context = PluginContext(settings=settings)
    for spec in settings.sink:
        if spec.partition(":")[0] in sinks:
            registration, config = plugins.configure("sink", spec)
            registration.factory(config, context)


class SinkCompatSuite:
    """Every real-world Heapster command line naming the sink is accepted; a bad URI exits 2 with one line.

    Subclass it in a sink's tests, giving the sink's key and URIs heapster must refuse::

        class TestCompat(SinkCompatSuite):
            sink = "graphite"
            bad_uris = ("graphite:http://carbon:2003", "graphite:tcp://carbon:notaport")

    A secret in a refused URI is spelled ``t0psecret``: it must not appear in the error.
    """

    sink = ""
    bad_uris: Sequence[str] = ()

    def pytest_generate_tests(self, metafunc: Any) -> None:
        if "argv" in metafunc.fixturenames:
            metafunc.parametrize("argv", cmdlines_with_sink(self.sink), ids=" ".join)
        if "bad_uri" in metafunc.fixturenames:
            metafunc.parametrize("bad_uri", self.bad_uris)

    def test_the_collection_has_lines_of_the_sink(self) -> None:
        assert cmdlines_with_sink(self.sink)

    def test_real_command_line_is_accepted(self, argv: list[str]) -> None:
        check_heapster_cmdline(argv, sinks={self.sink})

    def test_a_bad_uri_exits_2_with_one_line(self, bad_uri: str, capsys: Any) -> None:
        from heapster.cli import main

        assert main(["--source=static:", f"--sink={bad_uri}"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("heapster: ") and err.count("\n") == 1 and self.sink in err
        assert "t0psecret" not in err
