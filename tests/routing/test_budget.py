"""The budget controller: hard cap over the window, live threshold tracking, money, fallbacks."""

from __future__ import annotations

import random

import pytest

from routet2i.bench.replicas import max_in_any_window
from routet2i.routing.budget import BudgetController, BudgetPolicy
from routet2i.routing.price import Price
from routet2i.types import CLOUD, EDGE
from routet2i.types import TierName as Tier


def max_cloud_in_any_window(tiers: list[Tier], window: int) -> int:
    """The most cloud decisions in any ``window`` consecutive decisions (prefixes included)."""
    return max_in_any_window(list(tiers), window, CLOUD)


def test_price_formula() -> None:
    price = Price(per_image=0.01, per_megapixel=0.1, per_megapixel_step=0.001)
    # 1 MP, 30 steps, 2 images: 2 * (0.01 + 0.1 + 0.03)
    assert price.cost(1000, 1000, 30, n=2) == pytest.approx(0.28)
    assert price.cost(1000, 1000, None) == pytest.approx(0.11)
    with pytest.raises(ValueError, match="per_image"):
        Price(per_image=-1.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cloud_share": 1.5}, "cloud_share"),
        ({"money_per_period": -1.0}, "money_per_period"),
        ({"period_s": 0.0}, "period_s"),
        ({"window": 0}, "window"),
        ({"warmup": 0}, "warmup"),
    ],
)
def test_policy_rejects_invalid_values(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        BudgetPolicy(**kwargs)  # type: ignore[arg-type]


def test_no_budget_routes_on_half() -> None:
    ctl = BudgetController(BudgetPolicy(cloud_share=None))
    assert ctl.reserve(0.49, now=0).tier == CLOUD
    v = ctl.reserve(0.5, now=0)
    assert (v.tier, v.reason, v.threshold, v.threshold_source) == (EDGE, "predicted", 0.5, "ceiling")


def test_threshold_starts_from_calibration_and_never_exceeds_half() -> None:
    seen: list[float] = []

    def calibration(rho: float) -> float:
        seen.append(rho)
        return 0.42

    ctl = BudgetController(BudgetPolicy(cloud_share=0.3, warmup=10), calibration)
    v = ctl.reserve(0.41, now=0)
    assert (v.tier, v.threshold, v.threshold_source) == (CLOUD, 0.42, "calibration")
    assert seen[-1] == pytest.approx(0.3)
    assert ctl.reserve(0.43, now=0).tier == EDGE
    greedy = BudgetController(BudgetPolicy(cloud_share=0.3), lambda rho: 0.9)
    assert greedy.threshold(0) == (0.5, "calibration")
    assert greedy.reserve(0.7, now=0).tier == EDGE


def test_edge_predicted_prompts_never_go_to_the_cloud_even_with_budget_left() -> None:
    ctl = BudgetController(BudgetPolicy(cloud_share=0.9, window=50, warmup=5))
    rng = random.Random(0)
    verdicts = [ctl.reserve(0.5 + 0.5 * rng.random(), now=i) for i in range(200)]
    assert all(v.tier == EDGE and v.reason == "predicted" for v in verdicts)
    assert all(v.threshold <= 0.5 for v in verdicts)


def test_hard_cap_holds_over_every_window_and_says_so() -> None:
    window = 20
    ctl = BudgetController(BudgetPolicy(cloud_share=0.3, window=window, warmup=1000))
    verdicts = [ctl.reserve(0.0, now=i) for i in range(300)]  # the predictor always wants the cloud
    tiers = [v.tier for v in verdicts]
    assert max_cloud_in_any_window(tiers, window) == 6
    assert sum(t == CLOUD for t in tiers) == 6 * 300 // window
    capped = [v for v in verdicts if v.tier == EDGE]
    assert capped and all(v.reason == "budget_cap" and v.wanted == CLOUD and v.cap == "share" for v in capped)
    state = ctl.state(300)
    assert state.cloud_in_window == 6 and state.cloud_left_in_window == 0
    assert state.capped_total == len(capped)


def test_live_threshold_tracks_drifting_traffic() -> None:
    """Traffic shifts from uniform PRŜ to a narrow band: the realised share stays near ρ."""
    window = 400
    ctl = BudgetController(BudgetPolicy(cloud_share=0.3, window=window, warmup=50), lambda rho: rho)
    rng = random.Random(1)
    tiers: list[Tier] = []
    for i in range(3000):
        prs = rng.random() if i < 1000 else 0.3 + 0.15 * rng.random()  # all < 0.5: cloud is wanted
        tiers.append(ctl.reserve(prs, now=i).tier)
    assert max_cloud_in_any_window(tiers, window) <= int(0.3 * window)
    for end in (1000, 2000, 3000):  # the last window of each phase
        share = sum(t == CLOUD for t in tiers[end - window : end]) / window
        assert 0.25 <= share <= 0.3
    state = ctl.state(3000)
    assert state.threshold_source == "live"
    assert 0.3 < state.threshold < 0.45  # moved into the new band, no longer the calibration's 0.3


def test_forced_cloud_counts_against_the_budget() -> None:
    window = 100
    ctl = BudgetController(BudgetPolicy(cloud_share=0.3, window=window, warmup=20))
    rng = random.Random(2)
    tiers: list[Tier] = []
    for i in range(1000):
        forced: Tier | None = CLOUD if i % 10 == 0 else None  # 10 % forced to the cloud
        tiers.append(ctl.reserve(rng.random() * 0.49, now=i, forced=forced).tier)
    assert max_cloud_in_any_window(tiers, window) <= 30
    auto_cloud = sum(t == CLOUD for i, t in enumerate(tiers[-window:]) if i % 10 != 0)
    assert auto_cloud <= 20  # the automatic requests get what the forced ones left


def test_forced_cloud_over_budget_is_reported_not_silently_served() -> None:
    ctl = BudgetController(BudgetPolicy(cloud_share=0.0, window=10))
    v = ctl.reserve(0.9, now=0, forced=CLOUD)
    assert (v.tier, v.wanted, v.reason, v.forced, v.cap) == (EDGE, CLOUD, "budget_cap", True, "share")
    edge = ctl.reserve(0.1, now=0, forced=EDGE)
    assert (edge.tier, edge.reason) == (EDGE, "forced")


def test_money_budget_caps_spend_per_period() -> None:
    cloud = Price(per_image=1.0)
    ctl = BudgetController(BudgetPolicy(cloud_share=None, money_per_period=5.0, period_s=100.0, warmup=1000))
    cost = cloud.cost(512, 512, 30)
    tiers = [ctl.reserve(0.1, now=t, expensive_cost=cost).tier for t in range(50)]
    assert tiers.count(CLOUD) == 5
    blocked = ctl.reserve(0.1, now=50, expensive_cost=cost)
    assert (blocked.tier, blocked.reason, blocked.cap) == (EDGE, "budget_cap", "money")
    state = ctl.state(50)
    assert state.spent_in_period == pytest.approx(5.0) and state.money_left == pytest.approx(0.0)
    # once the first spend is older than the period, the cloud is affordable again
    assert ctl.reserve(0.1, now=102, expensive_cost=cost).tier == CLOUD


def test_money_budget_sets_the_share_the_threshold_aims_at() -> None:
    # 1 request per second, 100 s period → 100 requests per period; money for 10 cloud images.
    ctl = BudgetController(BudgetPolicy(cloud_share=0.5, money_per_period=10.0, period_s=100.0, warmup=1000))
    for t in range(100):
        ctl.reserve(0.9, now=t, expensive_cost=1.0, cheap_cost=0.0)
    assert ctl.state(100).effective_share == pytest.approx(0.1, rel=0.05)


def test_reassign_respects_the_cap_and_release_frees_it() -> None:
    ctl = BudgetController(BudgetPolicy(cloud_share=0.2, window=10, warmup=1000))
    cloud = [ctl.reserve(0.0, now=0) for _ in range(2)]
    assert [v.tier for v in cloud] == [CLOUD, CLOUD]
    edge = ctl.reserve(0.9, now=0)
    assert not ctl.reassign(edge.ticket, CLOUD, now=0, cost=0.0)  # edge → cloud fallback: over budget
    assert ctl.reassign(cloud[0].ticket, EDGE, now=0, cost=0.0)  # cloud → edge fallback frees a slot
    assert ctl.state(0).cloud_in_window == 1
    assert ctl.reassign(edge.ticket, CLOUD, now=0, cost=0.0)
    assert ctl.state(0).cloud_in_window == 2
    ctl.release(edge.ticket, now=0)
    assert ctl.state(0).cloud_in_window == 1
    ctl.settle(edge.ticket)
    with pytest.raises(KeyError):
        ctl.reassign(edge.ticket, CLOUD, now=0, cost=0.0)


def test_reassign_refunds_money() -> None:
    ctl = BudgetController(BudgetPolicy(cloud_share=None, money_per_period=1.0, period_s=10.0))
    v = ctl.reserve(0.1, now=0, expensive_cost=1.0)
    assert v.tier == CLOUD and ctl.reserve(0.1, now=0, expensive_cost=1.0).tier == EDGE
    assert ctl.reassign(v.ticket, EDGE, now=0, cost=0.0)
    assert ctl.state(0).spent_in_period == 0.0
    assert ctl.reserve(0.1, now=1, expensive_cost=1.0).tier == CLOUD


def test_preview_records_nothing() -> None:
    ctl = BudgetController(BudgetPolicy(cloud_share=0.5, window=10))
    v = ctl.preview(0.1, now=0)
    assert v.ticket == -1 and v.tier == CLOUD
    assert ctl.state(0).window_requests == 0 and ctl.state(0).decisions_total == 0


def test_operator_update_takes_effect_and_bad_values_change_nothing() -> None:
    ctl = BudgetController(BudgetPolicy(cloud_share=0.5, window=10, warmup=1000))
    assert [ctl.reserve(0.0, now=0).tier for _ in range(4)].count(CLOUD) == 4
    ctl.update_policy(cloud_share=0.2)  # 4 cloud in the window already: no room until they age out
    assert ctl.reserve(0.0, now=0).tier == EDGE
    with pytest.raises(ValueError, match="cloud_share"):
        ctl.update_policy(cloud_share=2.0)
    assert ctl.policy.cloud_share == 0.2
    ctl.update_policy(window=3)
    state = ctl.state(0)
    assert state.window_requests == 3 and state.window == 3


def test_no_prediction_goes_to_the_edge() -> None:
    ctl = BudgetController(BudgetPolicy(cloud_share=1.0))
    v = ctl.reserve(None, now=0)
    assert (v.tier, v.reason) == (EDGE, "no_prediction")
    assert ctl.reserve(float("nan"), now=0).reason == "no_prediction"


def test_recalibrate_restarts_the_threshold_and_keeps_the_accounting() -> None:
    budget = BudgetController(BudgetPolicy(cloud_share=0.5, window=20, warmup=5), lambda rho: 0.2)
    old_prs = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75]
    for i, prs in enumerate(old_prs):
        budget.reserve(prs, now=float(i), expensive_cost=1.0)
    before = budget.state(10.0)
    assert before.threshold_source == "live"

    budget.recalibrate(lambda rho: 0.33)
    after = budget.state(10.0)
    assert (after.threshold, after.threshold_source) == (0.33, "calibration")  # the new checkpoint's α
    for name in ("window_requests", "cloud_in_window", "spent_in_period", "decisions_total", "realised_cloud_share"):
        assert getattr(after, name) == getattr(before, name), name

    # A PRŜ the old router predicted but decided after the swap stays out of the new sample.
    budget.reserve(0.01, now=11.0, sample=False)
    new_prs = [0.1, 0.2, 0.3, 0.4]
    for prs in new_prs:
        budget.reserve(prs, now=12.0)
    assert budget.state(12.0).threshold_source == "calibration"  # 4 new PRŜ < warmup 5
    budget.reserve(0.45, now=13.0)
    # n = 14 decisions, all automatic: q = 0.5; α = the q-quantile of the 5 new PRŜ only
    state = budget.state(13.0)
    assert state.threshold_source == "live" and state.window_requests == 14
    assert state.threshold == pytest.approx(sorted([*new_prs, 0.45])[2])

    for i in range(20):  # the old decisions leave the window: back to the plain formula
        budget.reserve(0.3 + 0.01 * i, now=20.0 + i)
    live = sorted(0.3 + 0.01 * i for i in range(20))
    assert budget.state(40.0).threshold == pytest.approx(live[10])


def test_a_fallback_to_the_cloud_takes_the_place_of_its_own_decision() -> None:
    """Reassigning a decision to the cloud adds a cloud image to the window only while that
    decision is still in it: one that has left the window moves without using the cap."""
    ctl = BudgetController(BudgetPolicy(cloud_share=0.5, window=2, warmup=1000))  # 1 cloud per 2 decisions
    old = ctl.reserve(0.9, now=0)
    inside = ctl.reserve(0.9, now=0)
    assert ctl.reserve(0.0, now=0).tier == CLOUD  # the window is [inside, cloud]: the cap is reached
    assert not ctl.reassign(inside.ticket, CLOUD, now=0, cost=0.0)  # in the window: over the cap
    assert ctl.reassign(old.ticket, CLOUD, now=0, cost=0.0)  # left the window: the cap is not touched
    assert ctl.state(0).cloud_in_window == 1
