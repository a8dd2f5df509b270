"""Several replicas of one tier's worker behind one :class:`~routet2i.routing.ports.ImageWorker`.

A :class:`ReplicaSet` is what the dispatcher sees of a tier whose config names several worker URLs
(``tiers.<name>.urls``); each replica is an :class:`ImageWorker` of its own (a
:class:`~routet2i.workers.client.WorkerClient` in the product).

Balancing: each request goes to the available replica with the fewest requests outstanding from
this gateway; a tie is broken at random (the ``rng`` passed in, seedable for tests).

Health: each replica has its own circuit breaker (:mod:`routet2i.routing.breaker`, the policy of
the gateway's ``health`` block). A replica's failed request or failed health check counts against
its breaker only, with the same rules as the tier's: a 503 or a refused connection takes it out at
once for the cooldown, a 429 for its ``Retry-After``, timeouts and other errors after
``failure_threshold`` in a row. :meth:`ReplicaSet.why_not_ready` (what the tier's periodic health
check calls) probes every replica concurrently, updates each one's breaker, and says the tier is
ready when any replica is.

Failures: a request that fails on a replica for a reason another replica may not share (503,
504, 429, a broken connection, a failed generation: anything but the cases below) is sent again to
another available replica that has not had it yet, within what is left of the caller's
``timeout``; so a killed replica loses no request. Not retried: the user's own bad request
(:class:`~routet2i.workers.errors.WorkerBadRequest`, which says nothing about the replica) and a
failure of the service behind the replicas (:class:`~routet2i.workers.errors.WorkerUpstreamError`:
the hosted provider, or a refused key; it does count against the replica). Only when every replica
has failed it, or none is available, does the set raise (the last replica's error, or
:class:`~routet2i.workers.errors.WorkerUnavailable`), so the tier's own breaker (in
:class:`~routet2i.routing.health.TierHealth`) counts a failure only then: the tier is down only
when all its replicas are.

Times are seconds; ``clock`` is monotonic seconds. Runs on one event loop; no locks needed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from routet2i.routing.breaker import BreakerPolicy, CircuitBreaker
from routet2i.routing.observer import NullObserver, RoutingObserver
from routet2i.routing.ports import ImageWorker
from routet2i.routing.probe import health_check
from routet2i.types import TierName
from routet2i.workers import errors as werr
from routet2i.workers.schemas import GenerateRequest, GenerateResponse

log = logging.getLogger("routet2i.routing.replicas")

#: The ``outcome`` of a replica call that answered with images (else the error's ``error_type``).
SERVED = "served"


@dataclass(eq=False)
class Replica:
    """One replica: its worker, breaker and load (requests outstanding from this gateway)."""

    url: str
    worker: ImageWorker
    breaker: CircuitBreaker
    in_flight: int = 0
    #: The last health check's reason for not being ready (None: ready, or not checked yet).
    not_ready: str | None = None
    #: Whether the replica was last reported in rotation (a change is logged and observed once).
    in_rotation: bool = True
    served: int = 0
    failed: int = 0


class ReplicaSet:
    """One tier's worker replicas as one :class:`ImageWorker` (see the module docstring).

    ``replicas``: base URL → worker, in config order. ``policy``: every replica's breaker policy.
    ``probe_timeout_s``: the longest one replica's health check may take (keep it under the tier
    check's own timeout, so a replica that hangs is counted down without taking the others' answers
    with it). ``rng``: tie-breaking (default: a fresh ``random.Random()``). ``observer``: the
    per-replica metrics (settable later through :meth:`bind`)."""

    def __init__(
        self,
        tier: TierName,
        replicas: Mapping[str, ImageWorker],
        policy: BreakerPolicy | None = None,
        *,
        probe_timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        observer: RoutingObserver | None = None,
    ) -> None:
        if not replicas:
            raise ValueError(f"tier {tier}: a replica set needs at least one replica")
        self.tier = tier
        policy = policy or BreakerPolicy()
        self.replicas = tuple(Replica(url, worker, CircuitBreaker(policy)) for url, worker in replicas.items())
        self.probe_timeout_s = probe_timeout_s
        self._clock = clock
        self._rng = rng or random.Random()
        self._observer: RoutingObserver = NullObserver()
        if observer is not None:
            self.bind(observer)

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.replicas]

    def bind(self, observer: RoutingObserver) -> None:
        """Report to ``observer`` from now on, starting with every replica's state and load (so
        each series exists from the start)."""
        self._observer = observer
        now = self._clock()
        for replica in self.replicas:
            observer.replica_changed(self.tier, replica.url, replica.breaker.available(now))
            observer.replica_load(self.tier, replica.url, replica.in_flight)

    # ----------------------------------------------------------------------------- ImageWorker
    async def generate(self, request: GenerateRequest, *, timeout: float | None = None) -> GenerateResponse:
        """Images from the least loaded available replica, retried on another one after a failure
        that may be that replica's own, within ``timeout`` seconds in all (None: each replica's
        own default); see the module docstring."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        tried: set[Replica] = set()
        last: werr.WorkerError | None = None
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise last or werr.WorkerTimeout(f"tier {self.tier}: no time left for a replica")
            replica = self._pick(exclude=tried)
            if replica is None:
                if last is not None:
                    raise last
                raise self._none_available()
            tried.add(replica)
            try:
                return await self._call(replica, request, remaining)
            except werr.WorkerError as exc:
                if not _retryable(exc):
                    raise
                last = exc
                if len(tried) < len(self.replicas):
                    log.info("tier %s: replica %s failed (%s); trying another", self.tier, replica.url, exc)

    async def ready(self) -> bool:
        """Probe every replica now; True when any is up."""
        return await self.why_not_ready() is None

    async def why_not_ready(self) -> str | None:
        """Probe every replica concurrently (each result goes to that replica's breaker). None when
        any replica is up; else which replicas are down and why."""
        await asyncio.gather(*(self._probe(r) for r in self.replicas))
        now = self._clock()
        if any(r.breaker.available(now) for r in self.replicas):
            return None
        return f"no replica of tier {self.tier} is up: " + "; ".join(
            f"{r.url}: {self._reason(r) or 'out of rotation'}" for r in self.replicas
        )

    async def aclose(self) -> None:
        await asyncio.gather(*(r.worker.aclose() for r in self.replicas), return_exceptions=True)

    # ----------------------------------------------------------------------------- queries
    def available(self) -> list[str]:
        """The URLs of the replicas that may take a request now."""
        now = self._clock()
        return [r.url for r in self.replicas if r.breaker.available(now)]

    def describe(self) -> list[dict[str, Any]]:
        """Each replica's URL, whether it is up, its load and breaker state, in config order (for
        the gateway's ``/v1/tiers``)."""
        now = self._clock()
        return [
            {
                "url": r.url,
                "up": r.breaker.available(now),
                "in_flight": r.in_flight,
                "served": r.served,
                "failed": r.failed,
                "reason": self._reason(r),
                **r.breaker.snapshot(now),
            }
            for r in self.replicas
        ]

    # ----------------------------------------------------------------------------- internals
    def _pick(self, *, exclude: set[Replica]) -> Replica | None:
        """The available replica with the fewest requests in flight (random among equals) not in
        ``exclude``, its breaker's slot claimed; None when there is none."""
        now = self._clock()
        candidates = [r for r in self.replicas if r not in exclude and r.breaker.available(now)]
        while candidates:
            least = min(r.in_flight for r in candidates)
            replica = self._rng.choice([r for r in candidates if r.in_flight == least])
            if replica.breaker.acquire(now):
                return replica
            candidates.remove(replica)  # pragma: no cover - available() said it may be claimed
        return None

    async def _call(self, replica: Replica, request: GenerateRequest, timeout: float | None) -> GenerateResponse:
        self._load(replica, +1)
        try:
            if timeout is None:
                response = await replica.worker.generate(request)
            else:
                response = await asyncio.wait_for(replica.worker.generate(request, timeout=timeout), timeout)
        except werr.WorkerBadRequest as exc:  # the user's request; says nothing of the replica
            self._observer.replica_finished(self.tier, replica.url, exc.error_type)
            raise
        except (werr.WorkerError, asyncio.TimeoutError) as exc:
            error = exc if isinstance(exc, werr.WorkerError) else werr.WorkerTimeout(f"no answer in {timeout:.1f} s")
            replica.failed += 1
            self._observer.replica_finished(self.tier, replica.url, error.error_type)
            self._record_failure(replica, error)
            if error is exc:
                raise
            raise error from None
        finally:
            self._load(replica, -1)
        replica.served += 1
        replica.breaker.record_success(self._clock())
        self._observer.replica_finished(self.tier, replica.url, SERVED)
        self._notify(replica)
        return response

    async def _probe(self, replica: Replica) -> None:
        """One health check of ``replica`` (the tier health check's rules, per replica)."""
        error = await health_check(replica.worker, self.probe_timeout_s)
        replica.not_ready = None if error is None else str(error)
        if error is None:
            replica.breaker.record_success(self._clock())
            self._notify(replica)
        else:
            self._record_failure(replica, error)

    def _record_failure(self, replica: Replica, exc: werr.WorkerError) -> None:
        """Count a failure against ``replica``: a 429 opens its circuit for its ``Retry-After``,
        an unavailable replica (503, unreachable) at once for the cooldown, others count toward
        the threshold (:meth:`TierHealth.record_failure`'s rules)."""
        breaker = replica.breaker
        open_for: float | None = None
        if isinstance(exc, werr.WorkerOverloaded):
            open_for = exc.retry_after or breaker.policy.cooldown_s
        elif isinstance(exc, werr.WorkerUnavailable):
            open_for = breaker.policy.cooldown_s
        breaker.record_failure(self._clock(), f"{type(exc).__name__}: {exc}"[:300], open_for=open_for)
        self._notify(replica)

    def _notify(self, replica: Replica) -> None:
        """Log and observe a change of ``replica``'s rotation, once (as :class:`TierHealth` does)."""
        up = replica.breaker.available(self._clock())
        if up == replica.in_rotation:
            return
        replica.in_rotation = up
        if up:
            log.warning("tier %s: replica %s is back in rotation", self.tier, replica.url)
        else:
            log.warning("tier %s: replica %s is out of rotation: %s", self.tier, replica.url, self._reason(replica))
        self._observer.replica_changed(self.tier, replica.url, up)

    def _load(self, replica: Replica, delta: int) -> None:
        replica.in_flight += delta
        self._observer.replica_load(self.tier, replica.url, replica.in_flight)

    def _reason(self, replica: Replica) -> str | None:
        if replica.breaker.available(self._clock()):
            return None
        return replica.not_ready or replica.breaker.last_error

    def _none_available(self) -> werr.WorkerUnavailable:
        now = self._clock()
        wait = min(r.breaker.retry_after(now) for r in self.replicas)
        down = "; ".join(f"{r.url}: {self._reason(r) or 'busy with a trial request'}" for r in self.replicas)
        return werr.WorkerUnavailable(
            f"no replica of tier {self.tier} is available ({down})", retry_after=max(wait, 1.0)
        )


def _retryable(exc: werr.WorkerError) -> bool:
    """Whether another replica may succeed where one failed with ``exc`` (module docstring)."""
    return not isinstance(exc, (werr.WorkerBadRequest, werr.WorkerUpstreamError))
