"""The project's own router (the dual-gate token-selection predictor) as an evaluation candidate.

Three ways in, all scoring a prompt by 1 - PRŜ (a prompt the edge is predicted to lose goes to the
cloud first), with PRŜ computed for the view being measured (:func:`view_cloud_scores`):

- ``predictor`` (optionally ``predictor:SETTINGS.yaml``): trained from scratch on every split with
  the training settings (``configs/training.yaml`` by default) through
  :func:`routet2i.predictor.pipeline.train_predictor`, on the split's training rows only.
- ``checkpoint:DIR``: the *recipe* of the checkpoint in DIR (encoder, architecture, optimiser,
  targets, validation share and its own training pairs, all read from its ``config.json``)
  retrained on every split without the split's test prompts. This is how a shipped checkpoint is
  measured without ever scoring a prompt it was trained on.
- ``recipe:DIR``: the same recipe retrained per split on the run's training pairs instead (by
  default the evaluated pair alone), to compare one architecture trained on one pair or pooled.
- ``frozen:DIR``: the checkpoint as it is, no retraining. It must not have been trained on the
  prompts it is scored on: the harness refuses when the checkpoint's training pairs include the
  evaluated pair's dataset or share a prompt with it (``allow_seen`` turns the refusal into a
  loud warning in the report and marks the candidate's name ``[SEEN PROMPTS]``), and warns when
  the training prompts cannot be checked (their dataset is not in the ratings given).

The evaluation trains with no calibration split (``split.calibration = 0``): the ranking does not
depend on α, so every non-validation prompt of a split trains.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from routet2i.errors import CheckpointError, DataError
from routet2i.evaluation.candidates import Candidate, TrainingData
from routet2i.evaluation.encoder_memo import EncoderPool
from routet2i.evaluation.views import QualityView
from routet2i.prompt_ids import prompt_key
from routet2i.ratings.pairs import PairData, PairSpec
from routet2i.ratings.table import RatingsTable
from routet2i.superiority import FloatArray, pareto_superiority, weights_for

log = logging.getLogger(__name__)


def settings_from_checkpoint(directory: Path) -> Any:
    """:class:`~routet2i.predictor.settings.TrainingSettings` that rebuild the checkpoint in
    ``directory`` (its encoder, architecture, optimiser, targets and validation share)."""
    from routet2i.predictor.checkpoint import read_meta
    from routet2i.predictor.settings import TrainingSettings

    meta = read_meta(directory)
    arch = meta.architecture.to_dict()
    arch.pop("d_model", None)
    arch.pop("n_metrics", None)
    training = meta.training or {}
    optimiser = {k: v for k, v in dict(training.get("optimiser", {})).items() if k != "name"}
    split = dict(training.get("split", {}))
    # uniform weights stay implicit, so the recipe also trains on a pair with fewer metrics
    uniform = len(set(meta.metric_weights)) <= 1
    weights = {} if uniform else dict(zip(meta.metrics, meta.metric_weights, strict=True))
    data: dict[str, Any] = {
        "encoder": meta.encoder,
        "architecture": arch,
        "optimisation": optimiser,
        "targets": {"gamma": meta.gamma, "normalise": training.get("normalise", "zscore"), "weights": weights},
    }
    if "validation" in split:
        data["split"] = {"validation": float(split["validation"]), "calibration": 0.0}
    return TrainingSettings.load(None, **data)


def checkpoint_pairs(directory: Path) -> list[str]:
    """The pairs the checkpoint in ``directory`` was trained on (its ``training.pairs``)."""
    from routet2i.predictor.checkpoint import read_meta

    pairs = (read_meta(directory).training or {}).get("pairs") or []
    if not pairs:
        raise CheckpointError(f"{directory}: config.json records no training pairs; cannot retrain its recipe")
    return [str(p) for p in pairs]


def checkpoint_folder_name(candidate: str, split: str) -> str:
    """A filesystem-safe, collision-free folder name for one candidate's checkpoint of one split."""
    import hashlib
    import re

    digest = hashlib.sha1(candidate.encode("utf-8")).hexdigest()[:8]
    kind = re.sub(r"[^A-Za-z0-9]+", "", candidate.split(":", 1)[0]) or "predictor"
    return f"{kind}-{digest}-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", split).strip("_")


def restrict_table(table: RatingsTable, train: TrainingData) -> RatingsTable:
    """The rows of ``table`` whose (dataset, prompt id) is among the training rows."""
    keys = {(ds, pid) for p in train.pairs for ds, pid in zip(p.datasets, p.prompt_ids, strict=True)}
    return RatingsTable([r for r in table if (r.dataset, r.prompt_id) in keys])


@dataclass
class PredictorCandidate(Candidate):
    """Retrains the predictor on every split (``predictor`` / ``checkpoint:DIR``)."""

    name: str = "predictor"
    description: str = "RouteT2I predictor, retrained on every split"
    learns: bool = True
    table: RatingsTable = field(default_factory=RatingsTable)
    settings: Any = None
    encoders: EncoderPool = field(default_factory=EncoderPool)
    workdir: Path | None = None
    _router: Any = None
    _record: dict[str, object] = field(default_factory=dict)

    def fit(self, train: TrainingData) -> None:
        from routet2i.predictor.inference import CheckpointPredictor
        from routet2i.predictor.pipeline import train_predictor

        settings = self.settings.model_copy(deep=True)
        settings.optimisation.seed = int(settings.optimisation.seed) + train.seed
        specs = [p.spec for p in train.pairs]
        sub = restrict_table(self.table, train)
        root = self.workdir or Path(tempfile.mkdtemp(prefix="routet2i-eval-"))
        out = root / checkpoint_folder_name(self.name, train.split)
        encoder = self.encoders.get(settings.encoder)
        report = train_predictor(sub, specs, settings, out, encoder=encoder)
        self._router = CheckpointPredictor(report.checkpoint, encoder=encoder)
        self._record = {
            "best_epoch": report.fit.best_epoch,
            "epochs_run": report.fit.epochs_run,
            "best_val_loss": report.fit.best_val_loss,
        }

    def score(self, test: PairData) -> FloatArray:
        if self._router is None:
            raise DataError(f"{self.name}: scored before training")
        return cloud_scores(self._router, test.prompts)

    def score_views(self, test: PairData, views: list[QualityView]) -> dict[str, FloatArray]:
        if self._router is None:
            raise DataError(f"{self.name}: scored before training")
        return view_cloud_scores(self._router, test.prompts, views, self.warnings)

    def training_record(self) -> dict[str, object]:
        return dict(self._record)


