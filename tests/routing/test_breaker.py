"""The circuit breaker: opening, cooldown doubling, half-open trials, Retry-After."""

from __future__ import annotations

import pytest

from routet2i.routing.breaker import BreakerPolicy, CircuitBreaker


def test_opens_after_consecutive_failures_only() -> None:
    b = CircuitBreaker(BreakerPolicy(failure_threshold=2, cooldown_s=5, max_cooldown_s=20))
    b.record_failure(0, "timeout")
    b.record_success(0.5)
    b.record_failure(1, "timeout")
    assert b.state(1) == "closed" and b.available(1)
    b.record_failure(2, "timeout")
    assert b.state(2) == "open" and not b.available(2)
    assert b.retry_after(2) == pytest.approx(5)
    assert b.snapshot(2)["last_error"] == "timeout"


def test_half_open_lets_one_trial_through_and_doubles_the_cooldown_on_failure() -> None:
    b = CircuitBreaker(BreakerPolicy(failure_threshold=1, cooldown_s=5, max_cooldown_s=12))
    b.record_failure(0)
    assert b.state(5) == "half_open"
    assert b.acquire(5)
    assert not b.acquire(5.1)  # one trial at a time
    b.record_failure(6)
    assert b.state(6) == "open" and b.retry_after(6) == pytest.approx(10)
    assert b.acquire(16)
    b.record_failure(16)
    assert b.retry_after(16) == pytest.approx(12)  # capped at max_cooldown_s
    assert b.acquire(28)
    b.record_success(28)
    assert b.state(28) == "closed"
    b.record_failure(29)
    assert b.retry_after(29) == pytest.approx(5)  # back to the first cooldown


def test_open_for_opens_at_once_and_never_shortens() -> None:
    b = CircuitBreaker(BreakerPolicy(failure_threshold=3, cooldown_s=1))
    b.record_failure(0, "429", open_for=30)
    assert b.state(0) == "open" and b.retry_after(10) == pytest.approx(20)
    b.record_failure(10, "refused", open_for=1)
    assert b.retry_after(10) == pytest.approx(20)
    assert b.snapshot(10)["opened_total"] == 1


def test_a_lost_trial_is_forgotten_after_a_cooldown() -> None:
    b = CircuitBreaker(BreakerPolicy(failure_threshold=1, cooldown_s=2))
    b.record_failure(0)
    assert b.acquire(2)
    assert not b.available(3)
    assert b.available(4)


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="max_cooldown_s"):
        BreakerPolicy(cooldown_s=10, max_cooldown_s=5)
    with pytest.raises(ValueError, match="failure_threshold"):
        BreakerPolicy(failure_threshold=0)
