"""The online path of one request: predict → budget → tier health → one worker call → at most one
fallback, answered as one :class:`~routet2i.routing.decision.RouteDecision`.

:class:`Dispatcher` owns the router's micro-batcher, the budget ledger, the tiers' health and the
workers of one gateway; the HTTP layer calls its public methods only. Everything here runs on the
event loop (the model runs on the batcher's thread), so the in-memory ledger needs no lock.

Deadlines: a request has ``request_timeout_s`` in all; each worker call gets the smaller of its
tier's ``timeout_s`` and what is left, and a fallback only what is left after the first try, so
no request waits past its deadline.

Repeated prompts: the live router's predictions are kept in an LRU cache by normalised prompt
(:mod:`routet2i.routing.prediction_cache`), cleared on a reload. A request that forces its tier
runs no prediction at all unless shadowing is on (its PRŜ never enters the budget's sample; the
learner does want it with the shadow pair), so its ``routing.prs`` is null.

Shadow pairs: once a request is served, :class:`~routet2i.routing.shadow.Shadower` may make it again
on the other tier in the background, for the learner; the request never waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from routet2i.routing.batcher import MicroBatcher
from routet2i.routing.budget import BudgetController, BudgetPolicy, BudgetState, Verdict
from routet2i.routing.decision import RouteDecision, Served
from routet2i.routing.errors import (
    BudgetExhausted,
    BudgetUnavailable,
    DeadlinePassed,
    GatewayBusy,
    RoutingError,
    TierFailed,
    TierUnavailable,
)
from routet2i.routing.health import TierHealth
from routet2i.routing.ledger import BudgetLedger, MemoryLedger
from routet2i.routing.observer import NullObserver, RoutingObserver
from routet2i.routing.ports import ImageWorker, PredictorPort
from routet2i.routing.prediction_cache import PredictionCache
from routet2i.routing.replicas import ReplicaSet
from routet2i.routing.request import GenerationParams
from routet2i.routing.settings import DispatchConfig
from routet2i.routing.shadow import Shadower, ShadowSink
from routet2i.types import FallbackCause, Prediction, TierName
from routet2i.workers import errors as werr
from routet2i.workers.schemas import GenerateResponse

log = logging.getLogger("routet2i.routing")

_WARMUP_PROMPT = "a warm-up prompt"


class _Retryable(Exception):
    """A worker failure another tier may make good (internal to the dispatcher)."""

    def __init__(self, error: werr.WorkerError) -> None:
        super().__init__(str(error))
        self.error = error


def fallback_cause(exc: BaseException) -> FallbackCause:
    """Why a tier's attempt failed, as the ``cause`` of a fallback."""
    if isinstance(exc, werr.WorkerOverloaded):
        return "overloaded"
    if isinstance(exc, werr.WorkerUnavailable):
        return "unavailable"
    if isinstance(exc, (werr.WorkerTimeout, asyncio.TimeoutError)):
        return "timeout"
    return "error"


class _Route:
    """One request's route as it is being served: the verdict, then the tier it is on."""

    def __init__(self, verdict: Verdict, prediction: Prediction | None, router_ms: float) -> None:
        self.verdict = verdict
        self.prediction = prediction
        self.router_ms = router_ms
        self.tier: TierName = verdict.tier
        self.cause: FallbackCause | None = None


