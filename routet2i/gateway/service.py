"""The online path of one request: predict → budget decision → tier health → worker → fallback.

:class:`GatewayService` owns the router batcher, the budget controller, the tiers' health and the
metrics of one gateway app; the HTTP routes are thin layers over it. Everything here runs on the
event loop (the model runs on the batcher's thread), so the budget controller needs no lock.

Deadlines: a request has ``limits.request_timeout_s`` in all; each worker call gets the smaller of
its tier's ``timeout_s`` and what is left, and a fallback only what is left after the first try,
so no request waits past its deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from routet2i.gateway import errors as api
from routet2i.gateway.metrics import GatewayMetrics
from routet2i.gateway.schemas import BudgetSummary, RoutingInfo
from routet2i.gateway.settings import GatewaySettings
from routet2i.gateway.validation import GenerationParams
from routet2i.routing.batcher import MicroBatcher
from routet2i.routing.budget import CLOUD, EDGE, TIERS, BudgetController, BudgetState, Tier, Verdict, other_tier
from routet2i.routing.health import TierHealth
from routet2i.routing.ports import ImageWorker, PredictorPort
from routet2i.types import Prediction
from routet2i.workers import errors as werr
from routet2i.workers.schemas import GenerateRequest, GenerateResponse

log = logging.getLogger("routet2i.gateway")


@dataclass(frozen=True)
class Routed:
    """One prompt's prediction and verdict."""

    prompt: str
    prediction: Prediction | None
    verdict: Verdict


@dataclass
class Outcome:
    """A generation that succeeded."""

    response: GenerateResponse
    #: (width, height) in pixels sent to the tier that served it.
    size: tuple[int, int]
    routing: RoutingInfo
    router_ms: float
    worker_ms: float
    total_ms: float


def _cause(exc: BaseException) -> str:
    if isinstance(exc, werr.WorkerOverloaded):
        return "overloaded"
    if isinstance(exc, werr.WorkerUnavailable):
        return "unavailable"
    if isinstance(exc, (werr.WorkerTimeout, asyncio.TimeoutError)):
        return "timeout"
    return "error"


