"""A tiny router checkpoint built through the product's own code (untrained, calibrated).

A tiny BERT encoder (:mod:`routet2i.testing.text_encoders`) and an untrained
:class:`~routet2i.predictor.model.KeyTokenPredictor` are saved with
:func:`~routet2i.predictor.checkpoint.save_checkpoint`; the PRŜ of reference prompts, predicted
by the product's :class:`~routet2i.predictor.inference.CheckpointPredictor`, calibrate it
(:func:`~routet2i.predictor.calibration.calibrate`). The heads are rescaled so PRŜ spreads on both
sides of 0.5 (an untrained predictor otherwise answers about the same for every prompt).
"""

from __future__ import annotations

from pathlib import Path

from routet2i.testing.text_encoders import save_tiny_bert

METRICS = ["definition", "detail"]

REFERENCE_PROMPTS = [
    "a red fox in the snow",
    "an astronaut riding a horse on the moon",
    "a bowl of fruit, oil painting",
    "a city skyline at night with neon signs",
    "the word hello written on a wooden sign",
    "two cats playing chess in a library",
    "a minimalist logo of a mountain",
    "a watercolor of a lighthouse on a cliff during a storm",
    "a plate of sushi on a black table",
    "a portrait of an old man with a beard, studio lighting",
    "a blue car parked next to a yellow house",
    "a dragon made of glass flying over a desert",
    "three apples and one banana on a kitchen counter",
    "a cozy cabin in the woods, autumn",
    "a robot reading a newspaper in a cafe",
    "an isometric illustration of a tiny island",
]


def save_tiny_router(path: Path, encoder_dir: Path | None = None, *, seed: int = 0) -> Path:
    """Write the tiny checkpoint into ``path`` (and its encoder into ``encoder_dir``)."""
    import torch

    from routet2i.predictor.architecture import PredictorConfig
    from routet2i.predictor.calibration import calibrate, prompts_id
    from routet2i.predictor.checkpoint import CheckpointMeta, save_checkpoint, write_meta
    from routet2i.predictor.inference import CheckpointPredictor
    from routet2i.predictor.model import KeyTokenPredictor
    from routet2i.predictor.settings import ArchitectureSettings

    encoder = save_tiny_bert(encoder_dir or path.parent / f"{path.name}-encoder", seed=seed)
    torch.manual_seed(seed)
    # The training settings' architecture block (its defaults for anything not set here). The
    # linear paths are off: the head rescaling below assumes the logit is z·w + b (the router's
    # own tests cover the paths through a trained checkpoint).
    arch = ArchitectureSettings(
        top_k=4, rank=4, hidden=8, head_hidden=0, dropout=0.0, prompt_features=[], sentence_path=False
    )
    config = PredictorConfig(d_model=32, n_metrics=len(METRICS), **arch.model_dump())
    model = KeyTokenPredictor(config)
    meta = CheckpointMeta(
        architecture=config,
        encoder=f"hf:{encoder}",
        metrics=list(METRICS),
        metric_weights=[0.5, 0.5],
        gamma=1.0,
        mu_gaps={"tiny": dict.fromkeys(METRICS, 0.1)},
        training={"data_id": "untrained (tests)", "seed": seed},
    )
    save_checkpoint(path, model, meta)
    # Rescale the heads so each D̂ has logit mean 0 and sd 1.5 on the reference prompts.
    _, d_hat = CheckpointPredictor(path).scores(REFERENCE_PROMPTS)
    assert d_hat is not None
    logits = torch.logit(torch.as_tensor(d_hat, dtype=torch.float64))
    scale = (1.5 / logits.std(dim=0)).float()
    with torch.no_grad():
        model.head_w.mul_(scale.unsqueeze(1))
        model.head_b.copy_(-logits.mean(dim=0).float() * scale)
    save_checkpoint(path, model, meta)
    prs, _ = CheckpointPredictor(path).scores(REFERENCE_PROMPTS)
    meta.calibration = calibrate(prs, [0.1, 0.3, 0.5], prompts_id(REFERENCE_PROMPTS), source="tests").to_dict()
    write_meta(path, meta)
    return path


def uncalibrated_copy(checkpoint: Path, dest: Path) -> Path:
    """A copy of ``checkpoint`` at ``dest`` without its calibration (what an old or a freshly
    trained, never calibrated checkpoint looks like)."""
    import shutil

    from routet2i.predictor.checkpoint import read_meta, write_meta

    shutil.copytree(checkpoint, dest)
    meta = read_meta(dest)
    meta.calibration = None
    write_meta(dest, meta)
    return dest
