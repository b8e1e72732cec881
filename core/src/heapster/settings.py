"""The heapster daemon's settings: its command-line flags parsed into one typed, frozen object.

Built by :func:`heapster.flags.parse_heapster_settings` from the command line and handed to every
consumer (the app, the HTTP API, the store, and plugins as ``PluginContext.settings``). Field names
are the flags' canonical names (``--metric-resolution`` -> ``metric_resolution``); defaults are the
flags' defaults. Flags that are accepted only so existing command lines keep working (glog's, the
generic API server's) are kept in ``compat`` by name.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal

LogFormat = Literal["auto", "console", "json"]
"""How log lines are written (``--log-format``)."""


def _strings(value: Iterable[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@dataclass(frozen=True, slots=True)
class SinkQueueFlags:
    """The ``--sink-queue-*`` flags as given (None: not given), before defaults.

    :func:`heapster.flags.sink_queue_bounds` turns them into one sink's queue bounds.
    """

    size: int | None = None
    dir: str = ""
    max_bytes: int | None = None
    max_age: float | None = None

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> SinkQueueFlags:
        """The flags :func:`heapster.flags.add_sink_queue_flags` added, read from parsed arguments."""
        return cls(size=ns.sink_queue_size, dir=ns.sink_queue_dir or "", max_bytes=ns.sink_queue_max_bytes,
                   max_age=ns.sink_queue_max_age)


@dataclass(frozen=True, slots=True)
class HeapsterSettings:
    """Every flag heapster acts on, typed (durations in seconds, sizes in bytes)."""

    source: tuple[str, ...] = ()
    """``--source`` values (exactly one once validated)."""
    sink: tuple[str, ...] = ()
    """``--sink`` values, in order."""
    metric_resolution: float = 60.0
    api_server: bool = False
    heapster_port: int = 8082
    listen_ip: str = ""
    max_procs: int = 0
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    allowed_users: tuple[str, ...] = ()
    historical_source: str = ""
    """The ``--sink`` value whose sink serves ``/api/v1/historical`` ("" for none)."""
    version: bool = False
    label_separator: str = ","
    ignore_label: tuple[str, ...] = ()
    store_label: tuple[str, ...] = ()
    disable_export: bool = False
    sink_export_data_timeout: float = 20.0
    disable_metric_sink: bool = False
    kubelet_timeout: float = 10.0
    api_idle_timeout: float = 60.0
    api_header_timeout: float = 10.0
    sink_queue_size: int | None = None
    sink_queue_dir: str = ""
    sink_queue_max_bytes: int | None = None
    sink_queue_max_age: float | None = None
    shutdown_timeout: float = 60.0
    store_duration: float = 900.0
    shard: tuple[int, int] = (0, 1)
    """``--shard=I/N``: (index, count)."""
    shard_service: str = ""
    """Headless Service whose EndpointSlices list the shards ("" for none: answers are this shard's)."""
    shard_namespace: str = "default"
    shard_port_name: str = ""
    shard_peer_timeout: float = 5.0
    shard_peer_ca: str = ""
    """CA bundle verifying the peers' serving certificates ("" for the system's trust store)."""
    shard_client_cert: str = ""
    """Client certificate presented to peers ("" for the serving one when ``tls_client_ca`` is set)."""
    shard_client_key: str = ""
    strict_plugins: bool = False
    leader_elect: bool = False
    """``--leader-elect``: only the holder of the Lease exports to the sinks."""
    leader_elect_lease: str = "kube-system/heapster"
    leader_elect_identity: str = ""
    leader_elect_lease_duration: float = 15.0
    leader_elect_renew_deadline: float = 10.0
    leader_elect_retry_period: float = 2.0
    verbose: int = 0
    glog_v: int = 0
    log_format: LogFormat = "auto"
    compat: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Flags accepted for compatibility only, by canonical name; nothing reads them."""

    def __post_init__(self) -> None:
        for name in ("source", "sink", "allowed_users", "ignore_label", "store_label"):
            object.__setattr__(self, name, _strings(getattr(self, name)))
        object.__setattr__(self, "shard", tuple(self.shard))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> HeapsterSettings:
        """From flag values by canonical name (parsed flags, or a test's few); missing ones take defaults."""
        known = {f.name for f in fields(cls)} - {"compat"}
        typed = {name: value for name, value in values.items() if name in known}
        compat = MappingProxyType({name: value for name, value in values.items() if name not in known})
        return cls(**typed, compat=compat)

    @classmethod
    def of(cls, value: HeapsterSettings | Mapping[str, Any] | None) -> HeapsterSettings:
        """``value`` itself, or built from a mapping with :meth:`from_mapping` (``None``: the defaults)."""
        if isinstance(value, HeapsterSettings):
            return value
        return cls.from_mapping(value or {})

    @property
    def sink_queue_flags(self) -> SinkQueueFlags:
        """The ``--sink-queue-*`` flags, for :func:`heapster.flags.sink_queue_bounds`."""
        return SinkQueueFlags(size=self.sink_queue_size, dir=self.sink_queue_dir or "",
                              max_bytes=self.sink_queue_max_bytes, max_age=self.sink_queue_max_age)
