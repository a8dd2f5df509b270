"""Faults under load: what clients see while a worker dies, slows down or answers garbage.

Each scenario runs the load of :mod:`routet2i.bench.load` for ``duration_s`` seconds and injects
its fault at 20 % of the run:

- ``kill``: the edge worker is killed (SIGKILL) and started again at 50 % of the run (it answers
  again once its model has loaded); the gateway must send the edge's requests to the cloud within
  the budget, answer the rest with 503 + ``Retry-After``, and take the edge back once it is up;
- ``slow``: the cloud answers ``delay_s`` seconds late, past its tier timeout: the gateway must
  time the calls out and retry them on the edge within the request's deadline;
- ``garbage``: the cloud answers 200 with bodies that are not valid worker answers (not JSON,
  wrong shape, no image, bad base64, too many images): the gateway must treat those as failures
  (502, fallback to the edge), never pass them on, never answer 500.

The report of each: statuses, error types, fallbacks, latency percentiles, answers past the
request deadline, requests with no answer, and (``kill``) how long the edge took to come back.
After each scenario the fault is removed and both tiers are waited back into rotation.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

from routet2i.bench.load import drive_stack, request_deadline_s, summarise

SCENARIOS = ("kill", "slow", "garbage")


def _once(at: float, action: Callable[[], None]) -> Callable[[float], None]:
    done = False

    def fire(t: float) -> None:
        nonlocal done
        if not done and t >= at:
            done = True
            action()

    return fire


def run_scenario(
    stack: Any, scenario: str, *, clients: int, duration_s: float, slow_delay_s: float | None = None
) -> dict[str, Any]:
    """Run one fault scenario on a started :class:`~routet2i.bench.stack.Stack`."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {SCENARIOS}")
    settings = stack.gateway_settings
    deadline = request_deadline_s(stack)
    cloud_timeout = float(settings["tiers"]["cloud"]["timeout_s"])
    delay = slow_delay_s if slow_delay_s is not None else cloud_timeout + 1.0
    events: dict[str, float] = {}
    t_start = 0.0

    def mark(name: str) -> None:
        events[name] = round(time.monotonic() - t_start, 3)

    actions: list[Callable[[float], None]] = []
    if scenario == "kill":

        def kill() -> None:
            stack.edge.kill()
            mark("edge_killed_s")

        def restart() -> None:
            stack.restart("edge")
            mark("edge_restarted_s")

        actions = [_once(0.2 * duration_s, kill), _once(0.5 * duration_s, restart)]
    else:

        def inject() -> None:
            stack.set_fault(scenario, delay_s=delay)
            mark("fault_on_s")

        actions = [_once(0.2 * duration_s, inject)]

    def during(t: float) -> None:
        for action in actions:
            action(t)

    t_start = time.monotonic()
    try:
        records, elapsed = asyncio.run(
            drive_stack(
                stack,
                clients=clients,
                duration_s=duration_s,
                id_prefix=f"fault-{scenario}",
                seeds=itertools.count(1_000_000 * (SCENARIOS.index(scenario) + 1)),
                during=during,
            )
        )
    finally:
        if scenario != "kill":
            stack.set_fault("pass")
            mark("fault_off_s")
    if scenario == "slow":
        time.sleep(delay)  # the calls the fault worker still holds reach the cloud...
    stack.quiesce()  # ...and finish
    if scenario == "kill":
        if not stack.edge.alive:  # the run ended before the restart
            stack.restart("edge")
            mark("edge_restarted_s")
        stack.edge.wait_ready(stack.edge_url, stack.ready_timeout_s)
        stack.wait_tier("edge", "closed")
        mark("edge_back_in_rotation_s")
    for tier in ("edge", "cloud"):
        stack.wait_tier(tier, "closed")
    report = summarise(records, elapsed, deadline_s=deadline)
    after_fault = [r for r in records if r.started_s >= min(events.values(), default=0.0)]
    report.update(
        scenario=scenario,
        clients=clients,
        duration_s=duration_s,
        events=events,
        after_fault=summarise(after_fault, elapsed, deadline_s=deadline),
        error_statuses={f"{status}:{error}": n for (status, error), n in _count_errors(records).items()},
    )
    return report


def _count_errors(records: list[Any]) -> dict[tuple[int, str | None], int]:
    counts: dict[tuple[int, str | None], int] = {}
    for r in records:
        if r.status != 200:
            counts[(r.status, r.error)] = counts.get((r.status, r.error), 0) + 1
    return counts


def run_faults(
    stack: Any, *, clients: int, duration_s: float, scenarios: tuple[str, ...] = SCENARIOS
) -> dict[str, Any]:
    """Every scenario in turn on one stack."""
    return {name: run_scenario(stack, name, clients=clients, duration_s=duration_s) for name in scenarios}
