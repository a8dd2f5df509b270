"""Several replicas of one tier (:class:`~routet2i.routing.replicas.ReplicaSet`): least outstanding
requests with random ties, a breaker per replica, retries on another replica within the caller's
timeout, readiness over all replicas, the per-replica observer hooks; and ``tiers.*.urls``."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from routet2i.errors import ConfigError
from routet2i.gateway.assembly import http_workers
from routet2i.gateway.metrics import GatewayMetrics
from routet2i.gateway.settings import GatewaySettings
from routet2i.routing.breaker import BreakerPolicy
from routet2i.routing.health import TierHealth
from routet2i.routing.observer import NullObserver
from routet2i.routing.replicas import ReplicaSet
from routet2i.routing.settings import TierOptions
from routet2i.workers import errors as werr
from routet2i.workers.client import WorkerClient
from routet2i.workers.schemas import GenerateRequest, GenerateResponse

REQUEST = GenerateRequest(prompt="a red fox")


def response(model: str) -> GenerateResponse:
    return GenerateResponse.model_validate(
        {
            "images": [{"b64_png": "iVBORw0KGgo=", "seed": 1}],
            "model": model,
            "parameters": {"width": 64, "height": 64, "steps": 1, "guidance_scale": 0.0},
            "timings": {"queue_ms": 0, "generate_ms": 1, "total_ms": 1, "batch_images": 1, "batch_requests": 1},
        }
    )


@dataclass
class Replica:
    """A scripted replica: ``fail`` is raised by ``generate``; ``gate`` (when set) holds each call
    until opened; ``reason`` is its readiness answer (None: ready), ``down`` makes the probe raise,
    ``hang`` makes it never answer."""

    name: str
    fail: Exception | None = None
    gate: asyncio.Event | None = None
    reason: str | None = None
    down: bool = False
    hang: bool = False
    calls: int = 0
    timeouts: list[float | None] = field(default_factory=list)
    probes: int = 0
    closed: bool = False

    async def generate(self, request: GenerateRequest, *, timeout: float | None = None) -> GenerateResponse:
        self.calls += 1
        self.timeouts.append(timeout)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return response(self.name)

    async def ready(self) -> bool:
        return await self.why_not_ready() is None

    async def why_not_ready(self) -> str | None:
        self.probes += 1
        if self.hang:
            await asyncio.sleep(3600)
        if self.down:
            raise werr.WorkerUnavailable(f"worker {self.name} unreachable: ConnectError")
        return self.reason

    async def aclose(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder(NullObserver):
    """Keeps every per-replica report."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, str, str]] = []
        self.loads: list[tuple[str, str, int]] = []
        self.changes: list[tuple[str, str, bool]] = []

    def replica_finished(self, tier: str, replica: str, outcome: str) -> None:
        self.finished.append((tier, replica, outcome))

    def replica_load(self, tier: str, replica: str, in_flight: int) -> None:
        self.loads.append((tier, replica, in_flight))

    def replica_changed(self, tier: str, replica: str, up: bool) -> None:
        self.changes.append((tier, replica, up))


POLICY = BreakerPolicy(failure_threshold=2, cooldown_s=5.0)


def replica_set(*replicas: Replica, seed: int = 0, clock: Clock | None = None, **kwargs: Any) -> ReplicaSet:
    return ReplicaSet(
        "edge",
        {r.name: r for r in replicas},
        POLICY,
        clock=clock or Clock(),
        rng=random.Random(seed),
        **kwargs,
    )


