"""Shadow pairs: a share of the served requests made again on the other tier, for the learner.

After :meth:`Dispatcher.generate <routet2i.routing.dispatcher.Dispatcher.generate>` has its
:class:`~routet2i.routing.dispatcher.Served`, it calls :meth:`Shadower.offer`, which decides at
once, on the event loop and without I/O, whether to shadow the request: the sampling rate, the
uncertainty band around α, the other tier's health and load. A shadowed request gets a background
task that first asks the budget (the per-period cap on shadow images and the money,
:meth:`~routet2i.routing.ledger.BudgetLedger.reserve_shadow`; a refusal is a skip like the
others), then asks the other tier's worker for the same prompt,
parameters and seed (one image with the served image's seed, the first one of a request for
several, at the size that tier would be sent), then hands both images and the router's view of
the prompt to a :class:`ShadowSink` in a thread. The client's answer never waits for any of it,
and nothing the task does is raised to anyone: failures are logged and counted (the observer's
``shadow_finished``), and a generation that made nothing gives its money back.

Shadowing pauses first: it is skipped whenever the other tier's circuit is not closed, the tier
has ``busy_at`` client requests in flight, ``max_concurrent`` shadow generations run already, or
the money budget is short, so client traffic is never refused because of shadow spend.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol, get_args

from pydantic import ConfigDict, Field

from routet2i.config import StrictModel
from routet2i.routing.decision import Served
from routet2i.routing.health import TierHealth
from routet2i.routing.ledger import BudgetLedger
from routet2i.routing.observer import RoutingObserver
from routet2i.routing.ports import ImageWorker
from routet2i.routing.request import GenerationParams
from routet2i.routing.tiers import Tiers
from routet2i.types import TierName
from routet2i.workers.schemas import GeneratedImage, GenerateResponse

log = logging.getLogger("routet2i.routing.shadow")

#: Why a served request was not shadowed: ``sampled_out`` (not drawn at ``shadow_rate``),
#: ``certain`` (|PRŜ − α| above the ``uncertain_only`` band), ``no_prediction`` (the router failed,
#: so the band cannot apply), ``no_image`` (the response holds none), ``cap`` (``max_per_period``
#: reached), ``money`` (the money budget is short), ``tier_down`` (the other tier's circuit is not
#: closed), ``tier_busy`` (the other tier is busy, or ``max_concurrent`` shadows run), ``error`` (a
#: bug while deciding; logged), ``budget_unavailable`` (a shared budget store is unreachable).
ShadowSkip = Literal[
    "sampled_out",
    "certain",
    "no_prediction",
    "no_image",
    "cap",
    "money",
    "tier_down",
    "tier_busy",
    "error",
    "budget_unavailable",
]
SHADOW_SKIPS: tuple[ShadowSkip, ...] = get_args(ShadowSkip)

#: How a shadow generation ended (``write_failed``: the image was made, and paid for, but not stored).
ShadowOutcome = Literal["written", "generate_failed", "write_failed", "cancelled"]
SHADOW_OUTCOMES: tuple[ShadowOutcome, ...] = get_args(ShadowOutcome)


class ShadowPolicy(StrictModel):
    """Which served requests are also made on the other tier (the gateway's ``learning.shadow``
    settings). Off by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Share of the served requests shadowed, in [0, 1]; 0 = off.
    shadow_rate: float = Field(default=0.0, ge=0, le=1)
    #: Most shadow images started per money period (``budget.period_s``, sliding; a failed one counts).
    max_per_period: int = Field(default=1000, ge=0)
    #: When set, only prompts with |PRŜ − α| ≤ this band are shadowed (those the router is least
    #: sure of); null = any prompt.
    uncertain_only: float | None = Field(default=None, ge=0, le=1)
    #: Share of the money budget (``budget.money_per_period``) kept for client traffic: shadowing
    #: pauses once client + shadow spend would leave less than that, in [0, 1].
    money_reserve: float = Field(default=0.2, ge=0, le=1)
    #: Shadow generations running at once; more are skipped (``tier_busy``).
    max_concurrent: int = Field(default=2, ge=1)
    #: Client requests in flight on the other tier at which shadowing pauses (``tier_busy``).
    busy_at: int = Field(default=4, ge=1)
    #: Seed of the sampling RNG (null: a fresh one per process).
    seed: int | None = None


@dataclass(frozen=True)
class ShadowImage:
    """One image of a pair, as its tier made it."""

    tier: TierName
    model: str
    png: bytes
    #: The seed the worker reports (None: its backend has no seeds).
    seed: int | None
    #: What the worker generated with (width, height, steps, guidance_scale, negative_prompt).
    parameters: Mapping[str, Any]
    #: True for the image the client was served, False for the shadow image.
    served: bool


