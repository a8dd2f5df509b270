"""Prompt-feature cues for the predictor's optional linear feature path.

Each cue is a count from :func:`routet2i.complexity.features` (objects, counts, spatial words,
attributes, text to render, people, …), fed to the model as log(1 + count): the first object or
count word matters more than the fifth, and the input stays in [0, ~4] for real prompts, so no
statistics need to be stored with the checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from routet2i.complexity import features


def prompt_feature_tensor(prompts: Sequence[str], names: Sequence[str]) -> torch.Tensor:
    """(P, len(names)) float32 tensor of log(1 + count) for the cues ``names`` of each prompt."""
    rows = [features(p) for p in prompts]
    values = np.asarray([[r[n] for n in names] for r in rows], dtype=np.float64).reshape(len(rows), len(names))
    return torch.from_numpy(np.log1p(values).astype(np.float32))