class GatewayService:
    def __init__(
        self,
        settings: GatewaySettings,
        engine: PredictorPort,
        workers: Mapping[Tier, ImageWorker],
        *,
        clock: Callable[[], float] = time.monotonic,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        missing = [t for t in TIERS if t not in workers]
        if missing:
            raise ValueError(f"no worker for tier(s) {missing}")
        self.settings = settings
        self.engine = engine
        self.workers = dict(workers)
        self.clock = clock
        self.metrics = metrics or GatewayMetrics()
        self.budget = BudgetController(settings.budget.policy(), engine.calibrated_threshold)
        self.health = TierHealth(
            self.workers,
            settings.health.breaker_policy(),
            interval_s=settings.health.interval_s,
            timeout_s=settings.health.timeout_s,
            clock=clock,
            observer=lambda tier, up: self.metrics.tier_up.labels(tier).set(1 if up else 0),
        )
        self.batcher = MicroBatcher(
            engine,
            max_batch=settings.router.max_batch,
            max_wait_ms=settings.router.max_wait_ms,
            observer=self._observe_batch,
        )
        self.in_flight = 0
        #: When the live router engine was loaded (Unix time; ``GET /v1/router``).
        self.engine_loaded_at = time.time()

    # ----------------------------------------------------------------------------- life cycle
    async def start(self) -> None:
        await self.batcher.start()
        try:  # the first pass of a model is slow (allocations, lazy init): not a user's request
            await self.batcher.predict(["a warm-up prompt"])
        except Exception:
            log.exception("the router failed its warm-up prediction")
        await self.health.start()

    async def stop(self) -> None:
        await self.health.stop()
        await self.batcher.stop()
        await asyncio.gather(*(w.aclose() for w in self.workers.values()), return_exceptions=True)

    @property
    def ready(self) -> bool:
        return self.batcher.running and any(self.health.available(t) for t in TIERS)

    def swap_engine(self, engine: PredictorPort) -> PredictorPort:
        """Make ``engine`` the live router (a hot reload); returns the old one. Synchronous on the
        event loop, so every request sees either engine whole: the batch running now finishes on
        the old engine, the next batch runs on the new one, and the budget controller takes the
        new calibration, keeping its window and spend (:meth:`BudgetController.recalibrate`)."""
        old, self.engine = self.engine, engine
        self.batcher.swap_engine(engine)
        self.budget.recalibrate(engine.calibrated_threshold)
        self.engine_loaded_at = time.time()
        return old

    def describe_router(self) -> dict[str, Any]:
        """The live checkpoint (``engine.describe()``) with its data id and when it was loaded."""
        info = dict(self.engine.describe())
        training = info.get("training")
        info["data_id"] = training.get("data_id") if isinstance(training, dict) else None
        info["loaded_at"] = datetime.fromtimestamp(self.engine_loaded_at, timezone.utc).isoformat(timespec="milliseconds")
        return info

    def model_name(self, tier: Tier) -> str:
        return self.settings.tiers.get(tier).model

    def budget_state(self) -> BudgetState:
        state = self.budget.state(self.clock())
        self.metrics.set_budget(state)
        return state

    # ----------------------------------------------------------------------------- routing
    async def predict(self, prompts: list[str], *, deadline: float) -> tuple[list[Prediction | None], float]:
        """Predictions (None where the router failed: the edge is then the safe default) and
        the router time in ms. Raises GatewayTimeout past ``deadline`` (loop time)."""
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        try:
            preds: list[Prediction | None] = list(
                await asyncio.wait_for(self.batcher.predict(prompts), max(deadline - loop.time(), 0.0))
            )
        except asyncio.TimeoutError:
            raise api.GatewayTimeout("routing did not finish before the request deadline") from None
        except Exception:
            log.exception("the router failed; sending the request to the edge")
            self.metrics.router_errors.inc()
            preds = [None] * len(prompts)
        router_s = time.perf_counter() - t0
        self.metrics.router_latency.observe(router_s)
        for p in preds:
            if p is not None:
                self.metrics.prs.observe(p.prs)
        return preds, router_s * 1000.0

    async def route(self, prompts: list[str]) -> tuple[list[Routed], float]:
        """Decisions for ``prompts`` without generating anything or spending budget."""
        deadline = asyncio.get_running_loop().time() + self.settings.limits.request_timeout_s
        preds, router_ms = await self.predict(prompts, deadline=deadline)
        now = self.clock()
        out = [
            Routed(prompt, pred, self.budget.decide(pred.prs if pred else None, now=now, record=False))
            for prompt, pred in zip(prompts, preds, strict=True)
        ]
        return out, router_ms

    def size_for(self, tier: Tier, params: GenerationParams) -> tuple[int, int]:
        """(width, height) sent to ``tier``: the request's, or that tier's default size."""
        return params.size(self.settings.default_size(tier))

    def quote(self, tier: Tier, params: GenerationParams) -> float:
        """Price of ``params`` on ``tier``, at the size that tier would be sent."""
        opts = self.settings.tiers.get(tier).price
        width, height = self.size_for(tier, params)
        return opts.price().cost(width, height, params.steps or opts.default_steps, params.n)

    def routing_info(
        self,
        prediction: Prediction | None,
        verdict: Verdict,
        *,
        tier: Tier,
        reason: str,
        router_ms: float,
        fallback_from: Tier | None = None,
        fallback_cause: str | None = None,
    ) -> RoutingInfo:
        state = self.budget.state(self.clock())
        return RoutingInfo(
            tier=tier,
            reason=reason,
            wanted_tier=verdict.wanted,
            forced=verdict.forced,
            model=self.model_name(tier),
            prs=None if prediction is None else round(float(prediction.prs), 6),
            metrics={} if prediction is None else {k: round(float(v), 6) for k, v in prediction.metrics.items()},
            threshold=round(verdict.threshold, 6),
            threshold_source=verdict.threshold_source,
            budget=BudgetSummary(
                cloud_share=state.cloud_share,
                effective_share=state.effective_share,
                realised_cloud_share=round(state.realised_cloud_share, 6),
                cloud_left_in_window=state.cloud_left_in_window,
                money_left=state.money_left,
                cap=verdict.cap,
            ),
            router_ms=round(router_ms, 3),
            fallback_from=fallback_from,
            fallback_cause=fallback_cause,
        )

    # ----------------------------------------------------------------------------- generation
    async def generate(self, params: GenerationParams, *, forced: Tier | None) -> Outcome:
        """Route and generate; raises :class:`~routet2i.gateway.errors.ApiError` (carrying the
        routing decision once one exists) on failure."""
        limits = self.settings.limits
        if self.in_flight >= limits.max_in_flight:
            raise api.Overloaded(f"the gateway has {self.in_flight} requests in flight", retry_after=1.0)
        self.in_flight += 1
        try:
            return await self._generate(params, forced)
        finally:
            self.in_flight -= 1

    async def _generate(self, params: GenerationParams, forced: Tier | None) -> Outcome:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        deadline = loop.time() + self.settings.limits.request_timeout_s
        engine = self.engine
        [prediction], _ = await self.predict([params.prompt], deadline=deadline)
        verdict = self.budget.decide(
            None if prediction is None else prediction.prs,
            now=self.clock(),
            cloud_cost=self.quote(CLOUD, params),
            edge_cost=self.quote(EDGE, params),
            forced=forced,
            sample=self.engine is engine,  # a router reloaded meanwhile: not a PRŜ of the live one
        )
        router_ms = (time.perf_counter() - t0) * 1000.0
        self.metrics.decisions.labels(verdict.tier, verdict.reason).inc()
        tier: Tier = verdict.tier
        reason: str = verdict.reason
        fallback_from: Tier | None = None
        cause: str | None = None

        def info() -> RoutingInfo:
            return self.routing_info(
                prediction,
                verdict,
                tier=tier,
                reason=reason,
                router_ms=router_ms,
                fallback_from=fallback_from,
                fallback_cause=cause,
            )

        def fail(err: api.ApiError) -> api.ApiError:
            self.budget.release(verdict.ticket, now=self.clock())
            err.routing = info().model_dump()
            return err

        try:
            if (
                forced is not None
                and verdict.tier != forced
                and self.settings.routing.forced_over_budget == "reject"
            ):
                raise fail(
                    api.BudgetExhausted(
                        "the cloud budget is spent and this request forces the cloud tier; retry later "
                        "or let the router decide",
                        retry_after=self._budget_retry_after(),
                    )
                )
            if not self.health.acquire(tier):
                alt = other_tier(tier)
                if self._may_fall_back(forced) and self._switch(verdict, alt, params):
                    self.metrics.fallbacks.labels(tier, alt, "unavailable").inc()
                    fallback_from, cause, tier, reason = tier, "unavailable", alt, "fallback"
                else:
                    raise fail(
                        api.Unavailable(f"the {tier} tier is out of rotation", retry_after=self._tiers_retry_after())
                    )
            attempts = 0
            while True:
                attempts += 1
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise fail(api.GatewayTimeout("the request deadline passed"))
                timeout = min(self.settings.tiers.get(tier).timeout_s, remaining)
                w0 = time.perf_counter()
                size = self.size_for(tier, params)
                try:
                    response = await asyncio.wait_for(
                        self.workers[tier].generate(self._worker_request(params, size), timeout=timeout), timeout
                    )
                except werr.WorkerBadRequest as exc:  # the user's request: no fallback, no breaker
                    raise fail(api.from_worker_error(exc, tier)) from None
                except (werr.WorkerError, asyncio.TimeoutError) as exc:
                    error = exc if isinstance(exc, werr.WorkerError) else werr.WorkerTimeout(f"no answer in {timeout:.1f} s")
                    self.metrics.worker_errors.labels(tier, error.error_type).inc()
                    self.health.record_failure(tier, error)
                    log.warning("tier %s failed: %s", tier, error)
                    alt = other_tier(tier)
                    if (
                        attempts > 1
                        or not self._may_fall_back(forced)
                        or deadline - loop.time() <= 0
                        or not self._switch(verdict, alt, params)
                    ):
                        mapped = api.from_worker_error(error, tier)
                        if isinstance(mapped, (api.Unavailable, api.Overloaded)) and mapped.retry_after is None:
                            mapped.retry_after = self._tiers_retry_after()
                        raise fail(mapped) from None
                    self.metrics.fallbacks.labels(tier, alt, _cause(error)).inc()
                    fallback_from, cause, tier, reason = tier, _cause(error), alt, "fallback"
                    continue
                worker_s = time.perf_counter() - w0
                self.health.record_success(tier)
                self.metrics.worker_latency.labels(tier).observe(worker_s)
                return Outcome(
                    response=response,
                    size=size,
                    routing=info(),
                    router_ms=router_ms,
                    worker_ms=worker_s * 1000.0,
                    total_ms=(time.perf_counter() - t0) * 1000.0,
                )
        finally:
            self.budget.close(verdict.ticket)

    def _may_fall_back(self, forced: Tier | None) -> bool:
        return self.settings.routing.fallback and forced is None

    def _switch(self, verdict: Verdict, tier: Tier, params: GenerationParams) -> bool:
        """Move the request to ``tier`` if that tier is up and the budget allows it."""
        if not self.health.available(tier):
            return False
        if not self.budget.reassign(verdict.ticket, tier, now=self.clock(), cost=self.quote(tier, params)):
            return False
        return self.health.acquire(tier)

    def _tiers_retry_after(self) -> float:
        """Seconds until a tier may take traffic again (at least 1)."""
        return max(min(self.health.retry_after(t) for t in TIERS), 1.0)

    def _budget_retry_after(self) -> float:
        policy = self.budget.policy
        return policy.period_s if policy.cloud_share is None else 1.0

    def _worker_request(self, params: GenerationParams, size: tuple[int, int]) -> GenerateRequest:
        return GenerateRequest(
            prompt=params.prompt,
            negative_prompt=params.negative_prompt,
            width=size[0],
            height=size[1],
            steps=params.steps,
            guidance_scale=params.guidance_scale,
            seed=params.seed,
            n=params.n,
        )

    def _observe_batch(self, prompts: int, requests: int, seconds: float) -> None:
        self.metrics.router_batch_size.observe(prompts)
        self.metrics.router_batch_seconds.observe(seconds)

    def describe_tiers(self) -> dict[str, Any]:
        health = self.health.snapshot()
        return {
            tier: {
                "model": self.model_name(tier),
                "url": str(getattr(self.workers[tier], "base_url", self.settings.tiers.get(tier).url)),
                **health[tier],
            }
            for tier in TIERS
        }
