"""The eventer in-process: a third-party event sink found by entry point, fed from the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from heapster.checkpoint import MemoryCheckpointStore
from heapster.errors import DuplicatePluginError, UsageError
from heapster.plugins import load_plugins
from heapster.testing.events import ScriptedEventSource, event
from heapster.testing.net import PATIENCE, async_wait_until
from heapster.testing.recording import RecordingEventSink
from heapster_eventer import metrics
from heapster_eventer.app import Eventer, load_named_plugins
from heapster_eventer.cli import main
from heapster_eventer.flags import parse_args
from heapster_simulator import SimulatedCluster, SimulatorConfig

THIRD_PARTY = '''
"""A third party's event sink: one JSON line per event."""
import json
from heapster.hookspecs import hookimpl
from heapster.interfaces import EventSink
from heapster.interfaces import Option


class JsonLinesEventSink(EventSink):
    name = "acme"

    def __init__(self, path):
        self.path = path

    async def export_events(self, batch):
        with open(self.path, "a", encoding="utf-8") as out:
            for event in batch.events:
                out.write(json.dumps(event) + "\\n")


@hookimpl
def register_event_sinks(register):
    register("acme", lambda config, context: JsonLinesEventSink(config.options["path"]),
             options=[Option("path")])
'''


async def test_a_third_party_event_sink_works_by_entry_point(tmp_path: Path) -> None:
    (tmp_path / "acme_event_sink.py").write_text(THIRD_PARTY, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        eps = [*entry_points(group="heapster"),
               EntryPoint(name="acme", value="acme_event_sink", group="heapster")]
        plugins = load_plugins(eps=eps)
        out = tmp_path / "events.jsonl"
        async with SimulatedCluster(SimulatorConfig(nodes=0, events_per_second=40, bookmark_interval=1.0)) as cluster:
            options = parse_args([f"--source=kubernetes:{cluster.api_url}?inClusterConfig=false",
                                  f"--sink=acme:?path={out}", "--frequency=5s", "--healthz-ip=127.0.0.1",
                                  "--healthz-port=0", f"--checkpoint-file={tmp_path / 'cp.json'}"])
            eventer = Eventer(options, plugins=plugins)
            running = asyncio.create_task(eventer.run())
            await async_wait_until(lambda: out.exists() and out.stat().st_size, timeout=PATIENCE,
                                   what="the third-party sink's first line")
            eventer.stop()
            assert await asyncio.wait_for(running, PATIENCE) == 0
        lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert lines, "the third-party sink received nothing"
        versions = [(e["metadata"]["uid"], e["metadata"]["resourceVersion"]) for e in lines]
        assert len(versions) == len(set(versions))
        checkpoint = json.loads((tmp_path / "cp.json").read_text(encoding="utf-8"))
        assert list(checkpoint["positions"]) == [f"acme:?path={out}"]
        assert int(checkpoint["positions"][f"acme:?path={out}"]) >= max(int(rv) for _, rv in versions)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("acme_event_sink", None)


class CountingElector:
    """A Lease holder that renews every 10 ms for as long as it is asked to hold."""

    def __init__(self) -> None:
        self.renewals = 0
        self.released_after: int | None = None

    async def hold(self) -> None:
        while True:
            await asyncio.sleep(0.01)  # the double's renew period: the behaviour under test, not a wait
            self.renewals += 1

    async def release(self) -> None:
        self.released_after = self.renewals


async def test_the_lease_is_renewed_while_the_final_flush_runs() -> None:
    # A leader that stopped renewing when asked to stop let a standby take over in the middle of a long
    # final flush: the standby resumed from the checkpoint before it and exported those events again.
    options = parse_args(["--source=kubernetes:https://127.0.0.1:1?inClusterConfig=false", "--sink=log",
                          "--frequency=5s", "--stop-timeout=30s"])
    eventer = Eventer(options)
    elector = CountingElector()
    eventer.elector = elector  # type: ignore[assignment]
    source = ScriptedEventSource()
    source.feed(event("a", 5))
    sink = RecordingEventSink("slow")
    sink.block()
    term = asyncio.create_task(eventer._term(source, [(sink.name, sink)], MemoryCheckpointStore()))
    await async_wait_until(lambda: source.started, what="the term to start")
    eventer.stop()  # the final flush now waits for the blocked sink
    at_stop = elector.renewals
    await async_wait_until(lambda: elector.renewals >= at_stop + 5, timeout=25,  # within the 30 s stop timeout
                           what="renewals during the flush")
    assert not term.done() and elector.released_after is None
    sink.unblock()
    await asyncio.wait_for(term, PATIENCE)
    assert [e["metadata"]["uid"] for b in sink.batches for e in b.events] == ["a"]
    assert elector.released_after is not None and elector.released_after >= at_stop + 5



async def _one_term(eventer: Eventer, store: MemoryCheckpointStore) -> RecordingEventSink:
    """Run one term over a scripted source until its event is exported, then stop it."""
    source = ScriptedEventSource()
    source.feed(event("a", 5))
    sink = RecordingEventSink("recording")
    term = asyncio.create_task(eventer._term(source, [(sink.name, sink)], store))
    await async_wait_until(lambda: source.started, what="the term to start")
    eventer.stop()
    await asyncio.wait_for(term, PATIENCE)
    return sink


def _checkpoint_writes() -> float:
    return metrics.checkpoint_writes.labels(outcome="ok")._value


async def test_without_leader_election_a_checkpoint_in_memory_is_not_built() -> None:
    # One term: nothing reads a checkpoint kept in memory back, so none is built, saved or counted.
    eventer = Eventer(parse_args(["--source=kubernetes:https://127.0.0.1:1?inClusterConfig=false", "--sink=log"]))
    store = MemoryCheckpointStore()
    before = _checkpoint_writes()
    sink = await _one_term(eventer, store)
    assert [e["metadata"]["uid"] for b in sink.batches for e in b.events] == ["a"]
    assert store.saved is None and _checkpoint_writes() == before
    assert not eventer.keeps_checkpoint(store)


async def test_with_leader_election_the_checkpoint_in_memory_is_kept_for_the_next_term() -> None:
    eventer = Eventer(parse_args(["--source=kubernetes:https://127.0.0.1:1?inClusterConfig=false", "--sink=log",
                                  "--leader-elect"]))
    eventer.elector = CountingElector()  # type: ignore[assignment]
    store = MemoryCheckpointStore()
    before = _checkpoint_writes()
    await _one_term(eventer, store)
    assert store.saved is not None and json.loads(store.saved)["positions"] == {"recording": "5"}
    assert _checkpoint_writes() > before


def test_a_checkpoint_file_or_configmap_is_kept_without_leader_election(tmp_path: Path) -> None:
    eventer = Eventer(parse_args(["--source=kubernetes:https://127.0.0.1:1?inClusterConfig=false", "--sink=log",
                                  f"--checkpoint-file={tmp_path / 'cp.json'}"]))
    assert eventer.keeps_checkpoint(eventer.checkpoint_store(eventer.build().source_config))


def test_the_eventer_loads_only_the_plugins_its_flags_name(monkeypatch):
    for name in ("HEAPSTER_PLUGINS", "HEAPSTER_STRICT_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    options = parse_args(["--source=static:?events=1", "--sink=log"])
    plugins = load_named_plugins(options)
    assert sorted(p.name for p in plugins.plugins) == ["log", "static"]
    assert plugins.keys("sink") == ["log"]  # no other metric sink's module loaded


def test_a_key_without_an_entry_point_of_its_name_loads_every_plugin_and_reads_the_same(monkeypatch):
    for name in ("HEAPSTER_PLUGINS", "HEAPSTER_STRICT_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    options = parse_args(["--source=static:?events=1", "--sink=nosuch"])
    plugins = load_named_plugins(options)
    everything = load_plugins()
    assert sorted(p.name for p in plugins.plugins) == sorted(p.name for p in everything.plugins)
    assert len(plugins.plugins) > 2
    with pytest.raises(UsageError) as named:
        Eventer(options).build()
    with pytest.raises(UsageError) as full:
        Eventer(options, plugins=everything).build()
    assert str(named.value) == str(full.value)
    assert "installed: " in str(named.value)


def test_a_plugin_allow_list_in_the_environment_is_the_loaders_to_apply(monkeypatch):
    monkeypatch.setenv("HEAPSTER_PLUGINS", "static,log,influxdb")
    plugins = load_named_plugins(parse_args(["--source=static:?events=1", "--sink=log"]))
    assert sorted(p.name for p in plugins.plugins) == ["influxdb", "log", "static"]


CLAIMS_LOG = """
from heapster.hookspecs import hookimpl


@hookimpl
def register_event_sinks(register):
    register("log", lambda config, context: None)
"""


def test_a_sink_key_claimed_by_two_distributions_exits_2_naming_both_on_the_named_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A third party registering ``log`` under another entry-point name: the named load (which would load only
    the ``log`` and ``static`` entry points) must not pick one silently but fail as the full load does."""
    for name in ("HEAPSTER_PLUGINS", "HEAPSTER_STRICT_PLUGINS", "HEAPSTER_DISABLE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "acme_log_sink.py").write_text(CLAIMS_LOG, encoding="utf-8")
    info = tmp_path / "heapster_sink_acmelog-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: heapster-sink-acmelog\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[heapster]\nacmelog = acme_log_sink\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = ["--source=static:?events=1", "--sink=log", "--healthz-port=0"]
    with pytest.raises(DuplicatePluginError) as full:
        load_plugins()
    with pytest.raises(DuplicatePluginError) as named:
        load_named_plugins(parse_args(argv))
    assert str(named.value) == str(full.value)
    assert "event sink key 'log' is registered twice" in str(named.value)
    assert "heapster-core" in str(named.value) and "heapster-sink-acmelog 1.2.3" in str(named.value)
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"eventer: {named.value}"


def test_the_eventer_starts_without_importlib_metadata():
    """Its version read and its plugins found and loaded: no importlib.metadata, email or zipfile (1.6 MiB)."""
    code = ("import sys\nfrom heapster_eventer.app import load_named_plugins\n"
            "from heapster_eventer.flags import parse_args\n"
            "import heapster_eventer, heapster\nassert heapster_eventer.__version__ != '0+unknown'\n"
            "plugins = load_named_plugins(parse_args(['--source=static:?events=1', '--sink=log']))\n"
            "assert sorted(p.name for p in plugins.plugins) == ['log', 'static'], plugins.plugins\n"
            "print(sorted(m for m in sys.modules if m.startswith(('importlib.metadata', 'email', 'zipfile'))))")
    env = {k: v for k, v in os.environ.items() if k not in ("HEAPSTER_PLUGINS", "HEAPSTER_STRICT_PLUGINS")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert done.stdout.strip() == "[]"
