"""The eventer's command line: Heapster's flags (HEAPSTER.md §1.2) plus checkpoint and leader election."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field

from heapster.errors import UsageError
from heapster.flags import (
    FlagParser,
    add_bool,
    add_logging_flags,
    add_sink_queue_flags,
    go_duration,
    normalize_argv,
    sink_queue_bounds,
)
from heapster.leader import LeaseTiming, add_leader_elect_flags, lease_timing, parse_ref
from heapster.settings import SinkQueueFlags

MIN_FREQUENCY = 5.0
MAX_FREQUENCY = 180.0
"""Heapster's ``MaxEventsScrapeDelay``."""

DEFAULT_LEASE = "kube-system/heapster-eventer"

DEFAULT_SINK_QUEUE = 60
"""Batches held per sink in memory while it is down: 30 minutes at the default 30 s period."""


@dataclass
class EventerOptions:
    """Parsed and checked flags."""

    source: str
    sinks: list[str] = field(default_factory=list)
    frequency: float = 30.0
    max_procs: int = 0
    healthz_ip: str = "0.0.0.0"
    healthz_port: int = 8084
    version: bool = False
    checkpoint_file: str | None = None
    checkpoint_configmap: tuple[str, str] | None = None
    leader_elect: bool = False
    leader_elect_lease: tuple[str, str] = ("kube-system", "heapster-eventer")
    leader_elect_identity: str | None = None
    lease_timing: LeaseTiming = field(default_factory=LeaseTiming)
    dedup_size: int = 20_000
    sink_queue_size: int = DEFAULT_SINK_QUEUE
    sink_queue_dir: str = ""
    sink_queue_max_bytes: int | None = None
    sink_queue_max_age: float | None = None
    sink_queue_flags: SinkQueueFlags = field(default_factory=SinkQueueFlags)
    """The --sink-queue-* flags as given, for sinks whose URI sets queue_* options of their own."""
    stop_timeout: float = 60.0
    verbose: int = 0
    log_format: str = "auto"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (flag names use ``-``; ``_`` is accepted as well, see :func:`normalize`)."""
    p = FlagParser(prog="eventer", description="Ship Kubernetes events to the sinks, exactly once.",
                allow_abbrev=False)
    p.add_argument("--source", action="append", default=[], metavar="KEY:URI",
                   help="event source, exactly one (e.g. kubernetes:https://kubernetes.default)")
    p.add_argument("--sink", action="append", default=[], metavar="KEY:URI",
                   help="event sink, repeatable (log, influxdb:..., elasticsearch:...)")
    p.add_argument("--frequency", type=go_duration, default=30.0, metavar="DURATION",
                   help="export period, 5s to 3m (default 30s)")
    p.add_argument("--max-procs", type=int, default=0, metavar="N", help="accepted for compatibility; ignored")
    p.add_argument("--healthz-ip", default="0.0.0.0", metavar="IP",
                   help="bind address of /healthz and /metrics (default 0.0.0.0)")
    p.add_argument("--healthz-port", type=int, default=8084, metavar="PORT", help="its port (default 8084)")
    add_bool(p, "--version", "print the version and exit")
    p.add_argument("--checkpoint-file", metavar="PATH", help="keep the export checkpoint in this file")
    p.add_argument("--checkpoint-configmap", metavar="NAMESPACE/NAME",
                   help="keep the export checkpoint in this ConfigMap (in a cluster)")
    add_leader_elect_flags(p, DEFAULT_LEASE, "exports")
    p.add_argument("--dedup-size", type=_positive_int, default=20_000, metavar="N",
                   help="event versions remembered to drop repeats (default 20000)")
    add_sink_queue_flags(p, DEFAULT_SINK_QUEUE, "batches")
    p.add_argument("--stop-timeout", type=go_duration, default=60.0, metavar="DURATION",
                   help="how long shutdown waits for the sinks to flush (default 60s)")
    add_logging_flags(p)
    return p


def parse_args(argv: Sequence[str]) -> EventerOptions:
    """Parse and check the command line; :class:`UsageError` (exit 2) on any mistake."""
    ns = build_parser().parse_args(normalize_argv(argv))
    if ns.version:
        return EventerOptions(source="", version=True)
    if len(ns.source) != 1:
        msg = f"exactly one --source is required (got {len(ns.source)})"
        raise UsageError(msg)
    if not MIN_FREQUENCY <= ns.frequency <= MAX_FREQUENCY:
        msg = f"--frequency must be between 5s and 3m (got {ns.frequency:g}s)"
        raise UsageError(msg)
    if ns.checkpoint_file and ns.checkpoint_configmap:
        msg = "give either --checkpoint-file or --checkpoint-configmap, not both"
        raise UsageError(msg)
    if not 0 <= ns.healthz_port < 65536:
        msg = f"--healthz-port {ns.healthz_port} is not a port"
        raise UsageError(msg)
    queue_flags = SinkQueueFlags.from_namespace(ns)
    queue = sink_queue_bounds(queue_flags, DEFAULT_SINK_QUEUE)
    timing = lease_timing(ns.leader_elect_lease_duration, ns.leader_elect_renew_deadline,
                          ns.leader_elect_retry_period, check=ns.leader_elect)
    return EventerOptions(
        source=ns.source[0],
        sinks=list(ns.sink),
        frequency=ns.frequency,
        max_procs=ns.max_procs,
        healthz_ip=ns.healthz_ip,
        healthz_port=ns.healthz_port,
        checkpoint_file=ns.checkpoint_file,
        checkpoint_configmap=(parse_ref(ns.checkpoint_configmap, "--checkpoint-configmap")
                              if ns.checkpoint_configmap else None),
        leader_elect=ns.leader_elect,
        leader_elect_lease=parse_ref(ns.leader_elect_lease, "--leader-elect-lease"),
        leader_elect_identity=ns.leader_elect_identity,
        lease_timing=timing,
        dedup_size=ns.dedup_size,
        sink_queue_size=queue.size,
        sink_queue_dir=queue.directory,
        sink_queue_max_bytes=queue.max_bytes,
        sink_queue_max_age=queue.max_age,
        sink_queue_flags=queue_flags,
        stop_timeout=ns.stop_timeout,
        verbose=ns.verbose + ns.glog_v,
        log_format=ns.log_format,
    )