# ----------------------------------------------------------------------------- balancing
async def settle() -> None:
    """Let the tasks started so far reach their replica."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_each_request_goes_to_the_replica_with_the_fewest_outstanding() -> None:
    a, b, c = (Replica(name, gate=asyncio.Event()) for name in "abc")
    replicas = replica_set(a, b, c)
    held = []
    for _ in range(6):  # six held requests over three idle replicas: two each, whatever the ties chose
        held.append(asyncio.create_task(replicas.generate(REQUEST, timeout=5)))
        await settle()
    assert (a.calls, b.calls, c.calls) == (2, 2, 2)
    for _ in range(3):
        held.append(asyncio.create_task(replicas.generate(REQUEST, timeout=5)))
        await settle()
    assert (a.calls, b.calls, c.calls) == (3, 3, 3)
    assert [d["in_flight"] for d in replicas.describe()] == [3, 3, 3]
    assert b.gate is not None
    b.gate.set()  # b's three finish: b is the least loaded until it holds as many as the others
    await settle()
    for _ in range(3):
        await replicas.generate(REQUEST, timeout=5)
    assert (a.calls, b.calls, c.calls) == (3, 6, 3)
    for replica in (a, c):
        assert replica.gate is not None
        replica.gate.set()
    await asyncio.gather(*held)
    assert [d["in_flight"] for d in replicas.describe()] == [0, 0, 0]


async def test_ties_are_broken_at_random_and_the_seed_repeats_them() -> None:
    async def choices(seed: int) -> list[str]:
        rs = replica_set(*(Replica(name) for name in "abc"), seed=seed)
        return [(await rs.generate(REQUEST, timeout=5)).model for _ in range(300)]

    first, again, other = await choices(1), await choices(1), await choices(2)
    assert first == again  # the same seed, the same choices
    assert first != other
    counts = Counter(first)
    assert set(counts) == {"a", "b", "c"} and min(counts.values()) > 60  # each idle replica gets its share


# ----------------------------------------------------------------------------- failures
async def test_a_retryable_failure_is_retried_on_another_replica_within_the_callers_timeout() -> None:
    for error in (
        werr.WorkerUnavailable("worker a unreachable"),
        werr.WorkerTimeout("no answer"),
        werr.WorkerOverloaded("queue full", retry_after=7.0),
        werr.WorkerError("talking to worker a failed: RemoteProtocolError", status=502),  # killed mid-request
    ):
        clock = Clock()
        a, b = Replica("a", fail=error), Replica("b")
        recorder = Recorder()
        rs = replica_set(a, b, clock=clock, observer=recorder, seed=3)
        answers = [(await rs.generate(REQUEST, timeout=4.0)).model for _ in range(4)]
        assert answers == ["b"] * 4, error  # no request lost
        assert 1 <= a.calls <= 2  # tried until its breaker took it out
        assert all(t is not None and 0 < t <= 4.0 for t in a.timeouts + b.timeouts)  # the caller's time, not more
        assert ("edge", "a", error.error_type) in recorder.finished
        assert ("edge", "b", "served") in recorder.finished
        assert rs.available() == ["b"] and ("edge", "a", False) in recorder.changes
        down = rs.describe()[0]
        assert down["up"] is False and down["state"] == "open" and type(error).__name__ in down["reason"]


async def test_the_retry_gets_only_the_time_left() -> None:
    slow = Replica("a", fail=werr.WorkerTimeout("no answer"), gate=asyncio.Event())
    fast = Replica("b")
    rs = replica_set(slow, fast, seed=0)
    rs._pick = _first_named(rs, "a")  # type: ignore[method-assign]  # a first, then b
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(rs.generate(REQUEST, timeout=2.0))
    await asyncio.sleep(0.3)
    assert slow.gate is not None
    slow.gate.set()  # a answers 504 after 0.3 s
    t0 = loop.time()
    assert (await task).model == "b"
    assert fast.timeouts[0] is not None and 0 < fast.timeouts[0] <= 1.71  # 2 s less a's 0.3 s at least
    assert loop.time() - t0 < 1.0


def _first_named(rs: ReplicaSet, name: str) -> Any:
    """A ``_pick`` that prefers the replica ``name`` while it is allowed, else the real choice."""
    real = rs._pick

    def pick(*, exclude: set[Any]) -> Any:
        for replica in rs.replicas:
            if replica.url == name and replica not in exclude:
                replica.breaker.acquire(0)
                return replica
        return real(exclude=exclude)

    return pick


async def test_a_replica_that_hangs_past_the_timeout_counts_as_timed_out_and_nothing_waits_longer() -> None:
    hung = Replica("a", gate=asyncio.Event())  # never opened
    rs = replica_set(hung, seed=0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(werr.WorkerTimeout):
        await rs.generate(REQUEST, timeout=0.2)
    assert loop.time() - t0 < 1.0
    assert rs.describe()[0]["consecutive_failures"] == 1 and rs.describe()[0]["in_flight"] == 0


async def test_a_bad_request_is_not_retried_and_does_not_mark_the_replica() -> None:
    a, b = Replica("a", fail=werr.WorkerBadRequest("steps too high", field="steps")), Replica("b")
    rs = replica_set(a, b)
    rs._pick = _first_named(rs, "a")  # type: ignore[method-assign]
    for _ in range(3):
        with pytest.raises(werr.WorkerBadRequest):
            await rs.generate(REQUEST, timeout=5)
    assert (a.calls, b.calls) == (3, 0)
    assert rs.available() == ["a", "b"] and rs.describe()[0]["consecutive_failures"] == 0


async def test_an_upstream_failure_goes_straight_up_but_counts_against_its_replica() -> None:
    a, b = Replica("a", fail=werr.WorkerUpstreamError("the provider refused our key")), Replica("b")
    rs = replica_set(a, b)
    rs._pick = _first_named(rs, "a")  # type: ignore[method-assign]
    with pytest.raises(werr.WorkerUpstreamError):
        await rs.generate(REQUEST, timeout=5)
    assert b.calls == 0 and rs.describe()[0]["consecutive_failures"] == 1


async def test_the_set_fails_only_when_every_replica_did_and_raises_the_last_error() -> None:
    a = Replica("a", fail=werr.WorkerTimeout("a: no answer"))
    b = Replica("b", fail=werr.WorkerOverloaded("b: queue full", retry_after=3.0))
    rs = replica_set(a, b, seed=1)
    rs._pick = _first_named(rs, "a")  # type: ignore[method-assign]
    with pytest.raises(werr.WorkerOverloaded, match="b: queue full"):
        await rs.generate(REQUEST, timeout=5)
    assert (a.calls, b.calls) == (1, 1)  # each tried once, not again


async def test_with_no_replica_available_the_set_is_unavailable_and_says_when_to_retry() -> None:
    clock = Clock()
    a, b = Replica("a", fail=werr.WorkerUnavailable("a down")), Replica("b", fail=werr.WorkerUnavailable("b down"))
    rs = replica_set(a, b, clock=clock)
    with pytest.raises(werr.WorkerUnavailable):
        await rs.generate(REQUEST, timeout=5)  # both fail: both out at once (503)
    with pytest.raises(werr.WorkerUnavailable, match="no replica of tier edge is available") as caught:
        await rs.generate(REQUEST, timeout=5)
    assert (a.calls, b.calls) == (1, 1)  # not called while out
    assert caught.value.retry_after == pytest.approx(5.0)
    # after the cooldown each may take one trial request: a is fixed and returns
    a.fail = None
    clock.now += 5.0
    rs._pick = _first_named(rs, "a")  # type: ignore[method-assign]
    assert (await rs.generate(REQUEST, timeout=5)).model == "a"
    assert rs.available() == ["a", "b"]  # b half-open: it may take a trial


async def test_each_replica_has_its_own_breaker() -> None:
    clock = Clock()
    a, b = Replica("a", fail=werr.WorkerTimeout("slow")), Replica("b")
    rs = replica_set(a, b, clock=clock)
    rs._pick = _first_named(rs, "a")  # type: ignore[method-assign]
    await rs.generate(REQUEST, timeout=5)  # a fails once (threshold 2), b serves
    assert rs.available() == ["a", "b"]
    await rs.generate(REQUEST, timeout=5)  # a's second failure in a row opens its circuit only
    assert rs.available() == ["b"]
    states = {d["url"]: d["state"] for d in rs.describe()}
    assert states == {"a": "open", "b": "closed"}


# ----------------------------------------------------------------------------- readiness
async def test_ready_probes_every_replica_and_is_true_while_any_is_up() -> None:
    recorder = Recorder()
    a, b = Replica("a", down=True), Replica("b", reason="the model is still loading")
    c = Replica("c")
    rs = replica_set(a, b, c, observer=recorder)
    assert await rs.ready() is True and (a.probes, b.probes, c.probes) == (1, 1, 1)
    assert await rs.why_not_ready() is None
    assert rs.available() == ["c"]
    assert ("edge", "a", False) in recorder.changes and ("edge", "b", False) in recorder.changes
    c.down = True
    reason = await rs.why_not_ready()
    assert reason is not None and "no replica of tier edge is up" in reason
    assert "a: " in reason and "unreachable" in reason and "still loading" in reason and "c: " in reason
    assert await rs.ready() is False
    # a comes back at its next check, without any request risking it
    a.down = False
    assert await rs.why_not_ready() is None and rs.available() == ["a"]
    assert recorder.changes[-1] == ("edge", "a", True)


async def test_a_hung_replica_probe_is_cut_off_without_hiding_the_others() -> None:
    rs = replica_set(Replica("a", hang=True), Replica("b"), probe_timeout_s=0.1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await rs.why_not_ready() is None
    assert loop.time() - t0 < 1.0
    assert rs.describe()[0]["reason"] is None  # one slow check counts toward the threshold only
    await rs.why_not_ready()
    assert rs.available() == ["b"] and "no answer within 0.1 s" in rs.describe()[0]["reason"]


async def test_the_tier_is_down_only_when_all_its_replicas_are() -> None:
    """The tier's health (TierHealth, as the dispatcher runs it) over a replica set."""
    a, b = Replica("a"), Replica("b")
    rs = replica_set(a, b)
    health = TierHealth({"edge": rs}, POLICY, timeout_s=1.0)
    a.down = True
    await health.check_once()
    assert health.closed("edge")
    b.down = True
    await health.check_once()
    assert not health.available("edge")
    reason = health.reason("edge")
    assert reason is not None and "no replica of tier edge is up" in reason
    b.down = False
    await health.check_once()
    assert health.closed("edge")


