"""Finding, loading and registering plugins from entry points of group ``heapster``.

Built-in plugins load through the same entry points as third-party ones. A plugin that fails
to import is logged and skipped unless strict mode is on (``--strict-plugins`` or
``HEAPSTER_STRICT_PLUGINS=1``). ``HEAPSTER_PLUGINS`` (allow list) and ``HEAPSTER_DISABLE_PLUGINS``
(block list) take comma-separated entry-point or distribution names.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, cast

import pluggy
import structlog

from heapster import hookspecs
from heapster.distributions import EntryPoint, entry_points
from heapster.errors import DuplicatePluginError, PluginError, UsageError
from heapster.interfaces import (
    CheckpointStore,
    EventSink,
    EventSource,
    LeaderElector,
    LeaseSettings,
    MetricSink,
    MetricSource,
    PluginContext,
    Processor,
)
from heapster.uri import Option, PluginConfig, SpecURI, parse_uri, resolve_options, resolve_sink_options

if TYPE_CHECKING:  # shards are heapster's alone: not imported by the eventer's path
    from importlib.metadata import EntryPoint as MetadataEntryPoint

    from heapster.shards.discovery import EndpointSliceWatch, PeerService

log = structlog.get_logger("heapster.plugins")

ENTRY_POINT_GROUP = "heapster"

METRIC_SOURCE = "source"
METRIC_SINK = "sink"
EVENT_SOURCE = "event source"
EVENT_SINK = "event sink"
PROCESSOR = "processor"
CHECKPOINT_STORE = "checkpoint store"
HISTORICAL_SOURCE = "historical source"
"""Not a hook of its own: the metric sinks registered with ``historical=True``."""
LEADER_ELECTOR = "leader elector"
PEER_DISCOVERY = "peer discovery"

_HOOKS = {
    METRIC_SOURCE: "register_metric_sources",
    METRIC_SINK: "register_metric_sinks",
    EVENT_SOURCE: "register_event_sources",
    EVENT_SINK: "register_event_sinks",
    PROCESSOR: "register_processors",
    CHECKPOINT_STORE: "register_checkpoint_stores",
    LEADER_ELECTOR: "register_leader_electors",
    PEER_DISCOVERY: "register_peer_discoveries",
}

PROVIDERS_FILE = "providers.toml"
"""Data-only registry shipped with core: which distribution provides a key (see the file's header)."""


BUILT_IN_DISTRIBUTIONS = frozenset({
    "heapster-core", "heapster-source-kubernetes", "heapster-sink-influxdb", "heapster-sink-elasticsearch",
    "heapster-sink-graphite", "heapster-sink-statsd", "heapster-sink-opentsdb", "heapster-sink-wavefront",
    "heapster-sink-librato", "heapster-sink-kafka", "heapster-sink-riemann", "heapster-sink-honeycomb",
    "heapster-sink-stackdriver", "heapster-sink-gcl", "heapster-sink-otlp", "heapster-sink-prometheus",
    "heapster-sink-prometheusremotewrite",
})
"""The project's own plugin distributions (the providers of :data:`PROVIDERS_FILE` and heapster-core; a test
keeps them equal). No two register one key, so loading only some of them cannot hide a key registered twice."""


def all_built_in(eps: Iterable[EntryPoint | MetadataEntryPoint]) -> bool:
    """Whether every entry point comes from one of :data:`BUILT_IN_DISTRIBUTIONS` (no third party's plugin)."""
    return all(_distribution_of(ep)[0] in BUILT_IN_DISTRIBUTIONS for ep in eps)


@cache
def known_providers() -> Mapping[str, Mapping[str, str]]:
    """``{kind: {key: distribution}}`` from :data:`PROVIDERS_FILE`, for "pip install" hints only."""
    import tomllib  # only for an unknown key's hint: not loaded by a process that never needs one
    from importlib.resources import files  # with pathlib, tempfile, shutil, bz2, lzma: ~0.3 MiB, same reason

    document = tomllib.loads(files("heapster").joinpath(PROVIDERS_FILE).read_text(encoding="utf-8"))
    return {section.replace("_", " ").removeprefix("metric "): dict(keys) for section, keys in document.items()}


def provider_hint(kind: str, key: str) -> str:
    """``"; pip install <distribution>"`` when the registry knows who provides ``key``, else ``""``."""
    provider = known_providers().get(kind, {}).get(key)
    return f"; pip install {provider}" if provider else ""


@dataclass(slots=True)
class PluginInfo:
    """One loaded plugin module and the distribution it came from."""

    name: str
    module: str
    distribution: str
    version: str
    keys: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Registration:
    """One key a plugin registered: its factory, declared options and provenance."""

    kind: str
    key: str
    factory: Callable[..., Any]
    plugin: PluginInfo
    options: tuple[Option, ...] = ()
    description: str = ""
    order: int = 0
    historical: bool = False
    """A metric sink whose sinks implement :class:`heapster.interfaces.HistoricalSource`."""

    @property
    def secret_options(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options if o.secret)


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """A plugin that could not be loaded, and why."""

    name: str
    distribution: str
    error: str


def _env_list(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {item.strip() for item in value.split(",") if item.strip()}


class Plugins:
    """The loaded plugins and their registrations, with builders for each kind."""

    def __init__(self, plugins: Sequence[PluginInfo], registrations: Iterable[Registration],
                 failures: Sequence[PluginFailure] = ()) -> None:
        self.plugins = list(plugins)
        self.failures = list(failures)
        self._by_kind: dict[str, dict[str, Registration]] = {kind: {} for kind in _HOOKS}
        for reg in registrations:
            self._by_kind[reg.kind][reg.key] = reg

    def keys(self, kind: str) -> list[str]:
        """Registered keys of one kind, sorted."""
        return sorted(self._by_kind[kind])

    def get(self, kind: str, key: str) -> Registration:
        """The registration of ``key``; :class:`UsageError` listing the installed keys if missing."""
        found = self._by_kind[kind].get(key)
        if found is not None:
            return found
        installed = ", ".join(self.keys(kind)) or "none"
        msg = f"no {kind} {key!r}; installed: {installed}{provider_hint(kind, key)}"
        raise UsageError(msg)

    def historical_keys(self) -> list[str]:
        """Installed metric sink keys registered with ``historical=True``, sorted."""
        return sorted(key for key, reg in self._by_kind[METRIC_SINK].items() if reg.historical)

    def configure(self, kind: str, spec: str | SpecURI) -> tuple[Registration, PluginConfig]:
        """Parse a flag value, find its plugin and type its options (UsageError on any mistake)."""
        uri = parse_uri(spec) if isinstance(spec, str) else spec
        reg = self.get(kind, uri.key)
        if kind in (METRIC_SINK, EVENT_SINK):
            return reg, resolve_sink_options(uri, reg.options, f"{kind} {uri.key!r}")
        return reg, resolve_options(uri, reg.options, f"{kind} {uri.key!r}")

    def warn_ignored(self, kind: str, config: PluginConfig) -> None:
        """One warning naming the options of ``config`` its plugin accepts and ignores (none given: no warning),
        with the plugin's reason (their help). Logged once the flags are known to be good."""
        if not config.ignored:
            return
        helps = {o.name: o.help for o in self.get(kind, config.key).options}
        reasons = list(dict.fromkeys(helps[name] for name in config.ignored if helps.get(name)))
        log.warning("plugin.options.ignored", plugin=f"{kind} {config.key!r}", options=list(config.ignored),
                    reason="; ".join(reasons) or None)

    def build_metric_source(self, spec: str, context: PluginContext) -> MetricSource:
        reg, config = self.configure(METRIC_SOURCE, spec)
        return cast(MetricSource, reg.factory(config, context))

    def build_metric_sink(self, spec: str, context: PluginContext) -> MetricSink:
        reg, config = self.configure(METRIC_SINK, spec)
        return cast(MetricSink, reg.factory(config, context))

    def build_event_source(self, spec: str, context: PluginContext) -> EventSource:
        reg, config = self.configure(EVENT_SOURCE, spec)
        return cast(EventSource, reg.factory(config, context))

    def build_event_sink(self, spec: str, context: PluginContext) -> EventSink:
        reg, config = self.configure(EVENT_SINK, spec)
        return cast(EventSink, reg.factory(config, context))

    def build_checkpoint_store(self, key: str, location: str, source_config: PluginConfig,
                               context: PluginContext) -> CheckpointStore:
        """The checkpoint store ``key`` at ``location``; :class:`UsageError` naming the package if missing."""
        reg = self.get(CHECKPOINT_STORE, key)
        return cast(CheckpointStore, reg.factory(location, source_config, context))
    def build_leader_elector(self, source: PluginConfig, lease: LeaseSettings,
                             context: PluginContext) -> LeaderElector:
        """The ``--leader-elect`` elector for the cluster ``source`` reads; UsageError if no plugin provides one."""
        reg = self.get(LEADER_ELECTOR, source.key)
        return cast(LeaderElector, reg.factory(source, lease, context))

    def build_peer_discovery(self, source: PluginConfig, service: PeerService,
                             context: PluginContext) -> EndpointSliceWatch:
        """The EndpointSlice watch for the cluster ``source`` reads; UsageError if no plugin provides one."""
        reg = self.get(PEER_DISCOVERY, source.key)
        return cast("EndpointSliceWatch", reg.factory(source, service, context))

    def build_processors(self, context: PluginContext) -> list[Processor]:
        """Every registered processor that applies, in ascending ``order``, each told which one follows it
        (:meth:`~heapster.interfaces.Processor.followed_by`)."""
        regs = sorted(self._by_kind[PROCESSOR].values(), key=lambda r: (r.order, r.key))
        built = (reg.factory(context) for reg in regs)
        chain = [p for p in built if p is not None]
        for processor, after in itertools.pairwise(chain):
            told = getattr(processor, "followed_by", None)  # a third-party processor may not subclass Processor
            if told is not None:
                told(after)
        return chain


def _distribution_of(ep: EntryPoint | MetadataEntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return ("unknown", "unknown")
    return (dist.metadata["Name"] or dist.name, dist.version)


def load_plugins(*, strict: bool | None = None,
                 eps: Iterable[EntryPoint | MetadataEntryPoint] | None = None) -> Plugins:
    """Load every ``heapster`` entry point, call the registration hooks, and return the result.

    Raises :class:`DuplicatePluginError` for a key registered twice (naming both distributions; exit 2) and,
    in strict mode, for a plugin that fails to load.
    """
    if strict is None:
        strict = os.environ.get("HEAPSTER_STRICT_PLUGINS", "") not in ("", "0", "false")
    allow = _env_list("HEAPSTER_PLUGINS")
    block = _env_list("HEAPSTER_DISABLE_PLUGINS") or set()

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []
    failures: list[PluginFailure] = []
    candidates = list(entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps)
    for ep in sorted(candidates, key=lambda e: e.name):
        dist_name, dist_version = _distribution_of(ep)
        names = {ep.name, dist_name}
        if (allow is not None and not names & allow) or names & block:
            log.debug("plugin.skipped", plugin=ep.name, reason="disabled by environment")
            continue
        if pm.has_plugin(ep.name):
            first = next((f"{i.distribution} {i.version}" for i in infos if i.name == ep.name), "another")
            msg = f"plugin name {ep.name!r} is used by two entry points: {first} and {dist_name} {dist_version}"
            raise DuplicatePluginError(msg)
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken third-party plugin must not take the daemon down
            if strict:
                msg = f"plugin {ep.name!r} from {dist_name} failed to load: {exc}"
                raise PluginError(msg) from exc
            log.warning("plugin.load.failed", plugin=ep.name, distribution=dist_name, error=str(exc))
            failures.append(PluginFailure(ep.name, dist_name, str(exc)))
            continue
        infos.append(PluginInfo(ep.name, ep.value, dist_name, dist_version))
    pm.check_pending()

    registrations: dict[tuple[str, str], Registration] = {}
    for info in infos:
        plugin = pm.get_plugin(info.name)
        try:
            _collect(pm, plugin, info, registrations)
        except PluginError:
            raise
        except Exception as exc:
            if strict:
                msg = f"plugin {info.name!r} from {info.distribution} failed to register: {exc}"
                raise PluginError(msg) from exc
            log.warning("plugin.register.failed", plugin=info.name, error=str(exc))
            failures.append(PluginFailure(info.name, info.distribution, str(exc)))
    loaded = [i for i in infos if i.name not in {f.name for f in failures}]
    kept = [r for r in registrations.values() if r.plugin in loaded]
    return Plugins(loaded, kept, failures)


def _collect(pm: pluggy.PluginManager, plugin: object, info: PluginInfo,
             registrations: dict[tuple[str, str], Registration]) -> None:
    """Call this plugin's registration hooks (through pluggy) and record what it registers.

    Each hook is called through a pluggy hook caller limited to this plugin, so what it registers is
    known to come from it, and pluggy passes each implementation only the arguments it declares: a
    hookspec can gain an optional argument without breaking a plugin written before.
    """
    others = [p for p in pm.get_plugins() if p is not plugin]
    for kind, hook_name in _HOOKS.items():
        if any(impl.plugin is plugin for impl in getattr(pm.hook, hook_name).get_hookimpls()):
            caller = pm.subset_hook_caller(hook_name, remove_plugins=others)
            caller(register=_registrar(kind, info, registrations))


def _registrar(kind: str, info: PluginInfo,
               registrations: dict[tuple[str, str], Registration]) -> Callable[..., None]:
    """The ``register`` callback a plugin's ``kind`` hook receives."""

    def register(key: str, factory: Callable[..., Any], *, options: Sequence[Option] = (),
                 description: str = "", order: int = 0, historical: bool = False) -> None:
        previous = registrations.get((kind, key))
        if previous is not None:
            msg = (
                f"{kind} key {key!r} is registered twice: by {previous.plugin.distribution} "
                f"{previous.plugin.version} and by {info.distribution} {info.version}"
            )
            raise DuplicatePluginError(msg)
        registrations[(kind, key)] = Registration(kind, key, factory, info, tuple(options), description, order,
                                                   historical)
        info.keys.setdefault(kind, []).append(key)

    return register
