"""The generation run: every planned item not yet in the manifest, on both tiers at once.

Each tier has its own pool of ``concurrency[tier]`` request loops (the worker batches concurrent
requests, so a pool a little larger than its ``max_batch_images`` keeps it busy). One item is one
``n=1`` request with the item's seed; its PNG is checked (decodes, is a PNG), written atomically,
then recorded in the manifest (:mod:`routet2i.pipeline.store`).

Failures are per item: each failed attempt is a line of errors.jsonl; an item is retried up to
``retries`` more times with exponential backoff (a 429's Retry-After is honoured), except after a
4xx that a retry cannot fix (the worker refused the parameters). An item that fails every attempt
is left out (the next run retries it). A tier whose ``max_consecutive_failures`` items in a row
failed for good stops taking items (a dead worker must not burn the whole plan); the other tier
goes on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from routet2i.errors import DataError
from routet2i.pipeline.manifest import ManifestEntry
from routet2i.pipeline.plan import WorkItem
from routet2i.pipeline.store import RunStore
from routet2i.pipeline.tiers import TierEndpoint
from routet2i.workers.errors import WorkerBadRequest, WorkerError, WorkerOverloaded
from routet2i.workers.schemas import GenerateRequest, GenerateResponse

log = logging.getLogger(__name__)


class InvalidImage(DataError):
    """A worker answered 200 with something that is not one decodable PNG."""


@dataclass(frozen=True)
class RunOptions:
    """How hard to try. ``timeout_s``: seconds per request; ``retries``: extra attempts per item;
    ``backoff_s``: first wait between attempts (doubling); ``concurrency``: requests in flight
    per tier; ``params``: request fields per tier (the worker's defaults otherwise)."""

    concurrency: Mapping[str, int]
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    timeout_s: float = 600.0
    retries: int = 2
    backoff_s: float = 1.0
    max_consecutive_failures: int = 20
    progress: bool = True


@dataclass
class TierSummary:
    planned: int = 0
    already_done: int = 0
    made: int = 0
    failed: int = 0
    attempts_failed: int = 0
    stopped: str | None = None
    #: Wall-clock seconds from the start of the run to this tier's last item.
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.made / self.seconds if self.seconds > 0 else 0.0


@dataclass
class RunSummary:
    tiers: dict[str, TierSummary]
    seconds: float

    @property
    def complete(self) -> bool:
        return all(t.failed == 0 and t.stopped is None for t in self.tiers.values())


def decode_png(image_b64: str) -> bytes:
    """The PNG bytes of a worker image, checked to decode; else :class:`InvalidImage`."""
    from PIL import Image

    try:
        png = base64.b64decode(image_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImage(f"the image is not valid base64 ({exc})") from None
    try:
        with Image.open(io.BytesIO(png)) as im:
            fmt = im.format
            im.verify()
    except Exception as exc:  # PIL raises many types for broken data
        raise InvalidImage(f"the image does not decode ({type(exc).__name__}: {exc})") from None
    if fmt != "PNG":
        raise InvalidImage(f"expected a PNG, got {fmt}")
    return png


class GenerationRun:
    """One pass over the plan. Build it, then ``await run()``."""

    def __init__(
        self,
        store: RunStore,
        plan: Mapping[str, list[WorkItem]],
        endpoints: Mapping[str, TierEndpoint],
        options: RunOptions,
    ) -> None:
        self.store = store
        self.plan = plan
        self.endpoints = endpoints
        self.options = options
        self.summary = RunSummary({tier: TierSummary(planned=len(items)) for tier, items in plan.items()}, 0.0)
        self._started = time.perf_counter()

    async def run(self) -> RunSummary:
        from tqdm import tqdm

        self._started = started = time.perf_counter()
        bars: dict[str, Any] = {}
        tasks: list[asyncio.Task[None]] = []
        try:
            for position, (tier, items) in enumerate(self.plan.items()):
                todo = [item for item in items if item.key not in self.store.done]
                summary = self.summary.tiers[tier]
                summary.already_done = len(items) - len(todo)
                bars[tier] = tqdm(
                    total=len(items),
                    initial=summary.already_done,
                    desc=f"{tier} ({self.endpoints[tier].model})",
                    unit="img",
                    position=position,
                    dynamic_ncols=True,
                    disable=not self.options.progress,
                    smoothing=0.1,
                )
                source = iter(todo)
                state = _TierState()
                width = max(1, min(self.options.concurrency.get(tier, 1), len(todo)))
                tasks += [
                    asyncio.create_task(self._loop(tier, source, state, bars[tier]), name=f"generate-{tier}-{i}")
                    for i in range(width)
                ]
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for bar in bars.values():
                bar.close()
            self.summary.seconds = time.perf_counter() - started
        return self.summary

    async def _loop(self, tier: str, items: Iterator[WorkItem], state: _TierState, bar: Any) -> None:
        summary = self.summary.tiers[tier]
        for item in items:
            if summary.stopped is not None:
                return
            error = await self._make(item)
            summary.seconds = time.perf_counter() - self._started
            if error is None:
                summary.made += 1
                state.consecutive_failures = 0
                bar.update(1)
            else:
                summary.failed += 1
                state.consecutive_failures += 1
                state.last_error = error
                bar.set_postfix(failed=summary.failed, refresh=False)
                limit = self.options.max_consecutive_failures
                if limit and state.consecutive_failures >= limit and summary.stopped is None:
                    summary.stopped = f"{limit} items in a row failed (last: {state.last_error})"
                    log.error("%s tier stopped: %s", tier, summary.stopped)

    async def _make(self, item: WorkItem) -> str | None:
        """Make ``item`` (with retries): None once its image and manifest line are in place, else
        the last error."""
        endpoint = self.endpoints[item.tier]
        attempts = 1 + max(0, self.options.retries)
        delay = self.options.backoff_s
        for attempt in range(1, attempts + 1):
            began = time.perf_counter()
            try:
                response = await endpoint.client.generate(self._request(item, endpoint), timeout=self.options.timeout_s)
                request_ms = (time.perf_counter() - began) * 1000.0
                png = self._check(item, endpoint, response)
                await asyncio.to_thread(self.store.write_image, item.image_path, png)
                self.store.append(item.key, self._entry(item, endpoint, response, request_ms, attempt))
                return None
            except (WorkerError, InvalidImage) as exc:
                retryable = not isinstance(exc, WorkerBadRequest)
                final = attempt == attempts or not retryable
                self.store.record_error(
                    item.key, attempt=attempt, error=exc, final=final, model=endpoint.model, prompt=item.record.prompt
                )
                self.summary.tiers[item.tier].attempts_failed += 1
                log.debug("%s %s seed %d attempt %d: %s", item.tier, item.record.prompt_id, item.seed, attempt, exc)
                if final:
                    return f"{type(exc).__name__}: {exc}"
                wait = delay
                if isinstance(exc, WorkerOverloaded) and exc.retry_after is not None:
                    wait = max(wait, float(exc.retry_after))
                await asyncio.sleep(wait)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns

    def _request(self, item: WorkItem, endpoint: TierEndpoint) -> GenerateRequest:
        fields: dict[str, Any] = dict(self.options.params.get(item.tier, {}))
        if endpoint.seeded:
            fields["seed"] = item.seed
        return GenerateRequest(prompt=item.record.prompt, n=1, **fields)

    @staticmethod
    def _check(item: WorkItem, endpoint: TierEndpoint, response: GenerateResponse) -> bytes:
        if len(response.images) != 1:
            raise InvalidImage(f"asked for 1 image, got {len(response.images)}")
        image = response.images[0]
        if endpoint.seeded and image.seed != item.seed:
            raise InvalidImage(f"asked for seed {item.seed}, the worker reports seed {image.seed}")
        return decode_png(image.b64_png)

    def _entry(
        self, item: WorkItem, endpoint: TierEndpoint, response: GenerateResponse, request_ms: float, attempt: int
    ) -> ManifestEntry:
        r = item.record
        extra: dict[str, Any] = {
            "parameters": response.parameters.model_dump(),
            "timings": {
                **{k: round(v, 3) for k, v in response.timings.model_dump().items()},
                "request_ms": round(request_ms, 3),
            },
            "attempts": attempt,
            "worker": endpoint.source,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if not endpoint.seeded:
            extra["worker_seed"] = None  # the backend has no seeds: ``seed`` only labels the sample
        if r.fields:
            extra["prompt_fields"] = r.fields
        return ManifestEntry(
            image=self.store.image_file(item.image_path),
            prompt=r.prompt,
            model=response.model,
            dataset=r.dataset,
            prompt_id=r.prompt_id,
            seed=item.seed,
            extra=extra,
        )


@dataclass
class _TierState:
    consecutive_failures: int = 0
    last_error: str = ""
