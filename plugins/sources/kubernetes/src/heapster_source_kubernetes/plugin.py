"""Entry-point module of heapster-source-kubernetes: registers the metric and event sources.

Keys: ``kubernetes`` and ``kubernetes.summary_api`` (metrics; both read the kubelet summary API),
``kubernetes`` (events), the ``configmap`` checkpoint store of the eventer, and, for either source key,
a Lease-based leader elector (``--leader-elect``) and peer discovery from EndpointSlices (``--shard``).
Heavy modules are imported inside the factories.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from heapster.errors import UsageError
from heapster.hookspecs import (
    RegisterCheckpointStore,
    RegisterEventSource,
    RegisterLeaderElector,
    RegisterMetricSource,
    RegisterPeerDiscovery,
    hookimpl,
)
from heapster.interfaces import Option, OptionKind

if TYPE_CHECKING:
    from heapster.interfaces import (
        CheckpointStore,
        EventSource,
        LeaderElector,
        LeaseSettings,
        MetricSource,
        PluginContext,
    )
    from heapster.shards.discovery import EndpointSliceWatch, PeerService
    from heapster.uri import PluginConfig
    from heapster_source_kubernetes.kubelet import KubeletSettings

API_OPTIONS: tuple[Option, ...] = (
    Option("inClusterConfig", OptionKind.BOOL, True, "use the pod's service account and KUBERNETES_SERVICE_HOST/PORT"),
    Option("insecure", OptionKind.BOOL, False, "skip TLS verification of the API server (and of kubelets)"),
    Option("auth", OptionKind.STR, "", "kubeconfig file to use when inClusterConfig=false (its current context)"),
    Option("useServiceAccount", OptionKind.BOOL, False, "send the service-account token as bearer token"),
)
"""Kubernetes API options shared by the metric and event sources (HEAPSTER.md §2.1)."""

KUBELET_OPTIONS: tuple[Option, ...] = (
    Option("kubeletPort", OptionKind.INT, None, "scrape every kubelet on this port (default: the node's advertised "
           "kubelet port, status.daemonEndpoints.kubeletEndpoint.Port)"),
    Option("kubeletHttps", OptionKind.BOOL, None, "scrape kubelets over HTTPS (default true; false when only "
           "kubeletPort is given, as in Heapster)"),
    Option("host_id_annotation", OptionKind.STR,
           "", "node annotation to take host_id from when spec.externalID is empty"),
    Option("kubeletTimeout", OptionKind.DURATION, 10.0, "per-node timeout of a summary request"),
    Option("kubeletMaxBytes", OptionKind.INT, 64 * 1024 * 1024, "largest summary body accepted from a kubelet"),
    Option("kubeletInsecureTLS", OptionKind.BOOL, False, "do not verify kubelet serving certificates"),
    Option("kubeletCAFile", OptionKind.STR,
           "", "CA bundle of the kubelets' serving certificates (default: the API's CA)"),
    Option("kubeletConcurrency", OptionKind.INT, 256, "most summary requests in flight at once"),
)

EVENT_OPTIONS: tuple[Option, ...] = (
    Option("export_existing", OptionKind.BOOL, False, "also export the events that exist at start"),
    Option("events_api", OptionKind.STR, "core/v1", "events API to watch: core/v1 or events.k8s.io/v1"),
    Option("buffer_size", OptionKind.INT, 100000, "most events held between two exports"),
)
EVENTS_APIS = ("core/v1", "events.k8s.io/v1")

EVENTER_IGNORED_OPTIONS: tuple[Option, ...] = tuple(
    Option(opt.name, help="an option of heapster's metric source (its kubelet scrape); the eventer reads Events "
                          "from the API server only and ignores it, as Go's eventer did", ignored=True)
    for opt in KUBELET_OPTIONS
)
"""The metric source's kubelet options, accepted by the event source so that a ``--source`` copied from a
heapster command line works (``?kubeletPort=10255&kubeletHttps=false``): Go's eventer built its client with
``common/kubernetes.GetKubeClientConfig``, which read the API options only and ignored every other one. The
eventer warns once naming those given; an option neither source knows still exits 2."""


def _metric_source(config: PluginConfig, context: PluginContext) -> MetricSource:
    from heapster_source_kubernetes.cluster import KubernetesCluster
    from heapster_source_kubernetes.config import load_api_access, make_ssl_context
    from heapster_source_kubernetes.kubelet import KubeletClient
    from heapster_source_kubernetes.source import KubernetesSource

    settings = kubelet_settings(config)
    api = load_api_access(config.options, config.url)
    kubelet_ssl = None
    if settings.https:
        ca_file = config.options["kubeletCAFile"] or api.ca_file
        kubelet_ssl = make_ssl_context(settings.verify, ca_file, api.cert_file, api.key_file)
    source = KubernetesSource(
        api, KubernetesCluster(api), KubeletClient(settings, ssl_context=kubelet_ssl, token=api.bearer_token),
        host_id_annotation=config.options["host_id_annotation"], clock=context.clock,
    )
    if context.cluster is None:
        context.cluster = source.cluster
    return source


def kubelet_settings(config: PluginConfig) -> KubeletSettings:
    """Kubelet access from the URI options; :class:`UsageError` for out-of-range values.

    Defaults are today's (HTTPS, each node's advertised port, verified with the API CA); a given
    ``kubeletPort``/``kubeletHttps``/``insecure`` keeps Heapster's meaning, so
    ``kubeletHttps=false&kubeletPort=10255`` scrapes the read-only port as Heapster did.
    """
    from heapster_source_kubernetes.kubelet import KubeletSettings

    opts = config.options
    port = opts["kubeletPort"]
    if port is not None and not 0 < port < 65536:
        msg = f"bad value {port!r} for option 'kubeletPort' of source {config.key!r}: not a port"
        raise UsageError(msg)
    https = opts["kubeletHttps"]
    if https is None:
        https = port is None  # Heapster's default was plain HTTP on the port given
    for name in ("kubeletMaxBytes", "kubeletConcurrency"):
        if opts[name] <= 0:
            msg = f"bad value {opts[name]!r} for option {name!r} of source {config.key!r}: must be positive"
            raise UsageError(msg)
    if opts["kubeletCAFile"] and not os.path.isfile(opts["kubeletCAFile"]):
        msg = f"kubeletCAFile {opts['kubeletCAFile']!r} of source {config.key!r} does not exist"
        raise UsageError(msg)
    if opts["kubeletTimeout"] <= 0:
        msg = f"bad value for option 'kubeletTimeout' of source {config.key!r}: must be positive"
        raise UsageError(msg)
    verify = not (opts["insecure"] or opts["kubeletInsecureTLS"])
    if verify and opts["kubeletHttps"] and not (opts["inClusterConfig"] or opts["auth"] or opts["kubeletCAFile"]):
        verify = False  # Heapster: HTTPS without a configured CA skips verification
    return KubeletSettings(https=https, port=port, verify=verify, timeout=float(opts["kubeletTimeout"]),
                           max_bytes=opts["kubeletMaxBytes"], concurrency=opts["kubeletConcurrency"])


def _event_source(config: PluginConfig, context: PluginContext) -> EventSource:
    if config.options["events_api"] not in EVENTS_APIS:
        msg = (f"bad value {config.options['events_api']!r} for option 'events_api' of event source "
               f"'kubernetes'; valid values: {', '.join(EVENTS_APIS)}")
        raise UsageError(msg)
    if config.options["buffer_size"] <= 0:
        msg = "option 'buffer_size' of event source 'kubernetes' must be positive"
        raise UsageError(msg)
    from heapster_source_kubernetes.events import create_event_source  # type: ignore[import-not-found,unused-ignore]

    source: EventSource = create_event_source(config, context)
    return source


@hookimpl
def register_metric_sources(register: RegisterMetricSource) -> None:
    """Register ``kubernetes`` and ``kubernetes.summary_api`` (both scrape kubelet summaries)."""
    options = (*API_OPTIONS, *KUBELET_OPTIONS)
    register("kubernetes", _metric_source, options=options,
             description="kubelet summary API of every node (same as kubernetes.summary_api)")
    register("kubernetes.summary_api", _metric_source, options=options,
             description="kubelet summary API of every node")


@hookimpl
def register_event_sources(register: RegisterEventSource) -> None:
    """Register the ``kubernetes`` event source (watches Kubernetes Events)."""
    register("kubernetes", _event_source, options=(*API_OPTIONS, *EVENT_OPTIONS, *EVENTER_IGNORED_OPTIONS),
             description="Kubernetes Events from the API server (list+watch)")


def _configmap_store(location: str, source_config: PluginConfig, context: PluginContext) -> CheckpointStore:
    from heapster_source_kubernetes.checkpoint import configmap_store

    return configmap_store(location, source_config, context)


@hookimpl
def register_checkpoint_stores(register: RegisterCheckpointStore) -> None:
    """Register the ``configmap`` checkpoint store (the eventer's ``--checkpoint-configmap``)."""
    register("configmap", _configmap_store,
             description="the eventer's checkpoint in a ConfigMap of the source's cluster, written with "
                         "optimistic concurrency")


def _leader_elector(config: PluginConfig, lease: LeaseSettings, context: PluginContext) -> LeaderElector:
    from heapster_source_kubernetes.config import load_api_access
    from heapster_source_kubernetes.lease import LeaseElector

    return LeaseElector(load_api_access(config.options, config.url).authorized_api_client(), lease,
                        clock=context.clock)


@hookimpl
def register_leader_electors(register: RegisterLeaderElector) -> None:
    """Register the coordination.k8s.io Lease elector for every key of this distribution's sources."""
    for key in ("kubernetes", "kubernetes.summary_api"):
        register(key, _leader_elector, description="a coordination.k8s.io/v1 Lease in the source's cluster")


def _peer_discovery(config: PluginConfig, service: PeerService, context: PluginContext) -> EndpointSliceWatch:
    from heapster_source_kubernetes.config import load_api_access
    from heapster_source_kubernetes.endpointslices import EndpointSliceInformer

    return EndpointSliceInformer(load_api_access(config.options, config.url), service)


@hookimpl
def register_peer_discoveries(register: RegisterPeerDiscovery) -> None:
    """Peer shards from EndpointSlices, for ``--shard`` with either source key."""
    for key in ("kubernetes", "kubernetes.summary_api"):
        register(key, _peer_discovery, description="EndpointSlices of the headless Service (list+watch)")
