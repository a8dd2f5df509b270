"""Ratings → trained, calibrated checkpoint: what ``routet2i train`` does.

1. targets per pair and the prompt-hash split (:mod:`routet2i.predictor.dataset`);
2. token states of every unique prompt, once (:mod:`routet2i.predictor.token_cache`);
3. the predictor (d from the encoder, N from the metrics, the rest from the settings), seeded,
   trained with early stopping on the validation split (:mod:`routet2i.predictor.training`);
4. figures on the validation split and on the held-out calibration split
   (:mod:`routet2i.predictor.validation`);
5. α for the configured budgets and the PRŜ quantiles, from the calibration split (the validation
   split where the calibration share is 0);
6. the checkpoint folder (:mod:`routet2i.predictor.checkpoint`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from routet2i.encoders.base import TextEncoder
from routet2i.errors import DataError
from routet2i.predictor.calibration import calibrate, prompts_id
from routet2i.predictor.checkpoint import CheckpointMeta, save_checkpoint
from routet2i.predictor.dataset import Split, TrainingData, build_training_data
from routet2i.predictor.model import KeyTokenPredictor
from routet2i.predictor.settings import TrainingSettings
from routet2i.predictor.token_cache import TokenStates, encode_prompts
from routet2i.predictor.training import Examples, FitResult, fit, predict
from routet2i.predictor.validation import figures
from routet2i.ratings.pairs import PairSpec
from routet2i.ratings.table import RatingsTable

log = logging.getLogger(__name__)


@dataclass
class TrainReport:
    """What a training run produced."""

    checkpoint: Path
    meta: CheckpointMeta
    fit: FitResult
    #: figures on the validation split (used for early stopping).
    validation: dict[str, float]
    #: figures on the calibration split (never seen by training or model selection).
    held_out: dict[str, float]


def table_id(table: RatingsTable) -> str:
    """``sha1:<hex>`` of the ratings rows (their JSON lines, in order)."""
    h = hashlib.sha1()
    for row in table:
        h.update(row.to_json().encode("utf-8") + b"\n")
    return "sha1:" + h.hexdigest()


def train_predictor(
    table: RatingsTable,
    specs: Sequence[PairSpec],
    settings: TrainingSettings,
    out: str | Path,
    *,
    sources: Sequence[dict[str, str]] = (),
    encoder: TextEncoder | None = None,
    progress: bool = False,
) -> TrainReport:
    """Train on ``table`` for the pairs ``specs`` and write a checkpoint folder to ``out``.

    ``sources``: provenance of the table (e.g. ``[{"path": ..., "sha1": ...}]``), stored as is.
    ``encoder``: an already loaded encoder whose spec must be ``settings.encoder`` (tests, reuse).
    """
    from routet2i.encoders.loading import load_encoder
    from routet2i.encoders.spec import EncoderSpec

    t = settings.targets
    data = build_training_data(
        table,
        specs,
        gamma=t.gamma,
        normalise=t.normalise,
        weights=t.weights or None,
        validation=settings.split.validation,
        calibration=settings.split.calibration,
    )
    counts = data.counts()
    if counts["validation"] == 0:
        raise DataError(f"no prompt fell in the validation split ({counts}); add prompts or raise split.validation")
    log.info("training rows: %s; metrics %s", counts, data.metrics)

    enc = encoder if encoder is not None else load_encoder(settings.encoder, settings.device)
    if str(EncoderSpec.parse(enc.spec)) != str(EncoderSpec.parse(settings.encoder)):
        raise DataError(f"the encoder given is {enc.spec!r} but the settings name {settings.encoder!r}")
    tokens = encode_prompts(
        enc, data.prompts, batch_size=settings.encode_batch_size, cache_dir=settings.cache_dir, progress=progress
    )
    opt = settings.optimisation
    arch = settings.architecture.predictor_config(d_model=enc.dim, n_metrics=len(data.metrics))
    torch.manual_seed(opt.seed)
    model = KeyTokenPredictor(arch, metric_weights=data.weights.tolist()).to(settings.device)
    train_ex = _examples(data, tokens, "train")
    val_ex = _examples(data, tokens, "validation")
    result = fit(
        model,
        tokens,
        train_ex,
        val_ex,
        lr=opt.lr,
        batch_size=opt.batch_size,
        epochs=opt.epochs,
        patience=opt.patience,
        weight_decay=opt.weight_decay,
        feature_lr_scale=opt.feature_lr_scale,
        seed=opt.seed,
        select=opt.select,
        progress=progress,
    )
    model.to("cpu")
    val_figs = _figures(model, data, tokens, "validation")
    held_out = _figures(model, data, tokens, "calibration") if counts["calibration"] else {}

    cal_split: Split = "calibration" if counts["calibration"] else "validation"
    cal_rows = data.index(cal_split)
    cal_prompts = list(dict.fromkeys(data.prompts[i] for i in cal_rows))
    cal_prs, _ = predict(model, tokens, tokens.rows_of(cal_prompts))
    data_id = table_id(table)
    calibration = calibrate(
        cal_prs,
        settings.calibration.budgets,
        prompts_id=prompts_id(cal_prompts),
        source=f"{cal_split} split of {data_id}",
    )
    meta = CheckpointMeta(
        architecture=arch,
        encoder=enc.spec,
        metrics=list(data.metrics),
        metric_weights=[float(w) for w in data.weights],
        gamma=t.gamma,
        mu_gaps=data.gaps,
        training={
            "data_id": data_id,
            "ratings": list(sources),
            "pairs": [str(s) for s in specs],
            "normalise": t.normalise,
            "split": {"method": "sha1(prompt)", **settings.split.model_dump(), "rows": counts},
            "optimiser": {"name": "adam", **opt.model_dump()},
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss,
            "history": result.history,
        },
        validation={"validation": val_figs, "held_out_calibration_split": held_out},
        calibration=calibration.to_dict(),
    )
    path = save_checkpoint(out, model, meta)
    return TrainReport(checkpoint=path, meta=meta, fit=result, validation=val_figs, held_out=held_out)


def _examples(data: TrainingData, tokens: TokenStates, split: Split) -> Examples:
    idx = data.index(split)
    return Examples.make(tokens.rows_of([data.prompts[i] for i in idx]), data.d[idx], data.prs[idx])


def _figures(model: KeyTokenPredictor, data: TrainingData, tokens: TokenStates, split: Split) -> dict[str, float]:
    idx = data.index(split)
    prs_hat, d_hat = predict(model, tokens, tokens.rows_of([data.prompts[i] for i in idx]))
    return figures(prs_hat, d_hat, data.prs[idx], data.d[idx], data.q_edge[idx], data.q_cloud[idx])
