"""Prompt-feature cues for the predictor's optional linear feature path.

Each cue is a count from :func:`routet2i.predictor.cues.features` (objects, counts, spatial words,
attributes, text to render, people, …), fed to the model as log(1 + count): the first object or
count word matters more than the fifth, and the input stays in [0, ~4] for real prompts, so no
statistics need to be stored with the checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from routet2i.predictor.cues import FEATURE_NAMES, feature_matrix

if TYPE_CHECKING:
    import torch


def cue_problem(names: Sequence[str]) -> str | None:
    """Why ``names`` is not a valid cue list (unknown or repeated names), or None."""
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown or len(set(names)) != len(names):
        return f"prompt_features must be distinct names among {list(FEATURE_NAMES)}, got {list(names)}"
    return None


def prompt_feature_array(prompts: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """(P, len(names)) float32 array of log(1 + count) for the cues ``names`` of each prompt."""
    return np.log1p(feature_matrix(prompts, names)).astype(np.float32)


def prompt_feature_tensor(prompts: Sequence[str], names: Sequence[str]) -> torch.Tensor:
    """:func:`prompt_feature_array` as a torch tensor (shares its memory)."""
    import torch

    return torch.from_numpy(prompt_feature_array(prompts, names))
