"""Options: Heapster's names and defaults, its URI rules, and the real GKE command lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from heapster.errors import PermanentError, UsageError
from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.testing.compat import check_heapster_cmdline, cmdlines_with_sink

# What Salt/Helm put in place of the templates of the GKE add-on manifests.
RENDERED = {"cluster_name": "cluster-1", "use_old_resources": "true", "use_new_resources": "false",
            "cluster_location": "us-central1-a"}


def build(spec: str):
    return load_plugins().build_metric_sink(spec, PluginContext())


def test_defaults_are_heapsters() -> None:
    c = build("stackdriver:").config
    assert (c.use_old_resources, c.use_new_resources, c.min_interval, c.batch_export_timeout, c.initial_delay) == (
        True, False, 0.0, 60.0, 3.0)
    assert (c.cluster_name, c.cluster_location, c.zone) == ("", "", "")
    assert build("stackdriver:").name == "Stackdriver Sink"


@pytest.mark.parametrize(("spec", "named"), [
    ("stackdriver:https://monitoring.googleapis.com", "scheme"),
    ("stackdriver://host", "host"),
    ("stackdriver:?use_old_resources=maybe", "use_old_resources"),
    ("stackdriver:?min_interval_sec=1m", "min_interval_sec"),
    ("stackdriver:?batch_export_timeout_sec=0", "batch_export_timeout_sec"),
    ("stackdriver:?insecure=true", "endpoint"),
    ("stackdriver:?metrics=autoscaling", "metrics"),
])
def test_a_bad_value_is_a_usage_error_naming_it(spec: str, named: str) -> None:
    with pytest.raises(UsageError, match=named):
        build(spec)


async def test_off_gce_the_old_model_needs_a_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_PROJECT_ID", "from-env")
    sink = build("stackdriver:?insecure=true&endpoint=127.0.0.1:1")
    with pytest.raises(PermanentError, match="zone"):
        await sink.start()
    sink = build("stackdriver:?insecure=true&endpoint=127.0.0.1:1&zone=europe-west1-c")
    await sink.start()
    assert sink.target.project == "from-env" and sink.target.zone == "europe-west1-c"
    await sink.close()


async def test_the_project_comes_from_the_credentials_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GOOGLE_PROJECT_ID", raising=False)
    credentials = tmp_path / "sa.json"
    credentials.write_text('{"type": "service_account", "project_id": "from-file"}')
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
    sink = build("stackdriver:?insecure=true&endpoint=127.0.0.1:1&use_old_resources=false&use_new_resources=true"
                 "&cluster_name=c&cluster_location=l")
    await sink.start()
    assert (sink.target.project, sink.target.cluster_location) == ("from-file", "l")
    await sink.close()


def rendered(argv: list[str]) -> list[str]:
    """The line as Salt/Helm hand it to heapster: ``{{name}}`` templates filled in."""
    return [re.sub(r"\{\{(\w+)\}\}", lambda m: RENDERED[m.group(1)], arg) for arg in argv]


def test_the_real_world_lines_are_there() -> None:
    assert len(cmdlines_with_sink("stackdriver")) >= 3


@pytest.mark.parametrize("argv", cmdlines_with_sink("stackdriver"), ids=" ".join)
def test_every_real_world_command_line_with_stackdriver_is_accepted(argv: list[str]) -> None:
    check_heapster_cmdline(rendered(argv), sinks={"stackdriver"})
