"""Evaluation protocols: which prompts a router is trained on and which it is scored on.

- ``kfold``: k-fold cross-validation *by prompt*. A prompt's fold
  (:func:`~routet2i.prompt_ids.prompt_fold`) is its SHA-256 hash of the whitespace-normalised,
  lower-cased text (:func:`~routet2i.prompt_ids.prompt_key`) modulo k, so it is deterministic,
  the same on every machine and in every pair, and a prompt that appears in two datasets (or
  twice) is in one fold.
  Fold f is scored by a router trained on every training row whose prompt is not in fold f.
- ``lodo``: leave one dataset out. The pair under test (in dataset D) is scored by a router trained
  on the training pairs of every *other* dataset; rows whose prompt also occurs in D are dropped
  from training as well.
- ``none``: no training split. Only for routers that do not learn from ratings (baselines) or for a
  frozen checkpoint whose training prompts are disjoint from the test prompts (checked by the
  harness where the checkpoint records them).

A :class:`Split` names, for one scoring group, the test rows of the evaluated pair and the prompt
keys a router may not train on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from routet2i.errors import DataError
from routet2i.prompt_ids import prompt_fold, prompt_key

PROTOCOLS = ("kfold", "lodo", "none")


@dataclass(frozen=True)
class Split:
    """One scoring group: ``test_index`` rows of the evaluated pair, and what training must avoid.

    ``held_out``: prompt keys (:func:`~routet2i.prompt_ids.prompt_key`) that no training row may have.
    ``exclude_dataset``: a dataset no training row may come from (``lodo``), else None.
    """

    name: str
    test_index: np.ndarray
    held_out: frozenset[str]
    exclude_dataset: str | None = None


def kfold_splits(prompts: Sequence[str], folds: int) -> list[Split]:
    """One split per non-empty fold of ``prompts`` (see the module)."""
    if folds < 2:
        raise DataError(f"k-fold needs at least 2 folds, got {folds}")
    assignment = np.asarray([prompt_fold(p, folds) for p in prompts], dtype=np.int64)
    splits = []
    for f in range(folds):
        idx = np.flatnonzero(assignment == f)
        if idx.size:
            splits.append(Split(f"fold{f}", idx, frozenset(prompt_key(prompts[int(i)]) for i in idx)))
    return splits


def lodo_split(prompts: Sequence[str], datasets: Sequence[str]) -> list[Split]:
    """One split holding out the evaluated pair's dataset (a pair lies in one dataset)."""
    names = sorted(set(datasets))
    if len(names) != 1:
        raise DataError(f"leave-one-dataset-out evaluates a pair within one dataset; this one spans {names}")
    idx = np.arange(len(prompts))
    return [Split(f"without-{names[0]}", idx, frozenset(prompt_key(p) for p in prompts), names[0])]


def no_split(prompts: Sequence[str]) -> list[Split]:
    """Everything is test; training must still avoid the test prompts."""
    return [Split("all", np.arange(len(prompts)), frozenset(prompt_key(p) for p in prompts))]


def make_splits(protocol: str, prompts: Sequence[str], datasets: Sequence[str], folds: int) -> list[Split]:
    if protocol == "kfold":
        return kfold_splits(prompts, folds)
    if protocol == "lodo":
        return lodo_split(prompts, datasets)
    if protocol == "none":
        return no_split(prompts)
    raise DataError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
