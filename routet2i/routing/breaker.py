"""A circuit breaker per tier: takes a failing tier out of rotation for a while.

Pure: no I/O, no clock of its own (every call takes ``now``, seconds on a monotonic clock).

States:

* ``closed`` — the tier takes traffic. ``failure_threshold`` consecutive failures open it.
* ``open`` — no traffic until the cooldown has passed. The first cooldown is ``cooldown_s``;
  each time the tier fails again right after reopening the cooldown doubles, up to
  ``max_cooldown_s``. A failure that is decisive on its own (connection refused, an explicit
  ``429`` with ``Retry-After``) opens the circuit at once for the time the caller gives.
* ``half_open`` — the cooldown has passed: one trial request at a time may go through (a health
  check always may). Its success closes the circuit; its failure reopens it.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from pydantic import Field, model_validator

from routet2i.config import StrictModel

BreakerState = Literal["closed", "open", "half_open"]


class BreakerPolicy(StrictModel):
    """When a tier's circuit opens and for how long; the breaker fields of the gateway's
    ``health`` settings."""

    #: Consecutive failures that open a closed circuit.
    failure_threshold: int = Field(default=2, ge=1)
    #: Seconds a circuit stays open the first time.
    cooldown_s: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    #: Upper bound of the doubling cooldown, in seconds (≥ ``cooldown_s``; left out: the larger
    #: of 60 and ``cooldown_s``).
    max_cooldown_s: float = Field(default=60.0, gt=0, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _default_cap(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("max_cooldown_s") is None and "cooldown_s" in data:
            with contextlib.suppress(TypeError, ValueError):  # the field's own check names a bad cooldown_s
                data = {**data, "max_cooldown_s": max(60.0, float(data["cooldown_s"]))}
        return data

    @model_validator(mode="after")
    def _cap_above_cooldown(self) -> BreakerPolicy:
        if self.max_cooldown_s < self.cooldown_s:
            raise ValueError(f"max_cooldown_s must be ≥ cooldown_s, got {self.max_cooldown_s} < {self.cooldown_s}")
        return self


class CircuitBreaker:
    """One tier's breaker; see the module docstring."""

    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        self.policy = policy or BreakerPolicy()
        self._failures = 0
        self._open_until: float | None = None  # None: closed
        self._cooldown = self.policy.cooldown_s
        self._probe_since: float | None = None
        self._opened_total = 0
        self.last_error: str | None = None

    def state(self, now: float) -> BreakerState:
        if self._open_until is None:
            return "closed"
        return "open" if now < self._open_until else "half_open"

    def available(self, now: float) -> bool:
        """Whether the tier may be chosen (closed, or half-open with no trial in flight).
        Does not claim the trial: see :meth:`acquire`."""
        state = self.state(now)
        if state == "closed":
            return True
        if state == "open":
            return False
        return self._probe_since is None or now - self._probe_since >= self._cooldown

    def acquire(self, now: float) -> bool:
        """Claim the right to send one request now. In ``half_open`` only one trial request is
        let through at a time (a trial that never reports back is forgotten after a cooldown)."""
        if not self.available(now):
            return False
        if self.state(now) == "half_open":
            self._probe_since = now
        return True

    def retry_after(self, now: float) -> float:
        """Seconds until the tier may be tried again (0 when it may be now)."""
        if self._open_until is None or self.available(now):
            return 0.0
        if now < self._open_until:
            return self._open_until - now
        assert self._probe_since is not None
        return max(self._probe_since + self._cooldown - now, 0.0)

    def record_success(self, now: float) -> None:
        self._failures = 0
        self._open_until = None
        self._probe_since = None
        self._cooldown = self.policy.cooldown_s

    def record_failure(self, now: float, error: str = "", *, open_for: float | None = None) -> None:
        """A request or health check failed. ``open_for`` (seconds) opens the circuit at once for
        at least that long (e.g. a 429's ``Retry-After``, or a refused connection)."""
        self.last_error = error or None
        self._failures += 1
        state = self.state(now)
        self._probe_since = None
        if state == "half_open":
            self._cooldown = min(self._cooldown * 2, self.policy.max_cooldown_s)
            self._open(now, max(self._cooldown, open_for or 0.0))
        elif open_for is not None:
            until = now + open_for
            if self._open_until is None or until > self._open_until:
                self._open(now, open_for)
        elif state == "closed" and self._failures >= self.policy.failure_threshold:
            self._open(now, self._cooldown)

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "state": self.state(now),
            "consecutive_failures": self._failures,
            "retry_after_s": round(self.retry_after(now), 3),
            "opened_total": self._opened_total,
            "last_error": self.last_error,
        }

    def _open(self, now: float, seconds: float) -> None:
        if self._open_until is None or self.state(now) != "open":
            self._opened_total += 1
        self._open_until = now + seconds
