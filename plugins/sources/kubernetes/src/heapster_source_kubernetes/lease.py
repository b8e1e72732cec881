"""Active/standby replicas: a small coordination.k8s.io/v1 Lease elector (client-go's algorithm).

Implements :class:`heapster.interfaces.LeaderElector` for heapster and the eventer.

Why not ``kubernetes.leaderelection``: its ``LeaderElection.run()`` blocks a thread forever
(the follower loop has no way to stop), it never releases the Lease on shutdown (a standby
waits out the whole lease duration after a clean stop), ``LeaseLock`` builds its API object
from the global default configuration instead of the one we were given, bad settings call
``sys.exit``, and the leader's work runs in a thread with no way to stop it once the lease is
lost. This elector follows the same algorithm (observed-time expiry, so clock skew between
replicas does not matter) with the client's ``CoordinationV1Api``, is cancellable, releases
on stop, carries annotations for the next leader, and tells the caller exactly until when it
may act as leader. Every write is a replace with the resourceVersion read, so of two replicas
racing for the Lease the API server lets one win (409 Conflict for the other).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from heapster.aio import unless_set
from heapster.interfaces import Clock, LeaseSettings, SystemClock

log = structlog.get_logger("heapster.leader")


class LeaseElector:
    """Acquires, renews and releases one Lease for ``settings.identity`` (a :class:`LeaderElector`).

    ``leading`` is only true while the last successful renewal is younger than the renew
    deadline, which is shorter than the lease duration other replicas wait for: a leader that
    cannot renew stops before anyone else may start.
    """

    def __init__(self, api_client: Any, settings: LeaseSettings, *, clock: Clock | None = None) -> None:
        from kubernetes import client

        self.api = client.CoordinationV1Api(api_client)
        self.settings = settings
        self.namespace = settings.namespace
        self.name = settings.name
        self.identity = settings.identity
        self.clock = clock or SystemClock()
        self._renewed_at: float | None = None
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._annotations: dict[str, str] = {}
        self._to_write: dict[str, str] = {}
        self._renew_now = asyncio.Event()
        self.last_attempt: float | None = None
        self.holder: str | None = None

    @property
    def leading(self) -> bool:
        """Whether this replica may act as leader right now."""
        return self._renewed_at is not None and self.clock.now() - self._renewed_at < self.settings.renew_deadline

    @property
    def annotations(self) -> Mapping[str, str]:
        """The Lease's annotations as read at the last attempt."""
        return self._annotations

    def annotate(self, values: Mapping[str, str]) -> None:
        """Write ``values`` as annotations with the next renewal, which :meth:`hold` does at once."""
        self._to_write.update(values)
        self._renew_now.set()

    async def acquire(self) -> None:
        """Try every retry period until this replica holds the lease."""
        logged = False
        while not await self.try_acquire_or_renew():
            if not logged:
                log.info("leader.standby", lease=self._ref, identity=self.identity, holder=self.holder)
                logged = True
            await self.clock.sleep(self.settings.retry_period)
        log.info("leader.acquired", lease=self._ref, identity=self.identity)

    async def hold(self) -> None:
        """Renew every retry period (or at once after :meth:`annotate`); return once a renewal missed the deadline."""
        while True:
            await self._pause(self.settings.retry_period)
            while not await self.try_acquire_or_renew():
                if not self.leading:
                    log.warning("leader.lost", lease=self._ref, identity=self.identity, holder=self.holder)
                    self._renewed_at = None
                    return
                await self.clock.sleep(self.settings.retry_period / 2)

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
            lease.spec.renew_time = self._stamp()
            self._write_annotations(lease)
            await self._call(self.api.replace_namespaced_lease, self.name, self.namespace, lease)
            log.info("leader.released", lease=self._ref, identity=self.identity)
        except Exception as exc:
            log.warning("leader.release.failed", lease=self._ref, error=str(exc))

    async def try_acquire_or_renew(self) -> bool:
        """One round of client-go's ``tryAcquireOrRenew``; ``True`` when we hold the lease after it."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        now = self.clock.now()
        self.last_attempt = now
        stamp = self._stamp()
        duration = max(1, round(self.settings.lease_duration))
        try:
            lease = await self._call(self.api.read_namespaced_lease, self.name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                log.warning("leader.get.failed", lease=self._ref, status=exc.status, reason=exc.reason)
                return False
            spec = client.V1LeaseSpec(holder_identity=self.identity, lease_duration_seconds=duration,
                                      acquire_time=stamp, renew_time=stamp, lease_transitions=0)
            body = client.V1Lease(metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace), spec=spec)
            self._annotations = {}
            self._write_annotations(body)
            try:
                await self._call(self.api.create_namespaced_lease, self.namespace, body)
            except ApiException as create_exc:
                log.info("leader.create.failed", lease=self._ref, status=create_exc.status)
                return False
            except Exception as create_exc:
                log.warning("leader.create.failed", lease=self._ref, error=str(create_exc))
                return False
            self._mark_renewed(now)
            return True
        except Exception as exc:
            log.warning("leader.get.failed", lease=self._ref, error=str(exc))
            return False

        self._annotations = dict((lease.metadata.annotations if lease.metadata else None) or {})
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
            self._to_write = {}  # a new term starts from what the last leader handed over
        spec.holder_identity = self.identity
        spec.lease_duration_seconds = duration
        spec.renew_time = stamp
        lease.spec = spec
        written = self._write_annotations(lease)
        try:
            await self._call(self.api.replace_namespaced_lease, self.name, self.namespace, lease)
        except ApiException as exc:
            log.info("leader.update.failed", lease=self._ref, status=exc.status)
            return False
        except Exception as exc:
            log.warning("leader.update.failed", lease=self._ref, error=str(exc))
            return False
        self._annotations = written
        self._observed = (self.identity, duration, spec.acquire_time, spec.renew_time)
        self._observed_at = now
        self._mark_renewed(now)
        return True

    @property
    def _ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def _write_annotations(self, lease: Any) -> dict[str, str]:
        """Put the pending annotations on ``lease``; returns its annotations after that."""
        if not self._to_write:
            return dict(self._annotations)
        from kubernetes import client

        if lease.metadata is None:
            lease.metadata = client.V1ObjectMeta(name=self.name, namespace=self.namespace)
        merged = {**(lease.metadata.annotations or {}), **self._to_write}
        lease.metadata.annotations = merged
        return merged

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, cut short by :meth:`annotate`."""
        await unless_set(self.clock.sleep(seconds), self._renew_now)
        self._renew_now.clear()

    def _mark_renewed(self, now: float) -> None:
        self._renewed_at = now
        self.holder = self.identity

    def _stamp(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def _call(self, method: Any, *args: Any) -> Any:
        timeout = max(1.0, self.settings.retry_period)
        return await asyncio.to_thread(method, *args, _request_timeout=timeout)