async def test_aclose_closes_every_replica() -> None:
    a, b = Replica("a"), Replica("b")
    await replica_set(a, b).aclose()
    assert a.closed and b.closed


# ----------------------------------------------------------------------------- metrics
async def test_the_metrics_count_each_replica() -> None:
    metrics = GatewayMetrics()
    a, b = Replica("http://a:1", fail=werr.WorkerUnavailable("down")), Replica("http://b:2")
    rs = replica_set(a, b, observer=metrics)
    text = metrics.render().decode()
    assert 'routet2i_gateway_replica_up{replica="http://a:1",tier="edge"} 1.0' in text  # from the start
    assert 'routet2i_gateway_replica_requests_total{outcome="served",replica="http://b:2",tier="edge"} 0.0' in text
    for _ in range(3):
        await rs.generate(REQUEST, timeout=5)
    text = metrics.render().decode()
    assert 'routet2i_gateway_replica_requests_total{outcome="served",replica="http://b:2",tier="edge"} 3.0' in text
    assert 'routet2i_gateway_replica_requests_total{outcome="unavailable",replica="http://a:1",tier="edge"} 1.0' in text
    assert 'routet2i_gateway_replica_up{replica="http://a:1",tier="edge"} 0.0' in text
    assert 'routet2i_gateway_replica_in_flight{replica="http://b:2",tier="edge"} 0.0' in text
    gate = asyncio.Event()
    b.gate = gate
    task = asyncio.create_task(rs.generate(REQUEST, timeout=5))
    await asyncio.sleep(0)
    assert 'routet2i_gateway_replica_in_flight{replica="http://b:2",tier="edge"} 1.0' in metrics.render().decode()
    gate.set()
    await task


