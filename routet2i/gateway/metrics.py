"""Prometheus metrics of one gateway app (its own CollectorRegistry, so apps never collide).

Names (all prefixed ``routet2i_gateway_``): ``requests_total{endpoint,tier,status}``,
``router_latency_seconds`` (queue + encode + predict, per request), ``router_batch_size``,
``router_batch_seconds``, ``router_cache_lookups_total{result}`` (``hit`` | ``miss``: prompts found in
the prediction cache or run through the model; hit rate = hit / (hit + miss)), ``prs`` (histogram of PRŜ), ``decisions_total{tier,reason}``,
``fallbacks_total{from_tier,to_tier,cause}``, ``worker_latency_seconds{tier}``,
``worker_errors_total{tier,type}``, ``tier_up{tier}``, and the budget gauges
``cloud_share_realised``, ``cloud_share_target``, ``threshold``, ``budget_cloud_left``,
``budget_money_spent``, ``budget_money_left``; ``router_reloads_total{outcome}`` (hot reloads of the
router checkpoint: ``success``, ``not_found``, ``invalid_checkpoint``, ``in_progress``, ``error``);
``shadow_pairs_total{tier,outcome}`` (shadow generations by the tier that made the shadow image and
how they ended: ``written``, ``generate_failed``, ``write_failed``, ``cancelled``),
``shadow_skipped_total{reason}`` (served requests not shadowed) and ``budget_shadow_spent``;
``budget_store_up`` and ``budget_store_errors_total`` (the shared budget store, ``budget.store: redis``).
Per replica of a tier with several worker URLs (``tiers.*.urls``; label ``replica`` = its base
URL): ``replica_requests_total{tier,replica,outcome}`` (``served`` or the worker error's type;
a failed call retried on another replica counts here once per replica tried),
``replica_in_flight{tier,replica}`` and ``replica_up{tier,replica}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from routet2i.routing.budget import BudgetState
from routet2i.routing.reload import OUTCOMES as RELOAD_OUTCOMES
from routet2i.routing.shadow import SHADOW_SKIPS
from routet2i.types import DEFAULT_TIERS, FallbackCause, Prediction, Reason, TierName

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_WORKER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
_PRS_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class GatewayMetrics:
    """The metrics, fed by the routing core (it implements
    :class:`~routet2i.routing.observer.RoutingObserver`) and by the request middleware."""

    def __init__(self, tiers: Iterable[TierName] = DEFAULT_TIERS) -> None:
        self.registry = CollectorRegistry()
        p = "routet2i_gateway_"
        r = self.registry
        self.requests = Counter(p + "requests_total", "Requests answered", ["endpoint", "tier", "status"], registry=r)
        self.router_latency = Histogram(
            p + "router_latency_seconds",
            "Router time per request (queue+encode+predict)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.router_batch_size = Histogram(
            p + "router_batch_size", "Prompts per router batch", buckets=_BATCH_BUCKETS, registry=r
        )
        self.router_batch_seconds = Histogram(
            p + "router_batch_seconds", "Model time per router batch", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.router_cache = Counter(
            p + "router_cache_lookups_total", "Prompts looked up in the prediction cache", ["result"], registry=r
        )
        for result in ("hit", "miss"):
            self.router_cache.labels(result)
        self.router_errors = Counter(
            p + "router_errors_total", "Router failures (request sent to the edge)", registry=r
        )
        self.router_reloads = Counter(
            p + "router_reloads_total", "Hot reloads of the router checkpoint, by outcome", ["outcome"], registry=r
        )
        self.prs = Histogram(p + "prs", "Predicted Pareto relative superiority PRŜ", buckets=_PRS_BUCKETS, registry=r)
        self.decisions = Counter(p + "decisions_total", "Routing decisions", ["tier", "reason"], registry=r)
        self.fallbacks = Counter(
            p + "fallbacks_total", "Requests served by the other tier", ["from_tier", "to_tier", "cause"], registry=r
        )
        self.worker_latency = Histogram(
            p + "worker_latency_seconds", "Worker call time", ["tier"], buckets=_WORKER_BUCKETS, registry=r
        )
        self.worker_errors = Counter(p + "worker_errors_total", "Worker failures", ["tier", "type"], registry=r)
        self.tier_up = Gauge(p + "tier_up", "1 while the tier takes traffic", ["tier"], registry=r)
        self.cloud_share_realised = Gauge(p + "cloud_share_realised", "Cloud share over the window", registry=r)
        self.cloud_share_target = Gauge(p + "cloud_share_target", "Cloud share the threshold aims at", registry=r)
        self.threshold = Gauge(p + "threshold", "Current α (PRŜ < α → cloud)", registry=r)
        self.budget_cloud_left = Gauge(p + "budget_cloud_left", "Cloud requests left in the window", registry=r)
        self.budget_money_spent = Gauge(p + "budget_money_spent", "Spend over the money period", registry=r)
        self.budget_money_left = Gauge(p + "budget_money_left", "Money left over the period", registry=r)
        self.budget_shadow_spent = Gauge(p + "budget_shadow_spent", "Shadow spend over the money period", registry=r)
        self.budget_store_up = Gauge(
            p + "budget_store_up", "Whether the budget store answered its last step (1; 0: failing closed)", registry=r
        )
        self.budget_store_errors = Counter(
            p + "budget_store_errors", "Budget store steps that found it unreachable", registry=r
        )
        self._store_errors_seen = 0
        self.shadow_generations = Counter(
            p + "shadow_pairs_total", "Shadow generations, by shadow tier and outcome", ["tier", "outcome"], registry=r
        )
        self.shadow_skips = Counter(
            p + "shadow_skipped_total", "Served requests not shadowed, by reason", ["reason"], registry=r
        )
        for reason in SHADOW_SKIPS:
            self.shadow_skips.labels(reason)
        self.replica_requests = Counter(
            p + "replica_requests_total",
            "Calls to one replica of a tier's worker, by outcome",
            ["tier", "replica", "outcome"],
            registry=r,
        )
        self.replica_in_flight = Gauge(
            p + "replica_in_flight", "Requests outstanding on one replica", ["tier", "replica"], registry=r
        )
        self.replica_up = Gauge(p + "replica_up", "1 while the replica takes traffic", ["tier", "replica"], registry=r)
        for tier in tiers:
            self.tier_up.labels(tier).set(1)
        for outcome in RELOAD_OUTCOMES:  # every series exists from the start (rate() and alerts need them)
            self.router_reloads.labels(outcome)

    # ----------------------------------------------------------------------------- RoutingObserver
    def tier_changed(self, tier: TierName, up: bool) -> None:
        self.tier_up.labels(tier).set(1 if up else 0)

    def router_called(self, seconds: float, predictions: Sequence[Prediction | None], failed: bool) -> None:
        if failed:
            self.router_errors.inc()
        self.router_latency.observe(seconds)
        for p in predictions:
            if p is not None:
                self.prs.observe(p.prs)

    def cache_looked_up(self, hits: int, misses: int) -> None:
        if hits:
            self.router_cache.labels("hit").inc(hits)
        if misses:
            self.router_cache.labels("miss").inc(misses)

    def batch_ran(self, prompts: int, requests: int, seconds: float) -> None:
        self.router_batch_size.observe(prompts)
        self.router_batch_seconds.observe(seconds)

    def decided(self, tier: TierName, reason: Reason) -> None:
        self.decisions.labels(tier, reason).inc()

    def fell_back(self, from_tier: TierName, to_tier: TierName, cause: FallbackCause) -> None:
        self.fallbacks.labels(from_tier, to_tier, cause).inc()

    def worker_failed(self, tier: TierName, error_type: str) -> None:
        self.worker_errors.labels(tier, error_type).inc()

    def worker_served(self, tier: TierName, seconds: float) -> None:
        self.worker_latency.labels(tier).observe(seconds)

    def reload_finished(self, outcome: str) -> None:
        self.router_reloads.labels(outcome).inc()

    def shadow_skipped(self, reason: str) -> None:
        self.shadow_skips.labels(reason).inc()

    def shadow_finished(self, tier: TierName, outcome: str) -> None:
        self.shadow_generations.labels(tier, outcome).inc()

    def replica_finished(self, tier: TierName, replica: str, outcome: str) -> None:
        self.replica_requests.labels(tier, replica, outcome).inc()

    def replica_load(self, tier: TierName, replica: str, in_flight: int) -> None:
        self.replica_in_flight.labels(tier, replica).set(in_flight)

    def replica_changed(self, tier: TierName, replica: str, up: bool) -> None:
        self.replica_up.labels(tier, replica).set(1 if up else 0)
        self.replica_requests.labels(tier, replica, "served")  # the series exists from the start

    def budget_read(self, state: BudgetState) -> None:
        self.cloud_share_realised.set(state.realised_cloud_share)
        self.cloud_share_target.set(state.effective_share if state.effective_share is not None else 1.0)
        self.threshold.set(state.threshold)
        self.budget_cloud_left.set(state.cloud_left_in_window if state.cloud_left_in_window is not None else -1)
        self.budget_money_spent.set(state.spent_in_period)
        self.budget_money_left.set(state.money_left if state.money_left is not None else -1)
        self.budget_shadow_spent.set(state.shadow_spent)
        self.budget_store_up.set(1.0 if state.store_available else 0.0)
        if state.store_errors > self._store_errors_seen:
            self.budget_store_errors.inc(state.store_errors - self._store_errors_seen)
            self._store_errors_seen = state.store_errors

    def render(self) -> bytes:
        return generate_latest(self.registry)
