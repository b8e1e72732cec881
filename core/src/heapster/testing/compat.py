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
