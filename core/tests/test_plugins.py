"""Plugin discovery: entry points, duplicate keys, broken plugins, allow and block lists, hook checking."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pluggy
import pytest

from heapster import hookspecs
from heapster.cli import main
from heapster.distributions import entry_points
from heapster.errors import PluginError, UsageError
from heapster.interfaces import OptionKind
from heapster.plugins import BUILT_IN_DISTRIBUTIONS, ENTRY_POINT_GROUP, all_built_in, known_providers, load_plugins

SINK_MODULE = """
import heapster

@heapster.hookimpl
def register_metric_sinks(register):
    register({key!r}, lambda config, context: None)
"""


def install_fake_dist(root: Path, dist: str, module: str, source: str, version: str = "1.2.3") -> None:
    """Lay out a distribution (module + dist-info with an entry point) on a path entry."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[heapster]\n{module} = {module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    for var in ("HEAPSTER_PLUGINS", "HEAPSTER_DISABLE_PLUGINS", "HEAPSTER_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_builtins_load_through_entry_points(site: Path) -> None:
    plugins = load_plugins()
    log_plugin = next(p for p in plugins.plugins if p.name == "log")
    assert log_plugin.distribution == "heapster-core"
    assert plugins.get("sink", "log").plugin is log_plugin
    assert "log" in plugins.keys("event sink")


def test_third_party_sink_is_found_with_its_distribution(site: Path) -> None:
    install_fake_dist(site, "heapster-sink-acme", "acme_sink", SINK_MODULE.format(key="acme"))
    plugins = load_plugins()
    reg = plugins.get("sink", "acme")
    assert (reg.plugin.distribution, reg.plugin.version) == ("heapster-sink-acme", "1.2.3")


def test_hooks_are_called_through_pluggy_so_an_implementation_may_take_fewer_arguments(site: Path) -> None:
    """pluggy's rule (an implementation declares a subset of the spec's arguments) holds, so a hookspec can
    grow an argument without breaking plugins; a direct call with register=... broke this one."""
    install_fake_dist(site, "heapster-sink-quiet", "quiet_sink", """
        import heapster

        CALLS = []

        @heapster.hookimpl
        def register_metric_sinks():
            CALLS.append("called")
    """)
    plugins = load_plugins(strict=True)
    assert [p.name for p in plugins.plugins if p.distribution == "heapster-sink-quiet"] == ["quiet_sink"]
    assert importlib.import_module("quiet_sink").CALLS == ["called"]