@dataclass(frozen=True)
class ShadowPair:
    """A served request and its shadow: both images and what the live router said of the prompt."""

    pair_id: str
    prompt: str
    #: The client's generation parameters as given (None: the tier's default).
    request: Mapping[str, Any]
    live: ShadowImage
    shadow: ShadowImage
    #: The live router's PRŜ (None: the router failed) and D̂ per metric.
    prs: float | None
    metrics: Mapping[str, float]
    #: α the request was decided with, and the decision's reason.
    threshold: float
    reason: str
    #: The live router: ``checkpoint`` (its id) and ``data_id`` (what it was trained on).
    router: Mapping[str, Any]
    #: The shadow image's quoted cost, in the prices' currency.
    cost: float
    #: When the pair was complete (Unix time).
    created: float
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def images(self) -> tuple[ShadowImage, ShadowImage]:
        return self.live, self.shadow

    @property
    def checkpoint(self) -> str | None:
        value = self.router.get("checkpoint")
        return None if value is None else str(value)

    @property
    def seed(self) -> int:
        """The pair's sample seed: the served image's, else the shadow's, else a label from the
        pair id (the backends have no seeds)."""
        for image in self.images:
            if image.seed is not None:
                return image.seed
        return int(self.pair_id[:8], 16)


class ShadowSink(Protocol):
    """Where shadow pairs go (the store port; :class:`routet2i.pipeline.shadow_store.DirectoryShadowStore`
    is the folder; a shared object store can take its place). Called from worker threads, possibly
    several at once; a write is all or nothing (a reader never sees half a pair) and raises on
    failure."""

    def write(self, pair: ShadowPair) -> None: ...


@dataclass
class _Job:
    """One shadow generation, as decided by :meth:`Shadower.offer`, and how it is going."""

    tier: TierName
    #: The client's request, and the shadow request made of it (the served seed, one image).
    client: GenerationParams
    params: GenerationParams
    size: tuple[int, int]
    cost: float
    served: Served
    router: Mapping[str, Any]
    #: The budget's hold (-1 until it is granted).
    ticket: int = -1
    #: Why the budget refused it (then nothing ran and there is no outcome).
    refused: ShadowSkip | None = None
    #: The shadow image was made (it is paid for, stored or not).
    made: bool = False
    outcome: ShadowOutcome = "generate_failed"


class ShadowHost(Protocol):
    """What the shadower needs of its dispatcher (:class:`~routet2i.routing.dispatcher.Dispatcher`)."""

    tiers: Tiers
    health: TierHealth
    budget: BudgetLedger
    observer: RoutingObserver
    #: client worker calls in flight per tier
    tier_load: dict[TierName, int]
    workers: dict[TierName, ImageWorker]
    clock: Callable[[], float]

    def quote(self, tier: TierName, params: GenerationParams) -> float: ...

    def size_for(self, tier: TierName, params: GenerationParams) -> tuple[int, int]: ...

    def tier_timeout(self, tier: TierName) -> float: ...

    def describe_router(self) -> dict[str, Any]: ...


