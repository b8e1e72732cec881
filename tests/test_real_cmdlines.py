"""Every real-world Heapster command line (tests/fixtures/heapster-cmdlines.txt, a copy of ../shared/compat) is
read as Heapster v1.5-v1.6 read it: accepted with every sink built that this project provides, or refused with
exit 2 naming the flag where Heapster refused it too (flags of v1.3.0-beta or before 1.0, Go's ``-port`` of
v1.2). Templates a deployer expands before heapster runs are filled in first, as the file's header describes;
``$VAR`` inside ``--source``/``--sink`` is heapster's own expansion, from the environment.

Top-level: it needs every sink distribution installed (each sink's own tests check only its lines)."""

from __future__ import annotations

import re

import pytest

from heapster.errors import UsageError
from heapster.plugins import METRIC_SINK, load_plugins
from heapster.testing.compat import check_heapster_cmdline, heapster_cmdlines

REFUSED = {
    "service-cluster-ip-range": "a v1.3.0-beta genericapiserver flag",
    "poll-duration": "a flag of Heapster before 1.0",
    "stats-resolution": "a flag of Heapster before 1.0",
    "use-model": "a flag of Heapster before 1.0",
    "port": "Go's flag package form of heapster <= v1.2 (--heapster-port since v1.3)",
}
"""Flags Heapster v1.5-v1.6 did not have (pflag: unknown flag, usage, exit 2), by their normalized name."""

VALUES = [  # (a placeholder's name contains this, the value it is deployed with), first match wins
    ("resources", "true"), ("RESOLUTION", "30s"), ("resolution", "30s"), ("VERBOSITY", "2"), ("verbosity", "2"),
    ("RETENTION", "0s"), ("concurrency", "4"), ("HTTPS", "true"), ("MASTER_URL", "https://kubernetes.default.svc"),
    ("PORT", "10250"), ("HOST", "10.0.0.1"), ("endpoint", "127.0.0.1:8125"), ("location", "us-central1-a"),
]
"""Deployed values for the templates' placeholders ({{x}}, ${X}, $(X), %x%, [X]); any other becomes ``x``."""

ENVIRONMENT = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HEAPSTER_PASSWORD": "secret"}
"""What heapster's own expansion of ``$VAR`` in --source/--sink finds in the pod (Rancher, the OpenShift wrapper)."""

_TEMPLATE = re.compile(r"\{\{\s*([^}]*?)\s*\}\}|\$\{(\w+)\}|\$\((\w+)\)|%(\w+)%|\[([A-Z_]+)\]")
_SHELL = re.compile(r"\$([A-Z_]+)")


def deployed(placeholder: str) -> str:
    return next((value for part, value in VALUES if part in placeholder), "x")


def rendered(argv: list[str]) -> list[str]:
    """The line as the container receives it: the deployer's templates filled in, ``$VAR`` outside
    --source/--sink substituted (Rancher's sed); inside them heapster expands it itself."""
    out = []
    for raw in argv:
        arg = _TEMPLATE.sub(lambda m: deployed(next(g for g in m.groups() if g is not None)), raw)
        if not arg.lstrip("-").startswith(("source", "sink")):
            arg = _SHELL.sub(lambda m: deployed(m.group(1)), arg)
        out.append(arg)
    return out


def refused_flag(argv: list[str]) -> str | None:
    """The first flag of the line Heapster v1.5-v1.6 did not have."""
    for arg in argv:
        if arg.startswith("-"):
            name = arg.lstrip("-").partition("=")[0].replace("_", "-")
            if name in REFUSED:
                return name
    return None


LINES = heapster_cmdlines()


def test_the_collection_is_there() -> None:
    assert len(LINES) >= 60
    assert sum(refused_flag(argv) is not None for argv in LINES) >= 5


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_every_real_command_line_reads_as_in_heapster(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    plugins = load_plugins()
    line = rendered(argv)
    flag = refused_flag(argv)
    if flag is None:
        check_heapster_cmdline(line, sinks=set(plugins.keys(METRIC_SINK)), plugins=plugins)
        return
    with pytest.raises(UsageError, match=rf"unknown flag --{re.escape(flag)}\b"):
        check_heapster_cmdline(line, sinks=set(plugins.keys(METRIC_SINK)), plugins=plugins)


def test_the_kubernetes_source_of_every_real_line_configures_the_eventers_source_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment may give the eventer its heapster container's ``--source``: Go's eventer read the API options of
    it only (common/kubernetes/configs.go) and ignored the kubelet ones, which ours accepts and names."""
    from heapster.plugins import EVENT_SOURCE
    from heapster_source_kubernetes.plugin import KUBELET_OPTIONS

    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    plugins = load_plugins()
    sources = {arg.partition("=")[2] for argv in LINES if refused_flag(argv) is None for arg in rendered(argv)
               if arg.lstrip("-").startswith("source=kubernetes:")}
    ignored: set[str] = set()
    for source in sources:
        ignored.update(plugins.configure(EVENT_SOURCE, source)[1].ignored)
    assert ignored == {"kubeletHttps", "kubeletPort"} <= {o.name for o in KUBELET_OPTIONS}