def test_a_plugin_written_today_keeps_working_when_a_hookspec_gains_an_argument(
        site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The meta-test of the plugin contract: tomorrow's ``register_metric_sinks(register, settings=...)``."""

    @hookspecs.hookspec
    def register_metric_sinks(register: object, settings: object = None) -> None:
        """The same hook with one more (optional) argument."""

    monkeypatch.setattr(hookspecs, "register_metric_sinks", register_metric_sinks)
    # ... and tomorrow's loader passes it: every registration hook is called with settings= too.
    subset_hook_caller = pluggy.PluginManager.subset_hook_caller
    passed: list[str] = []

    def growing_caller(self: pluggy.PluginManager, name: str, remove_plugins: Any) -> Any:
        caller = subset_hook_caller(self, name, remove_plugins)

        def call(**kwargs: Any) -> Any:
            passed.append(name)
            return caller(**kwargs, settings=object()) if name == "register_metric_sinks" else caller(**kwargs)

        return call

    monkeypatch.setattr(pluggy.PluginManager, "subset_hook_caller", growing_caller)
    install_fake_dist(site, "heapster-sink-today", "today_sink", SINK_MODULE.format(key="today"))
    plugins = load_plugins(strict=True)
    assert plugins.get("sink", "today").plugin.distribution == "heapster-sink-today"
    assert "register_metric_sinks" in passed  # the grown call really reached today's plugin


LEGACY_SINK = """
import heapster
from heapster.interfaces import MetricSink
from heapster.uri import Option  # the old import path


class LegacySink(MetricSink):
    async def export(self, batch):
        pass


@heapster.hookimpl
def register_metric_sinks(register):
    register("legacy", lambda config, context: LegacySink(), options=[
        Option("timeout", "duration", 10.0), Option("batch", "int", 1), Option("nodes", "list"),
        Option("tag_*", "bool"),
    ])
"""


def test_a_plugin_declaring_string_option_kinds_keeps_working(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Third-party compatibility: the deprecated string kinds are accepted (with a DeprecationWarning naming the
    OptionKind to use), converted, and type the URI's values exactly as an OptionKind does."""
    install_fake_dist(site, "heapster-sink-legacy", "legacy_sink", LEGACY_SINK)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plugins = load_plugins(strict=True)
    assert sorted(str(w.message) for w in caught if w.category is DeprecationWarning) == [
        f"option {name!r}: the string kind {kind!r} is deprecated; use heapster.interfaces.OptionKind.{kind.upper()}"
        for name, kind in (("batch", "int"), ("nodes", "list"), ("tag_*", "bool"), ("timeout", "duration"))]
    reg, config = plugins.configure("sink", "legacy:?timeout=1m30s&batch=7&nodes=a&nodes=b&tag_x=true")
    assert [opt.kind for opt in reg.options] == [OptionKind.DURATION, OptionKind.INT, OptionKind.LIST,
                                                 OptionKind.BOOL]
    assert config.options == {"timeout": 90.0, "batch": 7, "nodes": ["a", "b"], "tag_*": {"x": True}}
    with pytest.raises(UsageError, match=r"bad value 'x' for option 'batch' of sink 'legacy'"):
        plugins.configure("sink", "legacy:?batch=x")
    # through the command line: a bad value still exits 2 naming the option
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # told once above
        assert main(["--source=static:", "--sink=legacy:?batch=seven"]) == 2
    assert "bad value 'seven' for option 'batch' of sink 'legacy'" in capsys.readouterr().err


def test_a_key_registered_twice_names_both_distributions(site: Path) -> None:
    install_fake_dist(site, "heapster-sink-one", "one_sink", SINK_MODULE.format(key="dup"))
    install_fake_dist(site, "heapster-sink-two", "two_sink", SINK_MODULE.format(key="dup"), version="2.0")
    with pytest.raises(PluginError, match=r"sink key 'dup' is registered twice: by heapster-sink-one 1.2.3 "
                                          r"and by heapster-sink-two 2.0"):
        load_plugins()
    assert main(["--source=static:", "--sink=dup"]) == 2  # an installation to fix, as a bad flag


def test_the_built_in_distributions_are_the_providers_and_core(site: Path) -> None:
    """The eventer loads only the plugins its flags name while every plugin is one of these (none of them
    registers a key another does); the list must follow the providers registry and the installed plugins."""
    assert set(BUILT_IN_DISTRIBUTIONS) == {"heapster-core"} | {
        dist for keys in known_providers().values() for dist in keys.values()}
    assert all_built_in(entry_points(group=ENTRY_POINT_GROUP))
    install_fake_dist(site, "heapster-sink-acme", "acme_sink", SINK_MODULE.format(key="acme"))
    assert not all_built_in(entry_points(group=ENTRY_POINT_GROUP))


def test_a_broken_plugin_is_skipped_unless_strict(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_dist(site, "heapster-sink-broken", "broken_sink", "import nonexistent_module_xyz\n")
    plugins = load_plugins()
    assert [f.name for f in plugins.failures] == ["broken_sink"]
    assert "log" in plugins.keys("sink")
    with pytest.raises(PluginError, match="plugin 'broken_sink' from heapster-sink-broken failed to load"):
        load_plugins(strict=True)
    monkeypatch.setenv("HEAPSTER_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError):
        load_plugins()


def test_a_misspelled_hook_fails_at_start(site: Path) -> None:
    install_fake_dist(site, "heapster-sink-typo", "typo_sink", """
        import heapster

        @heapster.hookimpl
        def register_metric_snks(register):
            pass
    """)
    with pytest.raises(Exception, match="register_metric_snks"):
        load_plugins()


def test_allow_and_block_lists(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_dist(site, "heapster-sink-acme", "acme_sink", SINK_MODULE.format(key="acme"))
    monkeypatch.setenv("HEAPSTER_DISABLE_PLUGINS", "heapster-sink-acme")
    assert "acme" not in load_plugins().keys("sink")
    monkeypatch.delenv("HEAPSTER_DISABLE_PLUGINS")
    monkeypatch.setenv("HEAPSTER_PLUGINS", "acme_sink")
    plugins = load_plugins()
    assert plugins.keys("sink") == ["acme"]


def test_every_hook_is_documented() -> None:
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert len(hooks) == 8
    for name in hooks:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert "Called once" in doc and "Returns" in doc, name


def test_entry_point_modules_import_cheaply() -> None:
    """Plugin modules must not import heavy clients at import time (heapster --help stays fast)."""
    code = textwrap.dedent("""
        import sys
        from importlib.metadata import entry_points
        for ep in entry_points(group="heapster"):
            ep.load()
        heavy = [m for m in ("kubernetes", "influxdb", "elasticsearch", "numpy", "aiohttp") if m in sys.modules]
        print(",".join(heavy))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_column_api_is_in_interfaces_and_loaded_on_first_use() -> None:
    """A plugin imports the batch's column API from ``heapster.interfaces`` like every other plugin-facing type;
    importing the interfaces alone (as the eventer does) loads no numpy."""
    code = textwrap.dedent("""
        import sys
        import heapster.interfaces
        print("numpy" in sys.modules)
        from heapster.interfaces import BatchBuilder, ColumnBatch
        from heapster.columns import BatchBuilder as B, ColumnBatch as C
        print(BatchBuilder is B and ColumnBatch is C)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
    with pytest.raises(ImportError, match="Nothing"):
        from heapster.interfaces import Nothing  # type: ignore[attr-defined]  # noqa: F401


async def test_heapster_warns_once_naming_the_options_its_plugins_accept_and_ignore() -> None:
    """Each plugin whose URI gives ``ignored`` options gets one warning naming them with the plugin's reason, logged
    after the flags were all found good; a URI without them gets none."""
    from dataclasses import replace

    from structlog.testing import capture_logs

    from heapster.app import build_daemon
    from heapster.interfaces import Option
    from heapster.plugins import Plugins

    loaded = load_plugins()
    static, log_sink = loaded.get("source", "static"), loaded.get("sink", "log")
    legacy = Option("legacy", help="read by the old program only", ignored=True)
    plugins = Plugins(loaded.plugins, [replace(static, options=(*static.options, legacy)),
                                       replace(log_sink, options=(*log_sink.options, legacy))])
    with capture_logs() as logs:
        daemon = await build_daemon({"source": ["static:?legacy=x&nodes=1&legacy=y"], "sink": ["log", "log:?legacy=1"]},
                                    plugins=plugins)
    try:
        warned = [(e["plugin"], e["options"], e["reason"]) for e in logs if e["event"] == "plugin.options.ignored"]
        assert warned == [("source 'static'", ["legacy"], "read by the old program only"),
                          ("sink 'log'", ["legacy"], "read by the old program only")]
        events = [e["event"] for e in logs]
        assert events.index("plugin.options.ignored") > events.index("plugins.loaded")  # after every usage check
    finally:
        for queue in daemon.queues:
            await queue.close(0)
        await daemon.source.close()
