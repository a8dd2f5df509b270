"""generate-pairs as a library call: open the folder and both tiers, check the run matches what
the folder already holds, and make the missing images.

``run.json`` pins each tier's model and generation parameters the first time; a later run into
the same folder with another model or other parameters is refused (its images would not be
comparable with those already made). More prompts or more seeds are fine: they extend the run.
"""

from __future__ import annotations

import json
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routet2i import __version__
from routet2i.errors import ConfigError
from routet2i.pipeline.plan import TIERS, plan_items
from routet2i.pipeline.run import GenerationRun, RunOptions, RunSummary, TierSummary
from routet2i.pipeline.store import PROMPTS, RunStore, atomic_write_bytes
from routet2i.pipeline.tiers import TierEndpoint, open_tier
from routet2i.prompts import PromptRecord


@dataclass(frozen=True)
class PairsJob:
    """Everything a run needs. ``sources``: tier → worker URL or worker config path;
    ``prompt_source``: how the prompts were read (recorded in run.json)."""

    prompts: list[PromptRecord]
    sources: dict[str, str]
    seeds: list[int]
    out: Path
    options: RunOptions
    ready_timeout_s: float = 900.0
    prompt_source: dict[str, Any] = field(default_factory=dict)


@dataclass
class PairsResult:
    summary: RunSummary
    models: dict[str, str]
    manifest: Path
    datasets: list[str]
    repairs: dict[str, int]


async def generate_pairs(job: PairsJob) -> PairsResult:
    """Make every image of ``job`` not yet in ``job.out``'s manifest (see the module docstring)."""
    plan = plan_items(job.prompts, job.seeds, TIERS)
    with RunStore(job.out) as store:
        previous = store.read_run_info()
        if previous is not None and all(item.key in store.done for items in plan.values() for item in items):
            # Nothing to make: no need to load models or wait for workers.
            summary = RunSummary(
                {tier: TierSummary(planned=len(items), already_done=len(items)) for tier, items in plan.items()}, 0.0
            )
            tiers = previous.get("tiers") or {}
            models = {tier: str((tiers.get(tier) or {}).get("model", "?")) for tier in TIERS}
            _write_prompts(store, job.prompts)
            return PairsResult(summary, models, store.manifest_path, _datasets(job), dict(store.repairs))
        async with AsyncExitStack() as stack:
            endpoints: dict[str, TierEndpoint] = {}
            for tier in TIERS:
                endpoints[tier] = await stack.enter_async_context(
                    open_tier(
                        tier, job.sources[tier], timeout_s=job.options.timeout_s, ready_timeout_s=job.ready_timeout_s
                    )
                )
            _check_and_record(store, job, endpoints)
            _write_prompts(store, job.prompts)
            summary = await GenerationRun(store, plan, endpoints, job.options).run()
        return PairsResult(
            summary=summary,
            models={tier: endpoints[tier].model for tier in TIERS},
            manifest=store.manifest_path,
            datasets=_datasets(job),
            repairs=dict(store.repairs),
        )


def _datasets(job: PairsJob) -> list[str]:
    return sorted({r.dataset for r in job.prompts})


def _write_prompts(store: RunStore, records: list[PromptRecord]) -> None:
    """The run's prompts as JSONL (``prompt``, ``prompt_id``, ``dataset``): an input for
    ``routet2i route --input`` and ``routet2i calibrate --prompts``."""
    lines = (
        json.dumps({"prompt": r.prompt, "prompt_id": r.prompt_id, "dataset": r.dataset}, ensure_ascii=False) + "\n"
        for r in records
    )
    atomic_write_bytes(store.root / PROMPTS, "".join(lines).encode("utf-8"))


def _check_and_record(store: RunStore, job: PairsJob, endpoints: dict[str, TierEndpoint]) -> None:
    edge, cloud = endpoints["edge"].model, endpoints["cloud"].model
    if edge == cloud:
        raise ConfigError(
            f"the edge and the cloud worker both call their model {edge!r}; the ratings could not tell them apart "
            "(set `name:` in a worker config)"
        )
    tiers = {
        tier: {
            "model": ep.model,
            "backend": ep.info.backend,
            "seeded": ep.seeded,
            "parameters": ep.effective_parameters(dict(job.options.params.get(tier, {}))),
            "source": ep.source,
        }
        for tier, ep in endpoints.items()
    }
    previous = store.read_run_info()
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if previous is not None:
        problems = []
        for tier, now_tier in tiers.items():
            before = (previous.get("tiers") or {}).get(tier) or {}
            for key in ("model", "parameters"):
                if key in before and before[key] != now_tier[key]:
                    problems.append(f"{tier} {key}: {before[key]!r} before, {now_tier[key]!r} now")
        if problems:
            raise ConfigError(
                f"{store.root} holds a run made differently ({'; '.join(problems)}); "
                "resume with the same workers and parameters, or write to a new --out folder"
            )
    info: dict[str, Any] = {
        "routet2i": __version__,
        "created": (previous or {}).get("created", now),
        "updated": now,
        "tiers": tiers,
        "prompts": job.prompt_source,
        "datasets": sorted({r.dataset for r in job.prompts}),
        "seeds": job.seeds,
        "planned_prompts": len(job.prompts),
    }
    store.write_run_info(info)
