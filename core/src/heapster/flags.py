"""Command-line flags: Heapster's names and defaults, ``_`` and ``-`` interchangeable, Go-style values."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from heapster.durations import parse_bool, parse_duration, parse_size
from heapster.errors import UsageError
from heapster.settings import HeapsterSettings, SinkQueueFlags


class FlagParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError` (one line, exit 2)."""

    _checking = False

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        """As argparse's; the formatter it asks for to check a metavar has a fixed width (:meth:`_get_formatter`)."""
        self._checking = True
        try:
            return super().add_argument(*args, **kwargs)
        finally:
            self._checking = False

    def _get_formatter(self) -> argparse.HelpFormatter:
        """A formatter as wide as the terminal, but not for ``add_argument``'s metavar check, which never formats
        text: argparse reads the width through ``shutil`` (with ``bz2``, ``lzma``: 0.65 MiB of the eventer's RSS)."""
        if self._checking:
            return argparse.HelpFormatter(prog=self.prog, width=80)
        return super()._get_formatter()

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            bad = message.split(":", 1)[1].split(maxsplit=1)[0].split("=", 1)[0]
            known = sorted(o for a in self._actions for o in a.option_strings if o.startswith("--"))
            import difflib  # only for a bad flag's hint

            near = difflib.get_close_matches(bad, known, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            msg = f"unknown flag {bad}{hint}; see {self.prog} --help"
            raise UsageError(msg)
        raise UsageError(message)


_GLOG_LEVEL = re.compile(r"[+-]?[0-9]+")
"""A glog ``Level`` value (``strconv.Atoi``)."""


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """Canonical flag names: ``--metric_resolution`` == ``--metric-resolution``, ``-source=x`` == ``--source=x``.

    ``-v``/``-vv`` stay short flags; ``-v N`` and ``-vN`` are glog's level, ``--v=N``, as pflag read them (heapster's
    ``-v`` was the shorthand of glog's ``--v``); everything after ``--`` is left alone.
    """
    out: list[str] = []
    passthrough = False
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if passthrough or not arg.startswith("-") or arg in ("-", "--"):
            passthrough = passthrough or arg == "--"
            out.append(arg)
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if arg == "-v" and index < len(argv) and _GLOG_LEVEL.fullmatch(argv[index]):
            out.append(f"--v={argv[index]}")  # -v 4
            index += 1
            continue
        if not arg.startswith("--") and name[:1] == "v" and not eq and _GLOG_LEVEL.fullmatch(name[1:]):
            out.append(f"--v={name[1:]}")  # -v4
            continue
        if not arg.startswith("--") and set(name) <= {"v"} and not eq:
            out.append(arg)  # -v, -vv: verbosity count
            continue
        if not arg.startswith("--") and len(name) == 1 and name != "v":
            out.append(arg)
            continue
        out.append(f"--{name.replace('_', '-')}{eq}{value}")
    return out


def go_bool(text: str) -> bool:
    """argparse type for Go bool flags."""
    try:
        return parse_bool(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def go_duration(text: str) -> float:
    """argparse type for Go duration flags (seconds)."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def shard_spec(text: str) -> tuple[int, int]:
    """argparse type for ``--shard=I/N`` or ``--shard=auto/N`` (I from the StatefulSet pod name)."""
    from heapster.shards.spec import ShardSpecError, parse_shard

    try:
        return parse_shard(text)
    except ShardSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class ExtendCSV(argparse.Action):
    """A pflag string slice: repeatable, and each value may be a comma-separated list."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        items = list(getattr(namespace, self.dest) or [])
        items.extend(v for v in str(values).split(",") if v)
        setattr(namespace, self.dest, items)


def byte_size(text: str) -> int:
    """argparse type for a size in bytes: ``1048576``, ``512Mi``, ``1Gi``, ``100M``."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


DISK_QUEUE_SIZE = 100_000
DISK_QUEUE_BYTES = 1024 * 1024**2
DISK_QUEUE_AGE = 24 * 3600.0
"""A sink queue on disk is bounded by bytes and age; its count bound is only a backstop."""


def add_sink_queue_flags(parser: argparse.ArgumentParser, memory_size: int, what: str) -> None:
    """The sink queue flags heapster and the eventer share; see :func:`sink_queue_bounds`."""
    a = parser.add_argument
    a("--sink-queue-size", type=int, default=None, metavar="N",
      help=f"{what} kept per sink while it is down (default {memory_size} in memory, "
           f"{DISK_QUEUE_SIZE} with --sink-queue-dir)")
    a("--sink-queue-dir", default="", metavar="DIR",
      help="keep each sink's queue on disk here (SQLite, fsynced per batch) so a restart during an "
           "outage loses nothing; default: in memory")
    a("--sink-queue-max-bytes", type=byte_size, default=None, metavar="SIZE",
      help=f"disk a sink's queue may take before the oldest {what} are dropped "
           f"(default {DISK_QUEUE_BYTES // 1024**2}Mi; only with --sink-queue-dir)")
    a("--sink-queue-max-age", type=go_duration, default=None, metavar="DURATION",
      help=f"drop queued {what} older than this (default 24h with --sink-queue-dir, none in memory)")


@dataclass(frozen=True, slots=True)
class SinkQueueBounds:
    """Where and how much each sink queue holds, from the shared flags."""

    directory: str
    size: int
    max_bytes: int | None
    max_age: float | None


def sink_queue_bounds(flags: SinkQueueFlags, memory_size: int,
                      uri_options: Mapping[str, Any] | None = None) -> SinkQueueBounds:
    """The queue bounds from the flags, or for one sink whose URI sets ``queue_*`` options (which win).

    :class:`UsageError` for values out of range, naming the flag or the URI option.
    """
    uri = uri_options or {}

    def pick(name: str) -> tuple[Any, str]:
        if uri.get(f"queue_{name}") is not None:
            return uri[f"queue_{name}"], f"the sink option queue_{name}"
        return getattr(flags, name), f"--sink_queue_{name}"

    directory = pick("dir")[0] or ""
    size, size_name = pick("size")
    max_bytes, bytes_name = pick("max_bytes")
    max_age, age_name = pick("max_age")
    if size is not None and size < 1:
        msg = f"{size_name} must be at least 1"
        raise UsageError(msg)
    if max_bytes is not None and not directory:
        msg = f"{bytes_name} needs --sink_queue_dir or queue_dir (a queue in memory is bounded by its size)"
        raise UsageError(msg)
    if max_bytes is not None and max_bytes < 1:
        msg = f"{bytes_name} must be positive"
        raise UsageError(msg)
    if max_age is not None and max_age <= 0:
        msg = f"{age_name} must be positive"
        raise UsageError(msg)
    if directory:
        return SinkQueueBounds(directory, size or DISK_QUEUE_SIZE, max_bytes or DISK_QUEUE_BYTES,
                               max_age or DISK_QUEUE_AGE)
    return SinkQueueBounds("", size or memory_size, None, max_age)


def add_bool(parser: argparse.ArgumentParser, name: str, help_text: str, default: bool = False) -> None:
    """A Go bool flag: ``--x``, ``--x=true``, ``--x=false``."""
    parser.add_argument(name, nargs="?", const=True, default=default, type=go_bool, metavar="BOOL",
                        help=help_text)


def add_logging_flags(parser: argparse.ArgumentParser) -> None:
    """glog's flags (accepted for compatibility) and our own verbosity and format switches."""
    parser.add_argument("-v", dest="verbose", action="count", default=0, help="more log detail (repeatable)")
    parser.add_argument("--v", dest="glog_v", type=int, default=0, metavar="LEVEL",
                        help="log level for V logs (glog compatible)")
    parser.add_argument("--log-format", choices=("auto", "console", "json"), default="auto",
                        help="log line format; auto is console on a terminal, JSON otherwise")
    for name in ("--vmodule", "--log-dir", "--log-file", "--stderrthreshold", "--log-backtrace-at"):
        parser.add_argument(name, default="", help=argparse.SUPPRESS)
    for name in ("--logtostderr", "--alsologtostderr"):
        add_bool(parser, name, argparse.SUPPRESS, default=True)


MEMORY_QUEUE_SIZE = 15
"""Heapster's sink queue in memory: 15 minutes of outage at the default 60 s resolution."""


DEFAULT_LEASE = "kube-system/heapster"
"""heapster's ``--leader-elect-lease`` (the eventer's is ``kube-system/heapster-eventer``)."""


def heapster_parser(prog: str = "heapster") -> FlagParser:
    """Every flag of HEAPSTER.md §1.1 with Heapster's defaults, plus this implementation's own."""
    p = FlagParser(prog=prog, allow_abbrev=False,
                   description="Scrape every kubelet, process, keep recent history and ship metrics to sinks.",
                   epilog=f"subcommands: {prog} plugins | {prog} top nodes|pods [-n NS] [--server URL]")
    a = p.add_argument
    a("--source", action="append", default=[], metavar="URI",
      help="source to read metrics from, KEY[:URL[?opts]], e.g. kubernetes:https://kubernetes.default")
    a("--sink", action="append", default=[], metavar="URI",
      help="sink to export to (repeatable), e.g. influxdb:http://monitoring-influxdb:8086")
    a("--metric-resolution", type=go_duration, default=60.0, metavar="DURATION",
      help="scrape and export period (default 60s, at least 5s)")
    add_bool(p, "--api-server", "also serve metrics.k8s.io (served on --heapster-port here)")
    a("--heapster-port", type=int, default=8082, help="port of the HTTP API (default 8082)")
    a("--listen-ip", default="", help="IP the HTTP API binds to (default all)")
    a("--max-procs", type=int, default=0, help="accepted for compatibility; Python runs one process")
    a("--tls-cert", default="", help="TLS certificate file of the HTTP API")
    a("--tls-key", default="", help="TLS key file of the HTTP API")
    a("--tls-client-ca", default="", help="CA file for client certificate authentication")
    a("--allowed-users", action=ExtendCSV, default=[], help="comma-separated client certificate CNs allowed")
    a("--historical-source", default="", help="the --sink URI to serve /api/v1/historical from (InfluxDB)")
    a("--version", action="store_true", help="print version and exit")
    a("--label-separator", default=",", help="separator of the joined 'labels' label (default ',')")
    a("--ignore-label", action=ExtendCSV, default=[], help="label keys left out of the 'labels' label")
    a("--store-label", action=ExtendCSV, default=[], help="labels stored as their own label: name or new=name")
    add_bool(p, "--disable-export", "serve [] at /api/v1/metric-export")
    a("--sink-export-data-timeout", type=go_duration, default=20.0, metavar="DURATION",
      help="longest one export attempt to a sink may take (default 20s)")
    add_bool(p, "--disable-metric-sink", "do not keep metrics in memory (disables the model and metrics APIs)")
    # Flags of the generic API server Heapster embedded; accepted so existing command lines run.
    for name, default in (("--bind-address", "0.0.0.0"), ("--secure-port", "443"),
                          ("--cert-dir", "apiserver.local.config/certificates"), ("--tls-cert-file", ""),
                          ("--tls-private-key-file", ""), ("--tls-ca-file", ""), ("--tls-sni-cert-key", ""),
                          ("--authentication-kubeconfig", ""), ("--authentication-token-webhook-cache-ttl", "10s"),
                          ("--client-ca-file", ""), ("--requestheader-username-headers", "x-remote-user"),
                          ("--requestheader-group-headers", "x-remote-group"),
                          ("--requestheader-extra-headers-prefix", "x-remote-extra-"),
                          ("--requestheader-client-ca-file", ""), ("--requestheader-allowed-names", ""),
                          ("--authorization-kubeconfig", ""), ("--authorization-webhook-cache-authorized-ttl", "10s"),
                          ("--authorization-webhook-cache-unauthorized-ttl", "10s")):
        a(name, default=default, help=argparse.SUPPRESS)
    for name in ("--authentication-skip-lookup", "--profiling", "--contention-profiling", "--enable-swagger-ui"):
        add_bool(p, name, argparse.SUPPRESS)
    # k8s.io/apiserver/pkg/util/logs, which heapster imported, registered this pflag Duration on the flag set
    # heapster parsed (glog flushes; ours logs unbuffered). The eventer parsed Go's flag set: it never had it.
    a("--log-flush-frequency", type=go_duration, default=5.0, help=argparse.SUPPRESS)
    # This implementation's own flags.
    a("--kubelet-timeout", type=go_duration, default=10.0, metavar="DURATION",
      help="per-node scrape timeout (default 10s, at most the window)")
    a("--api-idle-timeout", type=go_duration, default=60.0, metavar="DURATION",
      help="close HTTP API connections idle (or holding an incomplete request) this long after a response "
           "(default 60s)")
    a("--api-header-timeout", type=go_duration, default=10.0, metavar="DURATION",
      help="close HTTP API connections that send no complete request head this long after connecting "
           "(default 10s)")
    add_sink_queue_flags(p, MEMORY_QUEUE_SIZE, "batches")
    a("--shutdown-timeout", type=go_duration, default=60.0, metavar="DURATION",
      help="time to flush sinks on SIGTERM/SIGINT (default 60s)")
    a("--store-duration", type=go_duration, default=900.0, metavar="DURATION",
      help="history kept in memory for the model API (default 15m)")
    a("--shard", type=shard_spec, default=(0, 1), metavar="I/N",
      help="scrape only shard I of N (0-based), split by a stable hash of the node name; auto/N takes I from "
           "the StatefulSet pod name ($POD_NAME or the hostname, heapster-2 -> 2)")
    a("--shard-service", default="", metavar="NAME",
      help="headless Service whose EndpointSlices list the shards (peers for whole-cluster answers and "
           "aggregates)")
    a("--shard-namespace", default=os.environ.get("POD_NAMESPACE") or "default", metavar="NAMESPACE",
      help="namespace of --shard-service (default $POD_NAMESPACE, else default)")
    a("--shard-port-name", default="", metavar="NAME",
      help="EndpointSlice port of the peers' HTTP API (default: the first port)")
    a("--shard-peer-timeout", type=go_duration, default=5.0, metavar="DURATION",
      help="how long an API answer waits for each peer shard (default 5s)")
    a("--shard-peer-ca", default="", metavar="FILE",
      help="CA bundle verifying the peers' serving certificates, which must name <pod>.<shard-service>."
           "<shard-namespace>.svc (default: the system's trust store)")
    a("--shard-client-cert", default="", metavar="FILE",
      help="client certificate presented to peers (default with --tls_client_ca: --tls_cert, which then needs "
           "extended key usage clientAuth)")
    a("--shard-client-key", default="", metavar="FILE", help="key of --shard-client-cert")
    add_bool(p, "--strict-plugins", "fail when a plugin cannot be loaded (default: log and skip)")
    from heapster.leader import add_leader_elect_flags  # imports this module

    add_leader_elect_flags(p, DEFAULT_LEASE, "exports to the sinks (every replica scrapes and serves the API)")
    add_logging_flags(p)
    return p


def validate_heapster(values: HeapsterSettings | Mapping[str, Any]) -> None:
    """Cross-flag checks Heapster made at start; raises :class:`UsageError`."""
    settings = HeapsterSettings.of(values)
    if len(settings.source) != 1:
        msg = f"wrong number of sources specified: {len(settings.source)}, expected exactly one --source"
        raise UsageError(msg)
    if settings.metric_resolution < 5:
        msg = "metric resolution should not be less than 5 seconds (--metric_resolution)"
        raise UsageError(msg)
    if bool(settings.tls_cert) != bool(settings.tls_key):
        msg = "both --tls_cert and --tls_key must be given, or neither"
        raise UsageError(msg)
    if settings.tls_client_ca and not settings.tls_cert:
        msg = "--tls_client_ca requires --tls_cert and --tls_key"
        raise UsageError(msg)
    if bool(settings.shard_client_cert) != bool(settings.shard_client_key):
        msg = "both --shard_client_cert and --shard_client_key must be given, or neither"
        raise UsageError(msg)
    for name in ("shard_peer_ca", "shard_client_cert"):
        if getattr(settings, name) and not settings.tls_cert:
            msg = f"--{name} needs --tls_cert and --tls_key: peers serve HTTPS only when this shard does"
            raise UsageError(msg)
    if settings.allowed_users and not settings.tls_client_ca:
        # Heapster ignored the list without a client CA and served everyone; refuse instead.
        msg = ("--allowed_users needs --tls_client_ca (with --tls_cert and --tls_key): users are the CNs of "
               "client certificates, and without a client CA no request is authenticated")
        raise UsageError(msg)
    if not 0 <= settings.heapster_port < 65536:  # the resolver took 99999 as 34463 and served there
        msg = f"--heapster-port {settings.heapster_port} is not a port (0 to 65535)"
        raise UsageError(msg)
    if settings.historical_source and settings.historical_source not in settings.sink:
        msg = "--historical_source must equal one of the --sink values"
        raise UsageError(msg)
    sink_queue_bounds(settings.sink_queue_flags, MEMORY_QUEUE_SIZE)
    if settings.leader_elect:
        from heapster.leader import lease_timing, parse_ref

        lease_timing(settings.leader_elect_lease_duration, settings.leader_elect_renew_deadline,
                     settings.leader_elect_retry_period, check=True)
        parse_ref(settings.leader_elect_lease, "--leader-elect-lease")
    for name in ("kubelet_timeout", "sink_export_data_timeout", "store_duration", "api_idle_timeout",
                 "api_header_timeout", "shard_peer_timeout"):
        if getattr(settings, name) <= 0:
            msg = f"--{name} must be positive"
            raise UsageError(msg)


def parse_flags(parser: FlagParser, argv: Sequence[str],
                validate: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Parse (normalised) argv into a settings dict keyed by canonical names (``metric_resolution``)."""
    namespace = parser.parse_args(normalize_argv(argv))
    settings = {key.replace("-", "_"): value for key, value in vars(namespace).items()}
    if validate is not None and not settings.get("version"):
        validate(settings)
    return settings


def parse_heapster_settings(argv: Sequence[str], prog: str = "heapster") -> HeapsterSettings:
    """heapster's command line, checked (:class:`UsageError` on any mistake), as typed settings."""
    return HeapsterSettings.from_mapping(parse_flags(heapster_parser(prog), argv, validate_heapster))
