"""The shared budget ledger: one window, one money period and one live PRŜ sample in Redis for
every gateway replica (the :class:`~routet2i.routing.ledger.BudgetLedger` of ``budget.store: redis``).

**One decision** is one round trip: ``RESERVE``, the atomic script that tests the caps and
records the decision, its share and its cost (:mod:`routet2i.budget_store.scripts`), with α
from the gateway's last reading of the shared state. A reading is two round trips, ``VIEW`` (the
counts) and the one live PRŜ that is α (``ZRANGE`` at the rank
:func:`~routet2i.routing.threshold.plan_threshold` names); it runs before a decision whose
reading is older than ``alpha_max_age_s`` (0: before every decision, which makes the Redis ledger
decide exactly as the in-memory one; the contract tests run so), and in the background after a
decision whose reading is older than a tenth of that. The bound of the approximation: α is the
same quantile of the same shared sample for every gateway, as it was at most
``alpha_max_age_s`` ago. The caps are never approximate: they are tested inside the script,
so N gateways together never pass them.

**Life of a reservation.** ``RESERVE`` opens it with a TTL (``reservation_ttl_s``);
:meth:`~RedisLedger.reassign` / :meth:`~RedisLedger.release` move or free it while it is open;
:meth:`~RedisLedger.settle` closes it. A gateway that dies leaves it to the TTL: it then counts at
its quoted cost (the worker may have made the image), and nothing stays open. A step on a
reservation that is gone (expired) changes nothing, so nothing is counted twice.

**Fails closed.** When Redis cannot be reached (``redis_timeout_s``), no expensive image is sent
without a reservation: a decision goes to the cheap tier with ``cap: store`` (a forced expensive
request gets 503 from the dispatcher), shadow images are refused, a reservation's move back to the
cheap tier is allowed and one to the expensive tier refused. Redis is tried again after
``redis_retry_s``; the ledger logs each change once and counts the failures (``store_errors`` in
the state). A Redis that comes back empty (restarted without persistence) is seeded with the
policy again and the window starts anew: the spend of the period so far is forgotten, which a
money cap that matters should prevent with Redis persistence (docs/SCALING.md).

**A new router.** :meth:`~RedisLedger.recalibrate` moves the shared live sample to stale for every
gateway (an epoch in Redis): gateways sharing one ledger should serve one router, and a reload
should reach them all (a gateway still on the old router adds its PRŜ as stale until it reloads).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from routet2i.budget_store import scripts
from routet2i.routing.budget import BudgetPolicy, BudgetState, ShadowHold, Verdict, capped_verdict, wanted_tier
from routet2i.routing.threshold import Calibration, WindowCounts, plan_threshold, resolve_threshold
from routet2i.routing.tiers import Tiers
from routet2i.types import CapKind, ThresholdSource, TierName

log = logging.getLogger("routet2i.budget_store")

#: The failures that mean "Redis cannot be reached now" (the ledger then fails closed).
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class StoreUnavailable(Exception):
    """Redis cannot be reached (internal: every public step turns it into its closed answer)."""


@dataclass(frozen=True)
class _View:
    """What ``VIEW`` answered."""

    counts: WindowCounts
    shadow_requests: int
    decisions: int
    capped: int
    epoch: int
    spent: float
    shadow_spent: float
    policy_json: str


def policy_of_json(text: str) -> BudgetPolicy:
    """The policy :func:`policy_json` wrote (its ``cloud_limit`` is derived, not a field)."""
    data = json.loads(text)
    data.pop("cloud_limit", None)
    return BudgetPolicy.model_validate(data)


def policy_json(policy: BudgetPolicy) -> str:
    """The policy as the scripts read it: its fields and ``cloud_limit`` (⌊ρ·window⌋, computed here
    once so the scripts never redo the rounding)."""
    return json.dumps({**policy.model_dump(), "cloud_limit": policy.cloud_limit}, sort_keys=True)


class RedisLedger:
    """The budget ledger in Redis (see the module docstring). ``clock``: seconds for the scripts'
    ``now`` (tests); None: the Redis server's own clock, shared by all gateways."""

    def __init__(
        self,
        policy: BudgetPolicy,
        calibration: Calibration | None = None,
        tiers: Tiers | None = None,
        *,
        url: str = "redis://127.0.0.1:6379/0",
        password: str | None = None,
        prefix: str = "routet2i",
        timeout_s: float = 0.25,
        retry_s: float = 1.0,
        reservation_ttl_s: float = 330.0,
        shadow_ttl_s: float | None = None,
        alpha_max_age_s: float = 1.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._set_policy(policy)
        self._seed = hashlib.sha256(self._policy_json.encode()).hexdigest()[:16]
        self._calibration = calibration
        self._tiers = tiers or Tiers()
        self._key = "{" + prefix + "}"
        self._url, self._password, self._timeout_s = url, password, timeout_s
        self._retry_s = retry_s
        self._ttl_ms = max(int(reservation_ttl_s * 1000), 1)
        self._shadow_ttl_ms = max(int((shadow_ttl_s or reservation_ttl_s) * 1000), 1)
        self._clock = clock
        self._redis: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._epoch = 0
        #: The store's instance id (new when Redis came back empty: its epoch is then adopted).
        self._instance = ""
        self._closed_until = 0.0  # monotonic time before which Redis is not tried
        self.available = True
        self.errors = 0
        self._last: _View | None = None
        self._last_threshold: tuple[float, ThresholdSource] = (0.5, "ceiling")
        self._alpha_max_age_s = alpha_max_age_s
        self._alpha_at = -math.inf  # monotonic time of the reading α came from
        self._refreshing: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------------------- life cycle
    async def start(self) -> None:
        self._redis = aioredis.Redis.from_url(
            self._url,
            password=self._password,
            socket_timeout=self._timeout_s,
            socket_connect_timeout=self._timeout_s,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
            client_name="routet2i-gateway",
        )
        self._scripts = {
            name: self._redis.register_script(getattr(scripts, name))
            for name in ("VIEW", "RESERVE", "MOVE", "RESERVE_SHADOW", "RELEASE_SHADOW", "RECALIBRATE", "SET_POLICY")
        }
        self._scripts["SEED"] = self._redis.register_script(scripts.SEED)
        try:
            await self._run_seed()
            log.info("the budget is shared in redis", extra={"redis": self._url, "prefix": self._key})
        except StoreUnavailable:
            pass  # logged by _run; the ledger fails closed until Redis answers

    async def aclose(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            await asyncio.gather(self._refreshing, return_exceptions=True)
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # ----------------------------------------------------------------------------- policy
    @property
    def policy(self) -> BudgetPolicy:
        return self._policy

    def _set_policy(self, policy: BudgetPolicy) -> None:
        """The policy and its JSON (compared with the stored one on every reading)."""
        self._policy, self._policy_json = policy, policy_json(policy)

    async def update_policy(self, **changes: Any) -> BudgetPolicy:
        policy = self._policy.changed(**changes)
        await self._run("SET_POLICY", policy_json(policy), self._tiers.expensive)
        self._set_policy(policy)
        self._alpha_at = -math.inf
        return policy

    async def recalibrate(self, calibration: Calibration | None) -> None:
        self._calibration = calibration
        self._alpha_at = -math.inf
        try:
            self._epoch = int(await self._run("RECALIBRATE"))
        except StoreUnavailable:
            log.warning("the new router's calibration is live; the shared sample is marked stale when redis is back")
            self._epoch = -1  # until then, and after, this gateway's PRŜ count as stale

    # ----------------------------------------------------------------------------- decisions
    async def preview(self, prs: float | None, *, now: float, forced: TierName | None = None) -> Verdict:
        try:
            threshold = await self._threshold()
        except StoreUnavailable:
            return self._closed_verdict(prs, forced)
        wanted, reason = wanted_tier(prs, threshold[0], forced, self._tiers)
        return capped_verdict(-1, prs, wanted, reason, None, threshold, forced, self._tiers)

    async def reserve(
        self,
        prs: float | None,
        *,
        now: float,
        cheap_cost: float = 0.0,
        expensive_cost: float = 0.0,
        forced: TierName | None = None,
        sample: bool = True,
    ) -> Verdict:
        prs = None if prs is None or math.isnan(prs) else prs
        try:
            threshold = await self._current_threshold()
            wanted, reason = wanted_tier(prs, threshold[0], forced, self._tiers)
            ticket, _tier, cap = await self._run(
                "RESERVE",
                self._now(),
                wanted,
                self._tiers.expensive,
                self._tiers.cheap,
                int(forced is not None),
                "" if prs is None else repr(float(prs)),
                int(sample),
                self._epoch,
                repr(float(cheap_cost)),
                repr(float(expensive_cost)),
                reason,
                self._ttl_ms,
            )
        except StoreUnavailable:
            return self._closed_verdict(prs, forced)
        self._refresh_soon()
        cap_kind = cast(CapKind, cap) if cap else None
        return capped_verdict(int(ticket), prs, wanted, reason, cap_kind, threshold, forced, self._tiers)

    async def reassign(self, ticket: int, tier: TierName, *, now: float, cost: float) -> bool:
        if ticket < 0:  # decided while Redis was away: nothing is held
            return tier != self._tiers.expensive
        try:
            moved = int(await self._run("MOVE", self._now(), ticket, tier, repr(float(cost)), self._tiers.expensive, 1))
        except StoreUnavailable:
            return tier != self._tiers.expensive
        if moved < 0:  # expired: it still counts where it was; only a move to the cheap tier is safe
            return tier != self._tiers.expensive
        return moved == 1

    async def release(self, ticket: int, *, now: float) -> None:
        if ticket >= 0:
            # Redis away: it keeps counting at its quote until its TTL (never under-counted)
            with contextlib.suppress(StoreUnavailable):
                await self._run("MOVE", self._now(), ticket, "", "0", self._tiers.expensive, 0)

    async def settle(self, ticket: int) -> None:
        if ticket >= 0:
            with contextlib.suppress(StoreUnavailable):  # Redis away: the TTL closes it
                await self._call(lambda r: r.delete(f"{self._key}:o:{ticket}"))

    async def reserve_shadow(
        self, tier: TierName, cost: float, *, now: float, max_images: int, keep_share: float = 0.0
    ) -> ShadowHold:
        try:
            answer = await self._run(
                "RESERVE_SHADOW",
                self._now(),
                repr(float(cost)),
                max_images,
                repr(float(keep_share)),
                self._shadow_ttl_ms,
            )
        except StoreUnavailable:
            return ShadowHold(-1, "budget_unavailable")
        if int(answer[0]) < 0:
            return ShadowHold(-1, answer[1])
        return ShadowHold(int(answer[0]), None)

    async def release_shadow(self, ticket: int, *, now: float) -> None:
        if ticket >= 0:
            with contextlib.suppress(StoreUnavailable):  # Redis away: it counts until its TTL
                await self._run("RELEASE_SHADOW", self._now(), ticket)

    async def settle_shadow(self, ticket: int) -> None:
        await self.settle(ticket)

    # ----------------------------------------------------------------------------- threshold, state
    async def threshold(self, now: float) -> tuple[float, ThresholdSource]:
        try:
            return await self._threshold()
        except StoreUnavailable:
            return self._last_threshold

    async def state(self, now: float) -> BudgetState:
        view: _View | None
        try:
            view = await self._view()
            alpha, source = await self._alpha(view)
        except StoreUnavailable:
            view, (alpha, source) = self._last, self._last_threshold
        if view is None:  # Redis has not answered since start
            view = _View(WindowCounts(0, 0, 0, 0, 0, 0.0, 0.0, 0, None), 0, 0, 0, 0, 0.0, 0.0, "")
        return BudgetState.of(
            self._policy,
            view.counts,
            (alpha, source),
            spent=view.spent,
            shadow_spent=view.shadow_spent,
            shadow_images=view.shadow_requests,
            decisions=view.decisions,
            capped=view.capped,
            store="redis",
            store_available=self.available,
            store_errors=self.errors,
        )

    async def reasons(self) -> dict[str, int]:
        try:
            raw = await self._call(lambda r: r.hgetall(f"{self._key}:reasons"))
        except StoreUnavailable:
            return {}
        return {str(k): int(v) for k, v in cast(dict[str, str], raw).items()}

    # ----------------------------------------------------------------------------- internals
    def _now(self) -> str:
        return "" if self._clock is None else repr(float(self._clock()))

    def _closed_verdict(self, prs: float | None, forced: TierName | None) -> Verdict:
        """Redis is away: the cheap tier, and the expensive one never without a reservation."""
        wanted, reason = wanted_tier(prs, self._last_threshold[0], forced, self._tiers)
        cap: CapKind | None = "store" if wanted == self._tiers.expensive else None
        return capped_verdict(-1, prs, wanted, reason, cap, self._last_threshold, forced, self._tiers)

    async def _threshold(self) -> tuple[float, ThresholdSource]:
        """α from a new reading of the shared state."""
        started = time.monotonic()
        threshold = await self._alpha(await self._view())
        self._alpha_at = started
        return threshold

    async def _current_threshold(self) -> tuple[float, ThresholdSource]:
        """α for a decision: the last reading while it is younger than ``alpha_max_age_s``."""
        if time.monotonic() - self._alpha_at > self._alpha_max_age_s:
            return await self._threshold()
        return self._last_threshold

    def _refresh_soon(self) -> None:
        """Read the shared state again in the background once the reading is older than a tenth
        of ``alpha_max_age_s`` (one reading at a time)."""
        if self._alpha_max_age_s <= 0 or time.monotonic() - self._alpha_at < self._alpha_max_age_s / 10:
            return
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        try:
            await self._threshold()
        except StoreUnavailable:
            pass  # logged by _call; the next decision reads again or fails closed
        except Exception:
            log.exception("reading the shared budget failed")

    async def _view(self) -> _View:
        raw = await self._run("VIEW", self._now())
        ints = [int(x) for x in raw[:10]]
        n, exp, fexp, stale, req, sreq, decisions, capped, epoch, live = ints
        cq, eq, spent, sspent = (float(x) for x in raw[10:14])
        counts = WindowCounts(n, exp, fexp, live, stale, cq, eq, req, float(raw[14]) if raw[14] else None)
        view = _View(counts, sreq, decisions, capped, epoch, spent, sspent, raw[15])
        if raw[16] != self._instance:  # Redis came back empty and another gateway seeded it
            self._instance, self._epoch = raw[16], epoch
        if view.policy_json != self._policy_json:  # another gateway's operator changed it
            self._set_policy(policy_of_json(view.policy_json))
        self._last = view
        return view

    async def _alpha(self, view: _View) -> tuple[float, ThresholdSource]:
        plan = plan_threshold(self._policy, view.counts)
        live = None
        if plan.rank is not None:
            rank = plan.rank
            found = await self._call(lambda r: r.zrange(f"{self._key}:prs", rank, rank, withscores=True))
            found = cast(list[tuple[str, float]], found)
            live = float(found[0][1]) if found else None
        self._last_threshold = resolve_threshold(plan, live, self._calibration)
        return self._last_threshold

    async def _run_seed(self) -> None:
        stored, epoch, instance = await self._call(
            lambda r: self._scripts["SEED"](keys=[self._key], args=[self._policy_json, self._seed, uuid.uuid4().hex])
        )
        self._instance = instance
        if stored != self._policy_json:
            self._set_policy(policy_of_json(stored))
            log.info("using the shared budget policy in redis (changed at run time)", extra={"policy": stored})
        self._epoch = int(epoch)

    async def _run(self, name: str, *args: object) -> Any:
        """Run script ``name``; a store that lost its state (``NOPOLICY``) is seeded again, once."""
        script = self._scripts[name]
        try:
            return await self._call(lambda r: script(keys=[self._key], args=list(args)))
        except ResponseError as exc:
            if "NOPOLICY" not in str(exc):
                raise
        log.warning("the budget store lost its state (a redis restart?): seeding it again; the window starts anew")
        await self._run_seed()
        return await self._call(lambda r: script(keys=[self._key], args=list(args)))

    async def _call(self, step: Callable[[aioredis.Redis], Any]) -> Any:
        """One Redis step, or :class:`StoreUnavailable` while Redis is away (then tried again
        after ``redis_retry_s``)."""
        if self._redis is None or time.monotonic() < self._closed_until:
            raise StoreUnavailable
        try:
            result = await step(self._redis)
        except _UNREACHABLE as exc:
            self.errors += 1
            self._closed_until = time.monotonic() + self._retry_s
            if self.available:
                self.available = False
                log.warning(
                    "the budget store is unreachable: expensive-tier requests are refused until it is back (%s: %s)",
                    type(exc).__name__,
                    exc,
                )
            raise StoreUnavailable from None
        if not self.available:
            self.available = True
            log.warning("the budget store is back: the shared budget applies again")
        return result
