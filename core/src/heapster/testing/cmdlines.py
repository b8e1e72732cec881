"""Real-world Heapster command lines (``tests/fixtures/heapster-cmdlines.txt``) checked against installed plugins.

A line is *accepted* when heapster's flag parser takes it and every ``--sink`` of the given key is
configured and built by its plugin without a usage error (exit 2). Template placeholders
(``{{ name }}``, expanded by Helm/Salt before heapster ever sees them) are filled with plausible values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from heapster.flags import heapster_parser, parse_flags, validate_heapster
from heapster.interfaces import PluginContext
from heapster.plugins import Plugins, load_plugins
from heapster.uri import parse_uri

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
DEFAULT_SOURCE = "--source=kubernetes.summary_api:''"
"""Added to documentation fragments, which show only the sink flag."""


def cmdlines(path: Path) -> list[str]:
    """Every command line of the file (comments and blank lines skipped)."""
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]


def sink_keys(line: str) -> list[str]:
    """The keys of the line's ``--sink`` flags, as heapster splits them."""
    return [arg.split("=", 1)[1].partition(":")[0] for arg in line.split(" ") if arg.startswith("--sink=")]


def lines_using(path: Path, key: str) -> list[str]:
    """The lines with a ``--sink`` whose key is exactly ``key``."""
    return [line for line in cmdlines(path) if key in sink_keys(line)]


def fill_templates(text: str, values: Mapping[str, str]) -> str:
    """``{{name}}`` replaced by ``values[name]`` (``"x"`` when not given)."""
    return _TEMPLATE.sub(lambda m: values.get(m.group(1), "x"), text)


def check_accepted(line: str, key: str, *, values: Mapping[str, str] | None = None,
                   plugins: Plugins | None = None) -> list[object]:
    """Parse the line and build each of its ``key`` sinks (metrics and, when registered, events).

    Raises what heapster would raise (``UsageError`` for exit 2); returns the built sinks.
    """
    plugins = plugins or load_plugins()
    argv = fill_templates(line, values or {}).split(" ")
    if not any(arg.startswith("--source") for arg in argv):
        argv.insert(0, DEFAULT_SOURCE)
    settings = parse_flags(heapster_parser(), argv, validate_heapster)
    built: list[object] = []
    context = PluginContext(settings=settings)
    for spec in settings["sink"]:
        uri = parse_uri(spec)
        if uri.key != key:
            continue
        built.append(plugins.build_metric_sink(spec, context))
        if key in plugins.keys("event sink"):
            built.append(plugins.build_event_sink(spec, context))
    return built
