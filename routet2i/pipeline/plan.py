"""What a generate-pairs run makes: one item per (tier, prompt, seed), and where its image goes.

Both tiers get the same seeds for a prompt (``seed_base + k`` for k = 0..K-1), so every prompt
has K paired samples. An item is identified by its :data:`ItemKey` (tier, dataset, prompt id,
seed); that key is what the manifest records and what a resumed run skips. Image paths are
relative to the output folder: ``images/<tier>/<dataset>/<prompt_id>-<seed>.png``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from routet2i.errors import ConfigError
from routet2i.prompts import PromptRecord
from routet2i.types import DEFAULT_TIERS

#: The pair a generation run makes images on (the gateway's default tiers, cheapest first).
TIERS: tuple[str, ...] = DEFAULT_TIERS

#: Seeds are unsigned 32-bit integers (the worker's range).
SEED_MODULUS = 2**32

#: (tier, dataset, prompt_id, seed)
ItemKey = tuple[str, str, str, int]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """``text`` as one visible path component: runs of other characters than ``A-Za-z0-9._-``
    become ``_``, leading dots and underscores go; never empty."""
    name = re.sub(r"^[._]+", "", _UNSAFE.sub("_", text)).rstrip("_")
    return name or "_"


@dataclass(frozen=True)
class WorkItem:
    """One image to make: a prompt on one tier with one seed."""

    tier: str
    record: PromptRecord
    seed: int

    @property
    def key(self) -> ItemKey:
        return (self.tier, self.record.dataset, self.record.prompt_id, self.seed)

    @property
    def image_path(self) -> PurePosixPath:
        """Relative to the output folder."""
        r = self.record
        return PurePosixPath("images", self.tier, safe_name(r.dataset), f"{safe_name(r.prompt_id)}-{self.seed}.png")


def seeds_for(count: int, base: int = 0) -> list[int]:
    """The ``count`` seeds every prompt gets: ``(base + k) mod 2**32``."""
    if count < 1:
        raise ConfigError(f"--seeds must be >= 1, got {count}")
    if base < 0:
        raise ConfigError(f"--seed-base must be >= 0, got {base}")
    return [(base + k) % SEED_MODULUS for k in range(count)]


def plan_items(
    records: list[PromptRecord], seeds: list[int], tiers: tuple[str, ...] = TIERS
) -> dict[str, list[WorkItem]]:
    """Items per tier, prompt by prompt, seed by seed (so pairs complete in step). Two prompt ids
    whose file names would collide (``a/b`` and ``a_b``) are a :class:`ConfigError`."""
    plan = {tier: [WorkItem(tier, r, s) for r in records for s in seeds] for tier in tiers}
    owners: dict[PurePosixPath, ItemKey] = {}
    for items in plan.values():
        for item in items:
            other = owners.setdefault(item.image_path, item.key)
            if other != item.key:
                raise ConfigError(
                    f"prompt ids {other[2]!r} and {item.key[2]!r} map to the same file {item.image_path}; "
                    "give them ids that differ in letters, digits, '.', '_' or '-'"
                )
    return plan
