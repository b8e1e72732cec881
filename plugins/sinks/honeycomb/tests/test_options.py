"""Options: Heapster's defaults, the HONEYCOMB_WRITEKEY variable, usage errors, real command lines."""

from __future__ import annotations

import pytest

from heapster.errors import UsageError
from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.testing.compat import check_heapster_cmdline, cmdlines_with_sink


def config(spec: str):
    return load_plugins().build_metric_sink(spec, PluginContext()).config


def test_defaults_are_heapsters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HONEYCOMB_WRITEKEY", "from-env")
    c = config("honeycomb:")
    assert (c.dataset, c.writekey, c.batch_url) == ("heapster", "from-env", "https://api.honeycomb.io/1/batch/heapster")


def test_the_option_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HONEYCOMB_WRITEKEY", "from-env")
    assert config("honeycomb:?writekey=from-uri&dataset=k8s").writekey == "from-uri"


def test_no_write_key_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HONEYCOMB_WRITEKEY", raising=False)
    with pytest.raises(UsageError, match="writekey"):
        config("honeycomb:?dataset=x")


@pytest.mark.parametrize(("spec", "named"), [
    ("honeycomb:?writekey=k&apihost=api.honeycomb.io", "apihost"),
    ("honeycomb:?writekey=k&dataset=", "dataset"),
    ("honeycomb:?writekey=k&key=x", "key"),
])
def test_a_bad_option_is_a_usage_error_naming_it(spec: str, named: str) -> None:
    with pytest.raises(UsageError, match=named):
        config(spec)


def test_the_write_key_never_reaches_the_logged_uri() -> None:
    assert "secretwritekey" not in config("honeycomb:?dataset=mydataset&writekey=secretwritekey").masked_uri


def test_the_real_world_lines_are_there() -> None:
    assert cmdlines_with_sink("honeycomb")


@pytest.mark.parametrize("argv", cmdlines_with_sink("honeycomb"), ids=" ".join)
def test_every_real_world_command_line_with_honeycomb_is_accepted(argv: list[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HONEYCOMB_WRITEKEY", raising=False)  # the line itself carries the key
    check_heapster_cmdline(argv, sinks={"honeycomb"})