def cloud_scores(router: Any, prompts: list[str]) -> FloatArray:
    """1 - PRŜ of ``prompts`` from a :class:`~routet2i.predictor.inference.CheckpointPredictor`."""
    prs, _ = router.scores(prompts)
    return 1.0 - np.asarray(prs, dtype=np.float64)


def view_cloud_scores(
    router: Any, prompts: list[str], views: list[QualityView], warnings: list[str]
) -> dict[str, FloatArray]:
    """1 - PRŜ per view, with PRŜ over the metrics the view measures.

    PRŜ = Σ_i w_i D̂_i with the deployment's metric weights (DESIGN §1): a deployment judged on
    alignment alone routes with ``{"alignment": 1}`` (``routet2i route --weights``). So each view
    is ranked with its own weights (:attr:`QualityView.weights`) restricted to the metrics the
    router predicts, e.g. an alignment-only pair by D̂_alignment of a router that also predicts
    perceptual quality. Where the router predicts only some of a view's metrics, or none (or has
    a single PRS head: then its own PRŜ ranks the view), a note in ``warnings`` says so.
    """
    prs, d_hat = router.scores(prompts)
    names = list(router.metrics)
    out: dict[str, FloatArray] = {}
    for v in views:
        known = {m: w for m, w in v.weights.items() if w > 0 and m in names}
        missing = sorted(m for m, w in v.weights.items() if w > 0 and m not in names)
        if d_hat is None or not known:
            out[v.name] = 1.0 - np.asarray(prs, dtype=np.float64)
            note = f"view {v.name}: the router predicts none of its metrics {missing}; ranked by its PRŜ over {names}"
        else:
            out[v.name] = 1.0 - pareto_superiority(d_hat, weights_for(names, known))
            note = f"view {v.name}: ranked by D̂ of {sorted(known)} only; the router does not predict {missing}"
        if v.weights and missing and note not in warnings:
            warnings.append(note)
    return out


@dataclass
class FrozenCheckpointCandidate(Candidate):
    """A checkpoint scored as it is (``frozen:DIR``); see the module for the leak check."""

    name: str = "frozen"
    description: str = "a trained checkpoint, not retrained"
    directory: Path = Path(".")
    encoders: EncoderPool = field(default_factory=EncoderPool)
    allow_seen: bool = False
    _loaded: Any = None

    def load(self) -> Any:
        """The checkpoint's :class:`~routet2i.predictor.inference.CheckpointPredictor` (loaded once)."""
        from routet2i.predictor.checkpoint import read_meta
        from routet2i.predictor.inference import CheckpointPredictor

        if self._loaded is None:
            encoder = self.encoders.get(read_meta(self.directory).encoder)
            self._loaded = CheckpointPredictor(self.directory, encoder=encoder)
        return self._loaded

    def prepare(self, table: RatingsTable, test: PairData) -> None:
        self.check_unseen(table, test)

    def check_unseen(self, table: RatingsTable, test: PairData) -> None:
        """Refuse (or warn, with ``allow_seen``) if the checkpoint trained on ``test``'s prompts."""
        meta = self.load().meta
        pairs = [PairSpec.parse(p) for p in (meta.training or {}).get("pairs", [])]
        test_datasets = set(test.datasets)
        test_keys = {prompt_key(p) for p in test.prompts}
        problems: list[str] = []
        unknown: list[str] = []
        known = set(table.datasets())
        for spec in pairs:
            if spec.dataset is None or spec.dataset not in known:
                unknown.append(str(spec))
                continue
            if spec.dataset in test_datasets:
                problems.append(f"it was trained on {spec}, from the evaluated dataset {spec.dataset}")
                continue
            seen = {prompt_key(r.prompt) for r in table if r.dataset == spec.dataset} & test_keys
            if seen:
                problems.append(f"{len(seen)} test prompts also appear in its training pair {spec}")
        if not pairs:
            unknown.append("(no training pairs recorded)")
        if unknown:
            self.warnings.append(
                "could not verify that the test prompts were unseen: training data not in the given ratings: "
                + ", ".join(unknown)
            )
        if problems:
            message = f"{self.directory}: " + "; ".join(problems)
            if not self.allow_seen:
                raise CheckpointError(
                    message + ". Scoring a checkpoint on its own training prompts overstates it: use "
                    f"checkpoint:{self.directory} (retrained per split without the test prompts), or pass "
                    "--allow-seen-prompts to report it anyway, flagged."
                )
            self.warnings.append("SEEN PROMPTS — optimistic, not a measure of generalisation: " + message)
            if "[SEEN PROMPTS]" not in self.name:
                self.name += " [SEEN PROMPTS]"

    def score(self, test: PairData) -> FloatArray:
        return cloud_scores(self.load(), test.prompts)

    def score_views(self, test: PairData, views: list[QualityView]) -> dict[str, FloatArray]:
        return view_cloud_scores(self.load(), test.prompts, views, self.warnings)