class Shadower:
    """Decides and runs the shadow generations of one dispatcher (see the module docstring)."""

    def __init__(self, dispatcher: ShadowHost, policy: ShadowPolicy, sink: ShadowSink | None) -> None:
        self._d = dispatcher
        self.policy = policy
        self.sink = sink
        self._rng = random.Random(policy.seed)
        self._tasks: set[asyncio.Task[None]] = set()
        #: Skips by reason and generations by outcome since start.
        self.counts: dict[str, int] = {}

    @property
    def enabled(self) -> bool:
        return self.sink is not None and self.policy.shadow_rate > 0

    @property
    def running(self) -> int:
        """Shadow generations in flight."""
        return len(self._tasks)

    def snapshot(self) -> dict[str, Any]:
        """For ``GET /v1/budget``: the policy, what runs, and the counts."""
        return {
            "enabled": self.enabled,
            **self.policy.model_dump(),
            "running": self.running,
            "counts": dict(self.counts),
        }

    # ----------------------------------------------------------------------------- decision
    def offer(self, params: GenerationParams, served: Served) -> bool:
        """Shadow ``served`` (the answer to ``params``) if the policy, the other tier and the budget
        allow; True when a shadow generation was started. Synchronous and cheap; never raises."""
        if not self.enabled:
            return False
        try:
            skip = self._start(params, served)
        except Exception:
            log.exception("deciding a shadow generation failed")
            skip = "error"
        if skip is None:
            return True
        self._count(skip)
        self._d.observer.shadow_skipped(skip)
        return False

    def _start(self, params: GenerationParams, served: Served) -> ShadowSkip | None:
        policy, d = self.policy, self._d
        if self._rng.random() >= policy.shadow_rate:
            return "sampled_out"
        decision = served.decision
        if policy.uncertain_only is not None:
            if decision.prs is None:
                return "no_prediction"
            if abs(decision.prs - decision.threshold) > policy.uncertain_only:
                return "certain"
        if not served.response.images:
            return "no_image"
        other = d.tiers.other(decision.tier)
        if not d.health.closed(other):
            return "tier_down"
        if self.running >= policy.max_concurrent or d.tier_load[other] >= policy.busy_at:
            return "tier_busy"
        seed = served.response.images[0].seed
        shadow_params = replace(params, seed=params.seed if seed is None else seed, n=1)
        info = d.describe_router()
        job = _Job(
            tier=other,
            client=params,
            params=shadow_params,
            size=d.size_for(other, shadow_params),
            cost=d.quote(other, shadow_params),
            served=served,
            router={"checkpoint": info.get("checkpoint"), "data_id": info.get("data_id")},
        )
        task = asyncio.get_running_loop().create_task(self._run(job), name=f"routet2i-shadow-{other}")
        self._tasks.add(task)
        # the counting runs when the task is done, however it ended (also cancelled before it started)
        task.add_done_callback(lambda t: self._finished(job, t))
        return None

    # ----------------------------------------------------------------------------- generation
    async def _run(self, job: _Job) -> None:
        """Hold the budget, generate, hand the pair to the sink; the hold is settled however it
        ends (a generation that made nothing gives its money back)."""
        d, policy = self._d, self.policy
        try:
            hold = await d.budget.reserve_shadow(
                job.tier, job.cost, now=d.clock(), max_images=policy.max_per_period, keep_share=policy.money_reserve
            )
        except Exception:
            log.exception("holding the budget for a shadow generation failed")
            job.refused = "error"
            return
        if hold.refused is not None:
            job.refused = hold.refused
            return
        job.ticket = hold.ticket
        try:
            timeout = d.tier_timeout(job.tier)
            request = job.params.for_worker(job.size)
            response = await asyncio.wait_for(d.workers[job.tier].generate(request, timeout=timeout), timeout)
            if not response.images:
                raise ValueError("the worker answered no image")
            job.made, job.outcome = True, "write_failed"
            await asyncio.to_thread(self._write, job, response)
            job.outcome = "written"
        except Exception as exc:
            log.warning("shadow generation on %s: %s (%s: %s)", job.tier, job.outcome, type(exc).__name__, exc)
        finally:  # also when cancelled: the ledger's steps do not wait on this task's cancellation
            try:
                if not job.made:
                    await d.budget.release_shadow(job.ticket, now=d.clock())
                await d.budget.settle_shadow(job.ticket)
            except Exception:
                log.exception("settling a shadow generation failed")

    def _finished(self, job: _Job, task: asyncio.Task[None]) -> None:
        """Count how a shadow generation ended (a done callback: never raises)."""
        self._tasks.discard(task)
        d = self._d
        try:
            if job.refused is not None:
                self._count(job.refused)
                d.observer.shadow_skipped(job.refused)
                return
            if task.cancelled() and job.ticket < 0:
                return  # cancelled before the budget held anything: nothing ran
            outcome: ShadowOutcome = "cancelled" if task.cancelled() else job.outcome
            self._count(outcome)
            d.observer.shadow_finished(job.tier, outcome)
        except Exception:
            log.exception("counting a shadow generation failed")

    def _write(self, job: _Job, response: GenerateResponse) -> None:
        """Build the pair (decoding both PNGs) and hand it to the sink; runs in a worker thread."""
        assert self.sink is not None
        served = job.served
        live_tier = served.decision.tier
        p = job.client
        pair = ShadowPair(
            pair_id=uuid.uuid4().hex,
            prompt=p.prompt,
            request={k: v for k, v in asdict(p).items() if k != "prompt"},
            live=_image(live_tier, served.response, served.response.images[0], served=True),
            shadow=_image(job.tier, response, response.images[0], served=False),
            prs=served.decision.prs,
            metrics=dict(served.decision.metrics),
            threshold=served.decision.threshold,
            reason=served.decision.reason,
            router=job.router,
            cost=job.cost,
            created=time.time(),
        )
        self.sink.write(pair)

    # ----------------------------------------------------------------------------- life cycle
    async def drain(self) -> None:
        """Wait until no shadow generation runs (tests; a graceful stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Cancel the running shadow generations and wait until they have stopped."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


def _image(tier: TierName, response: GenerateResponse, image: GeneratedImage, *, served: bool) -> ShadowImage:
    return ShadowImage(
        tier=tier,
        model=response.model,
        png=base64.b64decode(image.b64_png, validate=True),
        seed=image.seed,
        parameters=response.parameters.model_dump(),
        served=served,
    )