# ----------------------------------------------------------------------------- settings, assembly
def test_a_tier_takes_a_list_of_urls_or_one_url() -> None:
    many = TierOptions.model_validate({"urls": ["http://a:1/", "https://b:2"]})
    assert many.replica_urls == ["http://a:1", "https://b:2"] and many.url == "http://a:1"
    assert TierOptions.model_validate({"url": "http://a:1"}).replica_urls == ["http://a:1"]
    assert TierOptions().replica_urls == ["http://127.0.0.1:8001"]
    assert TierOptions.model_validate({"url": None, "urls": ["http://a:1"]}).replica_urls == ["http://a:1"]


@pytest.mark.parametrize(
    ("tier", "message"),
    [
        ({"url": "http://a:1", "urls": ["http://b:2"]}, "give url or urls, not both"),
        ({"urls": []}, "at least one URL"),
        ({"urls": ["http://a:1", "b:2"]}, r"urls\[1\] 'b:2' must start with http"),
        ({"urls": ["http://a:1", "http://a:1/"]}, "more than once"),
    ],
)
def test_bad_urls_name_the_fields(tier: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        GatewaySettings.load(None, tiers={"edge": {**tier, "model": "e"}, "cloud": {"model": "c"}})
    assert "tiers.edge" in str(caught.value)


def test_the_environment_sets_a_tiers_replicas_over_the_shipped_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTET2I_GATEWAY_TIERS__EDGE__URLS", '["http://a:1","http://b:2"]')
    settings = GatewaySettings.load()  # the shipped file names a url for the edge: the environment wins
    assert settings.tiers.edge.replica_urls == ["http://a:1", "http://b:2"]
    assert settings.tiers.cloud.replica_urls == ["http://127.0.0.1:8002"]
    monkeypatch.setenv("ROUTET2I_GATEWAY_TIERS__EDGE__URLS", "http://a:1")
    with pytest.raises(ConfigError, match="ROUTET2I_GATEWAY_TIERS__EDGE__URLS"):
        GatewaySettings.load()


async def test_the_assembly_builds_a_replica_set_only_for_several_urls() -> None:
    settings = GatewaySettings.load(
        None,
        tiers={
            "edge": {"urls": ["http://a:1", "http://b:2"], "model": "e", "api_key": "wk-1"},
            "cloud": {"url": "http://c:3", "model": "c"},
        },
    )
    workers = http_workers(settings)
    edge, cloud = workers["edge"], workers["cloud"]
    # one URL: the plain client, exactly as before replicas existed
    assert isinstance(cloud, WorkerClient) and cloud.base_url == "http://c:3"
    assert isinstance(edge, ReplicaSet) and edge.urls == ["http://a:1", "http://b:2"]
    clients = [r.worker for r in edge.replicas]
    assert all(isinstance(c, WorkerClient) for c in clients)
    assert [c._http.headers["Authorization"] for c in clients] == ["Bearer wk-1"] * 2  # type: ignore[attr-defined]
    assert edge.probe_timeout_s < settings.health.timeout_s
    metrics = GatewayMetrics(settings.tiers.names)
    edge.bind(metrics)  # what the dispatcher does with each replica set it is given
    assert 'routet2i_gateway_replica_up{replica="http://b:2",tier="edge"} 1.0' in metrics.render().decode()
    for worker in workers.values():
        await worker.aclose()
