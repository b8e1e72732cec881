"""The plugin contract's data: provider hints, historical sources, typed settings and option kinds."""

from __future__ import annotations

import dataclasses

import pytest

from heapster.app import build_daemon
from heapster.cli import main
from heapster.errors import UsageError
from heapster.flags import heapster_parser, parse_flags, parse_heapster_settings
from heapster.interfaces import Option, OptionKind, PluginContext
from heapster.plugins import HISTORICAL_SOURCE, METRIC_SINK, known_providers, load_plugins
from heapster.settings import HeapsterSettings


def test_every_installed_key_of_ours_is_in_the_provider_registry() -> None:
    """providers.toml (data only) stays current: each key an installed heapster-* plugin registers is listed."""
    plugins = load_plugins(strict=True)
    known = known_providers()
    missing = [(kind, key, p.distribution) for p in plugins.plugins if p.distribution != "heapster-core"
               for kind, keys in p.keys.items() for key in keys if known.get(kind, {}).get(key) != p.distribution]
    assert missing == []
    assert plugins.historical_keys() == sorted(k for k in known[HISTORICAL_SOURCE] if k in plugins.keys(METRIC_SINK))


def test_the_hint_names_the_distribution_of_a_missing_key(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEAPSTER_DISABLE_PLUGINS", "heapster-source-kubernetes")
    assert main(["--source=kubernetes:https://kubernetes.default"]) == 2
    err = capsys.readouterr().err
    assert "no source 'kubernetes'; installed: static; pip install heapster-source-kubernetes" in err


async def test_a_sink_that_cannot_serve_history_is_named_with_the_sinks_that_can() -> None:
    with pytest.raises(UsageError) as raised:
        await build_daemon({"source": ["static:"], "sink": ["log"], "historical_source": "log"})
    message = str(raised.value)
    assert "sink 'log' (heapster-core) cannot serve --historical_source; sinks that can: influxdb" in message
    assert "only influxdb" not in message


def test_settings_defaults_are_the_flags_defaults() -> None:
    parsed = HeapsterSettings.from_mapping(parse_flags(heapster_parser(), []))
    assert dataclasses.replace(parsed, compat={}) == HeapsterSettings()
    assert "vmodule" in parsed.compat and "secure_port" in parsed.compat  # accepted, kept by name, unused


def test_flags_become_typed_settings_seen_by_plugins() -> None:
    settings = parse_heapster_settings(["--source=static:", "--metric_resolution=30s", "--sink=log", "--sink=log:?x",
                                        "--store_label=team,app", "--shard=1/3", "--sink-queue-size=7"])
    assert settings.metric_resolution == 30.0 and settings.sink == ("log", "log:?x")
    assert settings.store_label == ("team", "app") and settings.shard == (1, 3) and settings.sink_queue_size == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.metric_resolution = 5.0  # type: ignore[misc]
    context = PluginContext(settings={"label_separator": "|"})  # a mapping (as tests give) is typed too
    assert isinstance(context.settings, HeapsterSettings) and context.settings.label_separator == "|"


def test_an_option_of_an_unknown_kind_fails_when_declared() -> None:
    with pytest.raises(ValueError, match="unknown kind 'integer'; kinds: str, bool, int, float, duration, size, list"):
        Option("port", "integer")


@pytest.mark.parametrize(("kind", "raw", "value"), [
    (OptionKind.STR, "a b", "a b"), (OptionKind.BOOL, "T", True), (OptionKind.INT, "42", 42),
    (OptionKind.FLOAT, "0.5", 0.5), (OptionKind.DURATION, "1m30s", 90.0), (OptionKind.SIZE, "2Ki", 2048),
    (OptionKind.LIST, "x", "x"),
])
def test_option_kinds_are_types_that_parse_their_values(kind: OptionKind, raw: str, value: object) -> None:
    assert kind.parse(raw) == value and Option("o", kind).convert(raw) == value
    assert str(kind) == kind.value == kind  # messages name it as before ("expected int"); old readers compare strings
    assert kind.repeated is (kind is OptionKind.LIST)
    if kind not in (OptionKind.STR, OptionKind.LIST):
        with pytest.raises(ValueError):
            kind.parse("not-a-value")


def test_a_string_kind_is_converted_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match=r"string kind 'int' is deprecated; use heapster.interfaces"
                                                r".OptionKind.INT"):
        legacy = Option("port", "int", 80)
    assert legacy == Option("port", OptionKind.INT, 80) and legacy.kind is OptionKind.INT


async def test_sink_metric_names_the_in_memory_store_as_in_heapster() -> None:
    """Heapster's sink factory knew the key ``metric``: the in-memory sink its model API reads, added implicitly
    and built once if named (``case "metric": return metricsink.NewMetricSink(140s, 15m, ...)``; named, it was
    built even with --disable_metric_sink). Its URI options were never read; it serves no history."""
    for values in ({"sink": ["metric"]}, {"sink": ["log", "metric:?anything=1"]},
                   {"sink": ["metric"], "disable_metric_sink": True}):
        daemon = await build_daemon({"source": ["static:"], **values})
        try:
            assert daemon.store is not None and daemon.sinks[-1] is daemon.store
            assert [s.name for s in daemon.sinks[:-1]] == (["Log Sink"] if "log" in values["sink"] else [])
        finally:
            for queue in daemon.queues:
                await queue.close(0)
            await daemon.source.close()
    with pytest.raises(UsageError, match=r"sink 'metric' \(the in-memory store\) cannot serve --historical_source"):
        await build_daemon({"source": ["static:"], "sink": ["metric"], "historical_source": "metric"})
