"""Leader election on a coordination.k8s.io/v1 Lease, written small and strict.

Why not `kubernetes.leaderelection`: it blocks, and keeps running after losing the lease.
Here leadership is a fact with an expiry: `is_leader()` is true only until
`renew_deadline_s` after the start of our last successful renew, measured on our own
monotonic clock. Every write the runtime makes checks it first, so an instance that
cannot renew (partition, API down, GC pause) stops acting within the renew deadline —
before any other instance can take over, which needs `lease_duration_s` (> renew
deadline) of seeing no change in the record (client-go's rule, immune to clock skew).
A write already in flight is bounded too: its request timeout is cut to end within
`takeover_margin_s()`, so it lands (or fails) before a successor can start acting.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Callable

import structlog
from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = structlog.get_logger(__name__)


class LeaseElector:
    def __init__(self, api_client: client.ApiClient, *, name: str, namespace: str, identity: str,
                 lease_duration_s: float = 15.0, renew_deadline_s: float = 10.0, retry_period_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic, request_timeout: tuple[float, float] = (2.0, 3.0)):
        if not (retry_period_s < renew_deadline_s < lease_duration_s):
            raise ValueError("need retry period < renew deadline < lease duration")
        self.api = client.CoordinationV1Api(api_client)
        self.name, self.namespace, self.identity = name, namespace, identity
        self.lease_duration_s = lease_duration_s
        self.renew_deadline_s = renew_deadline_s
        self.retry_period_s = retry_period_s
        self.clock = clock
        self.timeout = request_timeout
        self._observed: tuple | None = None  # (holder, renewTime, transitions) last seen
        self._observed_at: float = 0.0
        self._renewed_at: float | None = None  # start of our last successful acquire/renew
        self._lock = threading.Lock()
        self.attempted = False  # at least one round trip tried (readiness)

    # -- state -----------------------------------------------------------------------------
    def is_leader(self) -> bool:
        with self._lock:
            return self._renewed_at is not None and self.clock() - self._renewed_at < self.renew_deadline_s

    def remaining_s(self) -> float:
        with self._lock:
            if self._renewed_at is None:
                return 0.0
            return max(0.0, self.renew_deadline_s - (self.clock() - self._renewed_at))

    def takeover_margin_s(self) -> float:
        """Seconds until another instance could possibly take over: what is left of our renew
        deadline plus the gap between lease duration and renew deadline. Writes must end by then."""
        remaining = self.remaining_s()
        return remaining + (self.lease_duration_s - self.renew_deadline_s) if remaining > 0 else 0.0

    # -- one round -------------------------------------------------------------------------
    def try_acquire_or_renew(self) -> bool:
        started = self.clock()
        self.attempted = True
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=self.timeout)
        except ApiException as err:
            if err.status != 404:
                log.info("lease read failed", status=err.status)
                return False
            return self._create(started)
        except Exception as err:  # noqa: BLE001 - transport error: we simply did not renew
            log.info("lease read failed", error=type(err).__name__)
            return False

        spec = lease.spec or client.V1LeaseSpec()
        record = (spec.holder_identity, str(spec.renew_time), spec.lease_transitions)
        if record != self._observed:
            self._observed, self._observed_at = record, started
        holder = spec.holder_identity or ""
        duration = float(spec.lease_duration_seconds or self.lease_duration_s)
        if holder and holder != self.identity and started < self._observed_at + duration:
            return False  # someone else holds an unexpired lease

        now = dt.datetime.now(dt.timezone.utc)
        if holder != self.identity:
            spec.acquire_time = now
            spec.lease_transitions = (spec.lease_transitions or 0) + (1 if holder else 0)
        spec.holder_identity = self.identity
        spec.lease_duration_seconds = int(self.lease_duration_s)
        spec.renew_time = now
        lease.spec = spec
        try:  # replace carries metadata.resourceVersion: a racing writer gets 409
            self.api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=self.timeout)
        except Exception as err:  # noqa: BLE001 - 409 (lost the race) or transport: not leader this round
            log.info("lease update failed", error=getattr(err, "status", None) or type(err).__name__)
            return False
        return self._won(started, holder)

    def _create(self, started: float) -> bool:
        now = dt.datetime.now(dt.timezone.utc)
        lease = client.V1Lease(
            metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
            spec=client.V1LeaseSpec(holder_identity=self.identity, lease_duration_seconds=int(self.lease_duration_s),
                                    acquire_time=now, renew_time=now, lease_transitions=0))
        try:
            self.api.create_namespaced_lease(self.namespace, lease, _request_timeout=self.timeout)
        except Exception as err:  # noqa: BLE001 - 409: another instance created it first
            log.info("lease create failed", error=getattr(err, "status", None) or type(err).__name__)
            return False
        return self._won(started, "")

    def _won(self, started: float, previous_holder: str) -> bool:
        with self._lock:
            was = self._renewed_at is not None and started - self._renewed_at < self.renew_deadline_s
            self._renewed_at = started
        if not was:
            log.info("became leader", lease=f"{self.namespace}/{self.name}", identity=self.identity,
                     previous=previous_holder or None)
        return True

    def release(self) -> None:
        """On shutdown: hand the lease over at once instead of making others wait it out."""
        if not self.is_leader():
            return
        with self._lock:
            self._renewed_at = None
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=self.timeout)
            if lease.spec and lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity = None
                lease.spec.lease_duration_seconds = 1
                lease.spec.renew_time = dt.datetime.now(dt.timezone.utc)
                self.api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=self.timeout)
                log.info("released lease", lease=f"{self.namespace}/{self.name}")
        except Exception as err:  # noqa: BLE001 - best effort; the lease expires anyway
            log.warning("lease release failed", error=str(err)[:200])

    def run(self, stop: threading.Event) -> None:
        """Renew every retry period until `stop` is set (run in a thread)."""
        while not stop.is_set():
            self.try_acquire_or_renew()
            stop.wait(self.retry_period_s)
