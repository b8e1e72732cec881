"""``--leader-elect`` flags shared by heapster and the eventer (client-go's names and defaults)."""

from __future__ import annotations

import argparse
import os
import socket
import uuid
from dataclasses import dataclass

from heapster.errors import UsageError
from heapster.flags import add_bool, go_duration
from heapster.interfaces import LeaseSettings


def default_identity() -> str:
    """``<hostname>_<random>``, as Kubernetes components name their lease holders."""
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseTiming:
    """client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry period."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def check(self) -> None:
        """:class:`UsageError` unless retry < renew deadline < lease duration."""
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            msg = ("leader election needs 0 < --leader-elect-retry-period < --leader-elect-renew-deadline"
                   " < --leader-elect-lease-duration")
            raise UsageError(msg)

    def settings(self, lease: tuple[str, str], identity: str) -> LeaseSettings:
        """The :class:`LeaseSettings` of Lease ``(namespace, name)`` held as ``identity``."""
        return LeaseSettings(lease[0], lease[1], identity, self.lease_duration, self.renew_deadline,
                             self.retry_period)


def parse_ref(value: str, flag: str) -> tuple[str, str]:
    """``NAMESPACE/NAME`` -> (namespace, name); :class:`UsageError` naming the flag otherwise."""
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name or "/" in name:
        msg = f"bad value {value!r} for {flag}: use NAMESPACE/NAME"
        raise UsageError(msg)
    return namespace, name


def add_leader_elect_flags(p: argparse.ArgumentParser, default_lease: str, what: str) -> None:
    """``--leader-elect`` and its ``--leader-elect-*`` flags; ``what`` says what only the leader does."""
    add_bool(p, "--leader-elect", f"run several replicas: only the holder of the Lease {what}")
    p.add_argument("--leader-elect-lease", default=default_lease, metavar="NAMESPACE/NAME",
                   help=f"the coordination.k8s.io Lease (default {default_lease})")
    p.add_argument("--leader-elect-identity", default="", metavar="ID",
                   help="this replica's identity (default HOSTNAME_random)")
    p.add_argument("--leader-elect-lease-duration", type=go_duration, default=15.0, metavar="DURATION",
                   help="how long standbys wait for a silent leader (default 15s)")
    p.add_argument("--leader-elect-renew-deadline", type=go_duration, default=10.0, metavar="DURATION",
                   help="the leader stops if it cannot renew within this (default 10s)")
    p.add_argument("--leader-elect-retry-period", type=go_duration, default=2.0, metavar="DURATION",
                   help="time between acquire/renew attempts (default 2s)")


def lease_timing(lease_duration: float, renew_deadline: float, retry_period: float, *, check: bool) -> LeaseTiming:
    """The timing flags, checked when leader election is on."""
    timing = LeaseTiming(lease_duration, renew_deadline, retry_period)
    if check:
        timing.check()
    return timing
