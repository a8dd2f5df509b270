"""Prompt identities: the one place that turns a prompt's text into an id, a key or a hash position.

A low-level module (it imports only the standard library) so that the pipeline, the prompt reader,
the quality scorer, the predictor and the evaluation harness all take prompt identities from here.

Two notions of "the same prompt", on purpose:

- **exact text** — :func:`prompt_sha1`, the SHA-1 of the prompt's UTF-8 text. Its two projections
  are :func:`default_prompt_id` (the ``prompt_id`` a prompt without one gets in prompt files,
  manifests, ratings tables and image file names) and :func:`split_fraction` (the predictor's
  train / validation / calibration split).
- **normalised text** — :func:`prompt_key` (lower-cased, whitespace collapsed), the identity of a
  prompt *across datasets* for the evaluation harness's leakage checks, and :func:`prompt_fold`,
  its k-fold assignment (SHA-256 of the key).

Every value here is stored on disk or decides a split, so none of them may change: see each
function for what would break.
"""

from __future__ import annotations

import hashlib
import re


def prompt_sha1(prompt: str) -> bytes:
    """The SHA-1 digest of ``prompt``'s exact UTF-8 text (no normalisation): the one hash behind
    :func:`default_prompt_id` and :func:`split_fraction`."""
    return hashlib.sha1(prompt.encode("utf-8")).digest()


def default_prompt_id(prompt: str) -> str:
    """A stable id for a prompt without one: the first 12 hex digits of SHA-1 of its UTF-8 text.

    Part of stored formats: the ``prompt_id`` of prompt records, manifest lines and ratings rows,
    the pipeline's resume keys and image paths (``images/<tier>/<dataset>/<prompt_id>-<seed>.png``).
    It hashes the exact text (not :func:`prompt_key`) so that ids already written stay valid;
    changing it would orphan the images of earlier runs and stop ratings rows from joining on id.
    """
    return prompt_sha1(prompt).hex()[:12]


def split_fraction(prompt: str) -> float:
    """u ∈ [0, 1): the prompt's position in the predictor's split order (the first 8 bytes of SHA-1
    of its exact UTF-8 text, read as a fraction of 2⁶⁴; see :mod:`routet2i.predictor.dataset`).

    It decides which prompts a checkpoint trained, early-stopped and calibrated on. It deliberately
    stays on the exact text (not :func:`prompt_key`) and on SHA-1: any other hash or key would move
    prompts between train, validation and calibration, so retraining from the same ratings table
    would give different checkpoints and the calibration split of existing checkpoints would no
    longer be held out.
    """
    return int.from_bytes(prompt_sha1(prompt)[:8], "big") / 2.0**64


def prompt_key(prompt: str) -> str:
    """The identity of a prompt across datasets: lower-cased, whitespace collapsed.

    Not an id (it is the text itself): the evaluation harness compares keys to keep a test prompt
    out of training when it recurs, differently spelled, in another dataset or pair.
    """
    return re.sub(r"\s+", " ", prompt.strip().lower())


def prompt_fold(prompt: str, folds: int) -> int:
    """The k-fold cross-validation fold of ``prompt`` among ``folds`` (SHA-256 of
    :func:`prompt_key`, first 8 bytes big-endian, mod ``folds``; see
    :mod:`routet2i.evaluation.protocols`).

    It deliberately differs from :func:`split_fraction`: it hashes the normalised key, so every
    spelling of a prompt lands in the one fold whose held-out keys contain it (an exact-text hash
    could put "A cat" in training and "a cat" in test); and it stays on SHA-256 because changing the
    hash would reassign every prompt's fold and make earlier evaluation reports irreproducible.
    """
    digest = hashlib.sha256(prompt_key(prompt).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % folds
