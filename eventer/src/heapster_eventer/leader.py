"""Active/standby replicas: a small coordination.k8s.io/v1 Lease elector (client-go's algorithm).

Why not ``kubernetes.leaderelection``: its ``LeaderElection.run()`` blocks a thread forever
(the follower loop has no way to stop), it never releases the Lease on shutdown (a standby
waits out the whole lease duration after a clean stop), ``LeaseLock`` builds its API object
from the global default configuration instead of the one we were given, bad settings call
``sys.exit``, and the leader's work runs in a thread with no way to stop it once the lease is
lost. This elector follows the same algorithm (observed-time expiry, so clock skew between
replicas does not matter) with the client's ``CoordinationV1Api``, is cancellable, releases
on stop, and tells the caller exactly until when it may act as leader.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from heapster.errors import UsageError
from heapster.interfaces import Clock, SystemClock

log = structlog.get_logger("heapster_eventer.leader")


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


class LeaseElector:
    """Acquires, renews and releases one Lease for ``identity``.

    ``await acquire()`` returns once this replica leads; ``await hold()`` renews until the
    lease cannot be renewed within the renew deadline and then returns; ``release()`` hands
    the lease over at once. ``leading`` is only true while the last successful renewal is
    younger than the renew deadline, which is shorter than the lease duration other
    replicas wait for: a leader that cannot renew stops before anyone else may start.
    """

    def __init__(self, api_client: Any, namespace: str, name: str, identity: str, *,
                 timing: LeaseTiming | None = None, clock: Clock | None = None) -> None:
        from kubernetes import client

        self.api = client.CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timing = timing or LeaseTiming()
        self.timing.check()
        self.clock = clock or SystemClock()
        self._renewed_at: float | None = None
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self.last_attempt: float | None = None
        self.holder: str | None = None

    @property
    def leading(self) -> bool:
        """Whether this replica may act as leader right now."""
        return self._renewed_at is not None and self.clock.now() - self._renewed_at < self.timing.renew_deadline

    async def acquire(self) -> None:
        """Try every retry period until this replica holds the lease."""
        logged = False
        while not await self.try_acquire_or_renew():
            if not logged:
                log.info("leader.standby", lease=f"{self.namespace}/{self.name}", identity=self.identity,
                         holder=self.holder)
                logged = True
            await self.clock.sleep(self.timing.retry_period)
        log.info("leader.acquired", lease=f"{self.namespace}/{self.name}", identity=self.identity)

    async def hold(self) -> None:
        """Renew every retry period; return once the lease could not be renewed within the deadline."""
        while True:
            await self.clock.sleep(self.timing.retry_period)
            while not await self.try_acquire_or_renew():
                if not self.leading:
                    log.warning("leader.lost", lease=f"{self.namespace}/{self.name}", identity=self.identity,
                                holder=self.holder)
                    self._renewed_at = None
                    return
                await self.clock.sleep(self.timing.retry_period / 2)

    async def release(self) -> None:
        """Give the lease up (holder cleared, duration 1 s) so a standby takes over at once."""
        if self._renewed_at is None:
            return
        self._renewed_at = None
        try:
            lease = await self._call(self.api.read_namespaced_lease, self.name, self.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = ""
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = _now_micro(self.clock)
            await self._call(self.api.replace_namespaced_lease, self.name, self.namespace, lease)
            log.info("leader.released", lease=f"{self.namespace}/{self.name}", identity=self.identity)
        except Exception as exc:
            log.warning("leader.release.failed", error=str(exc))

    async def try_acquire_or_renew(self) -> bool:
        """One round of client-go's ``tryAcquireOrRenew``; ``True`` when we hold the lease after it."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        now = self.clock.now()
        self.last_attempt = now
        stamp = _now_micro(self.clock)
        duration = max(1, round(self.timing.lease_duration))
        try:
            lease = await self._call(self.api.read_namespaced_lease, self.name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                log.warning("leader.get.failed", status=exc.status, reason=exc.reason)
                return False
            spec = client.V1LeaseSpec(holder_identity=self.identity, lease_duration_seconds=duration,
                                      acquire_time=stamp, renew_time=stamp, lease_transitions=0)
            body = client.V1Lease(metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace), spec=spec)
            try:
                await self._call(self.api.create_namespaced_lease, self.namespace, body)
            except ApiException as create_exc:
                log.info("leader.create.failed", status=create_exc.status)
                return False
            except Exception as create_exc:
                log.warning("leader.create.failed", error=str(create_exc))
                return False
            self._mark_renewed(now)
            return True
        except Exception as exc:
            log.warning("leader.get.failed", error=str(exc))
            return False

        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity or ""
        self.holder = holder or None
        record = (holder, spec.lease_duration_seconds, spec.acquire_time, spec.renew_time)
        if record != self._observed:
            self._observed = record
            self._observed_at = now
        held_by_other = bool(holder) and holder != self.identity
        other_duration = spec.lease_duration_seconds or duration
        if held_by_other and self._observed_at + other_duration > now:
            return False
        if holder != self.identity:
            spec.acquire_time = stamp
            spec.lease_transitions = (spec.lease_transitions or 0) + (1 if holder else 0)
        spec.holder_identity = self.identity
        spec.lease_duration_seconds = duration
        spec.renew_time = stamp
        lease.spec = spec
        try:
            await self._call(self.api.replace_namespaced_lease, self.name, self.namespace, lease)
        except ApiException as exc:
            log.info("leader.update.failed", status=exc.status)
            return False
        except Exception as exc:
            log.warning("leader.update.failed", error=str(exc))
            return False
        self._observed = (self.identity, duration, spec.acquire_time, spec.renew_time)
        self._observed_at = now
        self._mark_renewed(now)
        return True

    def _mark_renewed(self, now: float) -> None:
        self._renewed_at = now
        self.holder = self.identity

    async def _call(self, method: Any, *args: Any) -> Any:
        timeout = max(1.0, self.timing.retry_period)
        return await asyncio.to_thread(method, *args, _request_timeout=timeout)


def _now_micro(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.now(), UTC)


def parse_ref(value: str, flag: str) -> tuple[str, str]:
    """``NAMESPACE/NAME`` -> (namespace, name); :class:`UsageError` naming the flag otherwise."""
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name or "/" in name:
        msg = f"bad value {value!r} for {flag}: use NAMESPACE/NAME"
        raise UsageError(msg)
    return namespace, name