class Dispatcher:
    """Routes and serves requests (see the module docstring). ``ledger``: the budget (default: the
    in-memory :class:`~routet2i.routing.budget.BudgetController` of ``config.budget``);
    ``shadow_sink``: where shadow pairs go (``config.shadow`` says which; None: no shadowing)."""

    def __init__(
        self,
        config: DispatchConfig,
        predictor: PredictorPort,
        workers: Mapping[TierName, ImageWorker],
        *,
        clock: Callable[[], float] = time.monotonic,
        observer: RoutingObserver | None = None,
        ledger: BudgetLedger | None = None,
        shadow_sink: ShadowSink | None = None,
    ) -> None:
        self.tiers = config.tier_names
        missing = [t for t in self.tiers if t not in workers]
        if missing:
            raise ValueError(f"no worker for tier(s) {missing}")
        self.config = config
        self.predictor = predictor
        self.workers = {tier: workers[tier] for tier in self.tiers}
        self.clock = clock
        self.observer: RoutingObserver = observer or NullObserver()
        for worker in self.workers.values():
            if isinstance(worker, ReplicaSet):  # its replicas report to the same observer (metrics)
                worker.bind(self.observer)
        self.budget: BudgetLedger = ledger or MemoryLedger(
            BudgetController(config.budget, predictor.calibrated_threshold, self.tiers)
        )
        self.health = TierHealth(
            self.workers,
            config.health.breaker_policy(),
            interval_s=config.health.interval_s,
            timeout_s=config.health.timeout_s,
            clock=clock,
            observer=self.observer.tier_changed,
        )
        self.batcher = MicroBatcher(
            predictor, max_batch=config.max_batch, max_wait_ms=config.max_wait_ms, observer=self.observer.batch_ran
        )
        self.cache = PredictionCache(config.cache_size)
        self.in_flight = 0
        #: Client worker calls in flight per tier (shadowing pauses on a busy tier).
        self.tier_load: dict[TierName, int] = {tier: 0 for tier in self.tiers}
        self.shadower = Shadower(self, config.shadow, shadow_sink)
        #: When the live predictor was loaded (Unix time; ``GET /v1/router``).
        self.predictor_loaded_at = time.time()

    # ----------------------------------------------------------------------------- life cycle
    async def start(self) -> None:
        await self.budget.start()
        await self.batcher.start()
        try:  # the first pass of a model is slow (allocations, lazy init): not a user's request
            await self.batcher.predict([_WARMUP_PROMPT])
        except Exception:
            log.exception("the router failed its warm-up prediction")
        await self.health.start()

    async def stop(self) -> None:
        await self.shadower.stop()
        await self.health.stop()
        await self.batcher.stop()
        await asyncio.gather(*(w.aclose() for w in self.workers.values()), return_exceptions=True)
        await self.budget.aclose()

    @property
    def router_running(self) -> bool:
        """Whether the router's batcher runs (``/readyz``)."""
        return self.batcher.running

    @property
    def ready(self) -> bool:
        """The router runs and at least one tier takes traffic."""
        return self.router_running and any(self.health.available(t) for t in self.tiers)

    async def swap_predictor(self, predictor: PredictorPort) -> PredictorPort:
        """Make ``predictor`` the live router (a hot reload); returns the old one. The swap itself
        is synchronous on the event loop, so every request sees either predictor whole: the batch
        running now finishes on the old one, the next batch runs on the new one (a request whose
        PRŜ came from the old one stays out of the new live sample). Then the budget takes the new
        calibration, keeping its window and spend (:meth:`BudgetController.recalibrate`)."""
        old, self.predictor = self.predictor, predictor
        self.batcher.swap_engine(predictor)
        self.cache.clear()
        self.predictor_loaded_at = time.time()
        await self.budget.recalibrate(predictor.calibrated_threshold)
        return old

    # ----------------------------------------------------------------------------- descriptions
    def describe_router(self) -> dict[str, Any]:
        """The live checkpoint (``predictor.describe()``) with its data id and when it was loaded."""
        info = dict(self.predictor.describe())
        training = info.get("training")
        info["data_id"] = training.get("data_id") if isinstance(training, dict) else None
        info["loaded_at"] = datetime.fromtimestamp(self.predictor_loaded_at, timezone.utc).isoformat(
            timespec="milliseconds"
        )
        return info

    def model_name(self, tier: TierName) -> str:
        return self.config.tiers[tier].model

    def describe_tiers(self) -> dict[str, Any]:
        """Each tier's model, worker URL (the first replica's, for several) and health, and each
        replica's URL, state and load where a tier has several, cheapest first."""
        health = self.health.snapshot()
        tiers: dict[str, Any] = {}
        for tier in self.tiers:
            worker = self.workers[tier]
            entry = {
                "model": self.model_name(tier),
                "url": str(getattr(worker, "base_url", self.config.tiers[tier].url)),
                **health[tier],
            }
            if isinstance(worker, ReplicaSet):
                entry["replicas"] = worker.describe()
            tiers[tier] = entry
        return tiers

    def prices(self) -> dict[str, dict[str, Any]]:
        """Each tier's price block."""
        return {tier: self.config.tiers[tier].price.model_dump() for tier in self.tiers}

    # ----------------------------------------------------------------------------- budget
    async def budget_state(self) -> BudgetState:
        state = await self.budget.state(self.clock())
        self.observer.budget_read(state)
        return state

    async def budget_reasons(self) -> dict[str, int]:
        return await self.budget.reasons()

    async def update_budget(self, **changes: Any) -> BudgetPolicy:
        """An operator's change of the budget policy (ValueError naming the field; nothing changes)."""
        return await self.budget.update_policy(**changes)

    # ----------------------------------------------------------------------------- routing
    async def predict(self, prompts: list[str], *, deadline: float) -> tuple[list[Prediction | None], float]:
        """Predictions (None where the router failed: the cheap tier is then the safe default) and
        the router time in ms. Raises :class:`DeadlinePassed` past ``deadline`` (loop time)."""
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        failed = False
        preds: list[Prediction | None] = [self.cache.get(p) for p in prompts]
        todo = [i for i, p in enumerate(preds) if p is None]
        hits = len(prompts) - len(todo)
        predictor = self.predictor
        try:
            if todo:
                fresh = await asyncio.wait_for(
                    self.batcher.predict([prompts[i] for i in todo]), max(deadline - loop.time(), 0.0)
                )
                for i, prediction in zip(todo, fresh, strict=True):
                    preds[i] = prediction
                    if self.predictor is predictor:  # not from a router replaced meanwhile
                        self.cache.put(prompts[i], prediction)
        except asyncio.TimeoutError:
            raise DeadlinePassed("routing did not finish before the request deadline") from None
        except Exception:
            log.exception("the router failed; sending the request to the %s tier", self.tiers.cheap)
            failed = True
            preds = [None] * len(prompts)
        router_s = time.perf_counter() - t0
        self.observer.cache_looked_up(hits, len(todo))
        self.observer.router_called(router_s, preds, failed)
        return preds, router_s * 1000.0

    async def route(self, prompts: list[str]) -> tuple[list[RouteDecision], float, BudgetState]:
        """Decisions for ``prompts`` as they would be made now, without generating anything or
        recording anything in the budget; the router time (ms) and the budget's state."""
        deadline = asyncio.get_running_loop().time() + self.config.request_timeout_s
        preds, router_ms = await self.predict(prompts, deadline=deadline)
        now = self.clock()
        verdicts = [await self.budget.preview(None if p is None else p.prs, now=now) for p in preds]
        state = await self.budget_state()
        decisions = [
            RouteDecision.of(v, p, model=self.model_name(v.tier), budget=state, router_ms=router_ms)
            for v, p in zip(verdicts, preds, strict=True)
        ]
        return decisions, router_ms, state

    def tier_timeout(self, tier: TierName) -> float:
        """The longest one call to ``tier``'s worker may take (seconds)."""
        return self.config.tiers[tier].timeout_s

    def size_for(self, tier: TierName, params: GenerationParams) -> tuple[int, int]:
        """(width, height) sent to ``tier``: the request's, or that tier's default size."""
        return params.size(self.config.default_sizes[tier])

    def quote(self, tier: TierName, params: GenerationParams) -> float:
        """Price of ``params`` on ``tier``, at the size that tier would be sent."""
        width, height = self.size_for(tier, params)
        return self.config.tiers[tier].price.quote(width, height, params.steps, params.n)

    # ----------------------------------------------------------------------------- generation
    async def generate(self, params: GenerationParams, *, forced: TierName | None) -> Served:
        """Route and generate; raises a :class:`~routet2i.routing.errors.RoutingError` (carrying
        the decision once one exists) on failure."""
        if self.in_flight >= self.config.max_in_flight:
            raise GatewayBusy(f"the gateway has {self.in_flight} requests in flight", retry_after=1.0)
        self.in_flight += 1
        try:
            served = await self._generate(params, forced)
        finally:
            self.in_flight -= 1
        self.shadower.offer(params, served)  # decides at once; any shadow generation runs apart
        return served

    async def _generate(self, params: GenerationParams, forced: TierName | None) -> Served:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        deadline = loop.time() + self.config.request_timeout_s
        predictor = self.predictor
        prediction: Prediction | None = None
        if forced is None or self.shadower.enabled:
            [prediction], _ = await self.predict([params.prompt], deadline=deadline)
        verdict = await self.budget.reserve(
            None if prediction is None else prediction.prs,
            now=self.clock(),
            cheap_cost=self.quote(self.tiers.cheap, params),
            expensive_cost=self.quote(self.tiers.expensive, params),
            forced=forced,
            sample=self.predictor is predictor,  # a router reloaded meanwhile: not a PRŜ of the live one
        )
        route = _Route(verdict, prediction, (time.perf_counter() - t0) * 1000.0)
        self.observer.decided(verdict.tier, verdict.reason)
        try:
            if forced is not None and verdict.tier != forced and verdict.cap == "store":
                if self.config.routing.forced_over_budget == "reject":
                    raise BudgetUnavailable(
                        f"the shared budget store cannot be reached, so no {self.tiers.expensive} image can be "
                        f"reserved; retry shortly or let the router decide",
                        retry_after=1.0,
                    )
            elif forced is not None and verdict.tier != forced and self.config.routing.forced_over_budget == "reject":
                raise BudgetExhausted(
                    f"the {self.tiers.expensive} budget is spent and this request forces the "
                    f"{self.tiers.expensive} tier; retry later or let the router decide",
                    retry_after=self._budget_retry_after(),
                )
            if not self.health.acquire(route.tier) and not await self._fall_back(route, "unavailable", params, forced):
                raise self._out_of_rotation(route.tier)
            w0 = time.perf_counter()
            try:
                response, size = await self._attempt(route.tier, params, deadline)
            except _Retryable as first:
                if deadline - loop.time() <= 0 or not await self._fall_back(
                    route, fallback_cause(first.error), params, forced
                ):
                    raise self._tier_failed(route.tier, first.error) from None
                w0 = time.perf_counter()
                try:  # the fallback is the last attempt: a second failure is the answer
                    response, size = await self._attempt(route.tier, params, deadline)
                except _Retryable as second:
                    raise self._tier_failed(route.tier, second.error) from None
            worker_s = time.perf_counter() - w0
            return Served(
                response=response,
                size=size,
                decision=await self._decision(route),
                router_ms=route.router_ms,
                worker_ms=worker_s * 1000.0,
                total_ms=(time.perf_counter() - t0) * 1000.0,
            )
        except RoutingError as err:
            await self.budget.release(verdict.ticket, now=self.clock())
            err.decision = await self._decision(route)
            raise
        finally:
            await self.budget.settle(verdict.ticket)

    async def _attempt(
        self, tier: TierName, params: GenerationParams, deadline: float
    ) -> tuple[GenerateResponse, tuple[int, int]]:
        """One worker call on ``tier``. A failure another tier may make good is a ``_Retryable``
        (counted by the breaker); the user's own bad request is a :class:`TierFailed` at once."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise DeadlinePassed("the request deadline passed")
        timeout = min(self.tier_timeout(tier), remaining)
        w0 = time.perf_counter()
        size = self.size_for(tier, params)
        self.tier_load[tier] += 1
        try:
            response = await asyncio.wait_for(
                self.workers[tier].generate(params.for_worker(size), timeout=timeout), timeout
            )
        except werr.WorkerBadRequest as exc:  # the user's request: no fallback, no breaker
            raise TierFailed(tier, exc) from None
        except (werr.WorkerError, asyncio.TimeoutError) as exc:
            error = exc if isinstance(exc, werr.WorkerError) else werr.WorkerTimeout(f"no answer in {timeout:.1f} s")
            self.observer.worker_failed(tier, error.error_type)
            self.health.record_failure(tier, error)
            log.warning("tier %s failed: %s", tier, error)
            raise _Retryable(error) from None
        finally:
            self.tier_load[tier] -= 1
        self.health.record_success(tier)
        self.observer.worker_served(tier, time.perf_counter() - w0)
        return response, size

    async def _fall_back(
        self, route: _Route, cause: FallbackCause, params: GenerationParams, forced: TierName | None
    ) -> bool:
        """Move ``route`` to the other tier if fallbacks are allowed for it, that tier is up and
        the budget allows it; False (nothing changed) otherwise."""
        if not self.config.routing.fallback or forced is not None or route.cause is not None:
            return False  # forced requests never fall back; a request falls back at most once
        alt = self.tiers.other(route.tier)
        if not self.health.available(alt):
            return False
        if not await self.budget.reassign(route.verdict.ticket, alt, now=self.clock(), cost=self.quote(alt, params)):
            return False
        if not self.health.acquire(alt):
            return False
        self.observer.fell_back(route.tier, alt, cause)
        route.cause, route.tier = cause, alt
        return True

    def _out_of_rotation(self, tier: TierName) -> RoutingError:
        """The answer for a request whose tier takes no traffic now: 429 while the tier's worker
        is over capacity (its 429 took it out for its ``Retry-After``), else 503."""
        if self.health.overloaded(tier):
            retry_after = max(self.health.retry_after(tier), 1.0)  # when this tier takes traffic again
            busy = werr.WorkerOverloaded(f"the {tier} tier is over capacity", retry_after=retry_after)
            return TierFailed(tier, busy, retry_after=retry_after)
        return TierUnavailable(f"the {tier} tier is out of rotation", retry_after=self._tiers_retry_after())

    def _tier_failed(self, tier: TierName, error: werr.WorkerError) -> TierFailed:
        """The answer for ``error`` on ``tier``: an overloaded or unavailable tier says when to retry."""
        retry_after = None
        if isinstance(error, (werr.WorkerOverloaded, werr.WorkerUnavailable)):
            retry_after = self._tiers_retry_after() if error.retry_after is None else error.retry_after
        return TierFailed(tier, error, retry_after=retry_after)

    async def _decision(self, route: _Route) -> RouteDecision:
        return RouteDecision.of(
            route.verdict,
            route.prediction,
            model=self.model_name(route.tier),
            budget=await self.budget.state(self.clock()),
            router_ms=route.router_ms,
            served_by=route.tier,
            fallback_cause=route.cause,
        )

    def _tiers_retry_after(self) -> float:
        """Seconds until a tier may take traffic again (at least 1)."""
        return max(min(self.health.retry_after(t) for t in self.tiers), 1.0)

    def _budget_retry_after(self) -> float:
        policy = self.budget.policy
        return policy.period_s if policy.cloud_share is None else 1.0
