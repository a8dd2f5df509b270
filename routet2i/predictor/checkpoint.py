"""The predictor checkpoint folder (DESIGN §3): ``config.json`` + ``model.safetensors``.

``config.json`` says how the checkpoint was made and everything needed to rebuild it:

- ``format`` (``routet2i-predictor``), ``format_version``, ``code_version`` (routet2i's version);
- ``architecture``: every field of :class:`~routet2i.predictor.architecture.PredictorConfig`;
- ``cue_lexicon_sha256`` (only when the architecture uses ``prompt_features``): the sha256 of the
  cue lexicon the prompt features were computed with (:func:`routet2i.predictor.cues.lexicon_sha256`);
- ``encoder``: the encoder spec string (:mod:`routet2i.encoders.spec`);
- ``metrics`` (names, in expert order) and ``metric_weights`` (summing to 1);
- ``gamma`` and ``mu_gaps`` (pair → metric → |mu_e − mu_c| on that pair's training prompts);
- ``training``: data id, ratings files with their sha1, pairs, seed, split sizes, optimiser
  settings, epochs run; ``validation``: the figures printed at the end of training;
- ``calibration``: null or the PRŜ quantiles and per-budget thresholds
  (:class:`routet2i.predictor.calibration.Calibration`);
- ``correction`` (format 2): null or the deployment's own pair fitted on top of the predictor by
  the learner (:class:`routet2i.predictor.correction.Correction`; the served PRŜ is corrected).
  A checkpoint with one is written as format 2, any other as format 1 (so older readers keep
  reading those); a reader of format 1 refuses format 2, so a correction is never silently ignored.

``model.safetensors`` holds the learned tensors only. Loading takes every architecture number from
``config.json``; asking for a different encoder or metric set than the checkpoint has is a
:class:`~routet2i.errors.CheckpointError`, and so is loading a checkpoint whose recorded cue lexicon
differs from the installed one (:func:`check_cue_lexicon`: its cue weights were learned on other
counts). A checkpoint with prompt features but no recorded lexicon (written before the hash was
recorded) loads with a logged warning: the word lists did not change when they moved into the
lexicon file. This module imports torch only inside functions.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routet2i import __version__
from routet2i.config import read_json_object
from routet2i.encoders.spec import EncoderSpec
from routet2i.errors import CheckpointError, ConfigError
from routet2i.predictor.architecture import PredictorConfig

if TYPE_CHECKING:
    from routet2i.predictor.model import KeyTokenPredictor

log = logging.getLogger(__name__)

FORMAT = "routet2i-predictor"
FORMAT_VERSION = 2
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def default_checkpoint_dir() -> Path:
    """The packaged default checkpoint (``routet2i/data/router``)."""
    return Path(__file__).resolve().parent.parent / "data" / "router"


def _installed_lexicon_sha256() -> str:
    from routet2i.predictor.cues import lexicon_sha256

    return lexicon_sha256()


@dataclass
class CheckpointMeta:
    """The contents of ``config.json`` (see the module docstring)."""

    architecture: PredictorConfig
    encoder: str
    metrics: list[str]
    metric_weights: list[float]
    gamma: float
    mu_gaps: dict[str, dict[str, float | None]]
    training: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    #: the learner's correction (:class:`~routet2i.predictor.correction.Correction` as a dict).
    correction: dict[str, Any] | None = None
    code_version: str = __version__
    #: sha256 of the cue lexicon the prompt features are computed with: by default the installed
    #: one (a checkpoint made in this process uses it); None when the architecture uses no prompt
    #: features, or when an older ``config.json`` records none.
    cue_lexicon_sha256: str | None = field(default_factory=_installed_lexicon_sha256)

    def __post_init__(self) -> None:
        if not self.architecture.prompt_features:
            self.cue_lexicon_sha256 = None

    def to_dict(self) -> dict[str, Any]:
        lexicon = {} if self.cue_lexicon_sha256 is None else {"cue_lexicon_sha256": self.cue_lexicon_sha256}
        return {
            "format": FORMAT,
            # format 2 only where it differs from 1 (a correction), so older readers keep reading the rest
            "format_version": FORMAT_VERSION if self.correction is not None else 1,
            "code_version": self.code_version,
            "architecture": self.architecture.to_dict(),
            **lexicon,
            "encoder": self.encoder,
            "metrics": list(self.metrics),
            "metric_weights": [float(w) for w in self.metric_weights],
            "gamma": float(self.gamma),
            "mu_gaps": self.mu_gaps,
            "training": self.training,
            "validation": self.validation,
            "calibration": self.calibration,
            **({} if self.correction is None else {"correction": self.correction}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config.json") -> CheckpointMeta:
        if data.get("format") != FORMAT:
            raise CheckpointError(f"{source}: not a routet2i predictor checkpoint (format {data.get('format')!r})")
        if int(data.get("format_version", -1)) > FORMAT_VERSION:
            raise CheckpointError(
                f"{source}: format_version {data.get('format_version')} is newer than this code reads "
                f"({FORMAT_VERSION}); upgrade routet2i"
            )
        required = ("architecture", "encoder", "metrics", "metric_weights", "gamma", "mu_gaps")
        missing = [k for k in required if k not in data]
        if missing:
            raise CheckpointError(f"{source}: missing {missing}")
        if not isinstance(data["architecture"], dict):
            raise CheckpointError(f"{source}: 'architecture' must be an object")
        try:
            arch = PredictorConfig.from_dict(data["architecture"])
        except CheckpointError as exc:
            raise CheckpointError(f"{source}: {exc}") from exc
        lexicon = data.get("cue_lexicon_sha256")
        if lexicon is not None and not (isinstance(lexicon, str) and re.fullmatch(r"[0-9a-f]{64}", lexicon)):
            raise CheckpointError(f"{source}: cue_lexicon_sha256 must be a sha256 hex digest, got {lexicon!r}")
        metrics = [str(m) for m in data["metrics"]]
        weights = [float(w) for w in data["metric_weights"]]
        if not (len(metrics) == len(weights) == arch.n_metrics):
            raise CheckpointError(
                f"{source}: {len(metrics)} metrics, {len(weights)} weights, architecture has {arch.n_metrics} experts"
            )
        return cls(
            architecture=arch,
            encoder=str(data["encoder"]),
            metrics=metrics,
            metric_weights=weights,
            gamma=float(data["gamma"]),
            mu_gaps=data["mu_gaps"],
            training=dict(data.get("training") or {}),
            validation=dict(data.get("validation") or {}),
            calibration=data.get("calibration"),
            correction=data.get("correction"),
            code_version=str(data.get("code_version", "")),
            cue_lexicon_sha256=lexicon,
        )


@dataclass
class LoadedCheckpoint:
    """A model ready for inference (eval mode, on its device) and its metadata."""

    model: KeyTokenPredictor
    meta: CheckpointMeta
    path: Path


def save_checkpoint(path: str | Path, model: KeyTokenPredictor, meta: CheckpointMeta) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into the folder ``path`` (created)."""
    from safetensors.torch import save_file

    if model.config != meta.architecture:
        raise CheckpointError("the model's architecture differs from the one in the metadata")
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = p / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": FORMAT, "code_version": __version__})
    tmp.chmod(0o644)  # safetensors writes owner-only files; a checkpoint is meant to be shared
    tmp.replace(p / WEIGHTS_FILE)
    write_meta(p, meta)
    return p


def write_meta(path: str | Path, meta: CheckpointMeta) -> None:
    """(Re)write ``config.json`` of the checkpoint folder ``path`` atomically."""
    p = Path(path)
    text = json.dumps(_json_safe(meta.to_dict()), indent=2, ensure_ascii=False, allow_nan=False)
    tmp = p / (CONFIG_FILE + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(p / CONFIG_FILE)


def read_meta(path: str | Path) -> CheckpointMeta:
    """``config.json`` of the checkpoint folder ``path``."""
    p = Path(path)
    cfg = p / CONFIG_FILE
    if not p.is_dir():
        raise CheckpointError(f"no checkpoint folder at {p}")
    if not cfg.is_file():
        raise CheckpointError(f"{p} is not a checkpoint: {CONFIG_FILE} is missing")
    data = read_json_object(cfg, error=CheckpointError)
    return CheckpointMeta.from_dict(data, source=str(cfg))


def check_compatible(meta: CheckpointMeta, encoder: str | None, metrics: Sequence[str] | None, source: str) -> None:
    """Raise :class:`CheckpointError` if ``encoder`` / ``metrics`` (when given) differ from ``meta``."""
    if encoder is not None:
        try:
            wanted, have = str(EncoderSpec.parse(encoder)), str(EncoderSpec.parse(meta.encoder))
        except ConfigError as exc:
            raise CheckpointError(f"{source}: {exc}") from exc
        if wanted != have:
            raise CheckpointError(
                f"{source} was trained on encoder {have!r}, not {wanted!r}; its predictor only works on the "
                "token states of its own encoder (retrain, or drop the encoder override)"
            )
    if metrics is not None and list(metrics) != list(meta.metrics):
        raise CheckpointError(f"{source} predicts metrics {meta.metrics}, not the requested {list(metrics)}")


def check_cue_lexicon(meta: CheckpointMeta, source: str) -> None:
    """Raise :class:`CheckpointError` if ``meta``'s model uses prompt features and records a cue
    lexicon other than the installed one; log a warning if it records none (an older checkpoint)."""
    if not meta.architecture.prompt_features:
        return
    from routet2i.predictor.cues import LEXICON_FILE, lexicon_sha256

    installed = lexicon_sha256()
    recorded = meta.cue_lexicon_sha256
    if recorded is None:
        log.warning(
            "%s uses prompt features but records no cue lexicon (written before routet2i recorded "
            "cue_lexicon_sha256); computing them with the installed lexicon %s. Retrain it, or add "
            '"cue_lexicon_sha256": "%s" to its %s once you know it was trained with these word lists',
            source,
            installed,
            installed,
            CONFIG_FILE,
        )
        return
    if recorded != installed:
        raise CheckpointError(
            f"{source} was trained on prompt features from another cue lexicon: it expects lexicon "
            f"sha256 {recorded}, but the installed one ({LEXICON_FILE}) is {installed}. Its cue weights "
            "were learned on the counts of other word lists, so its predictions would be wrong. Retrain it "
            "with this installation (routet2i train), or reinstall the routet2i version it was trained "
            f"with (code_version {meta.code_version or 'unknown'}), whose lexicon matches"
        )


def load_checkpoint(
    path: str | Path,
    *,
    encoder: str | None = None,
    metrics: Sequence[str] | None = None,
    device: str = "cpu",
) -> LoadedCheckpoint:
    """Rebuild the predictor from ``path`` (eval mode, on ``device``).

    ``encoder`` / ``metrics``: what the caller expects; a mismatch is a :class:`CheckpointError`,
    and so is a cue lexicon other than the installed one (:func:`check_cue_lexicon`).
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from routet2i.predictor.model import KeyTokenPredictor

    p = Path(path)
    meta = read_meta(p)
    check_compatible(meta, encoder, metrics, str(p))
    check_cue_lexicon(meta, str(p))
    weights_file = p / WEIGHTS_FILE
    if not weights_file.is_file():
        raise CheckpointError(f"{p} is not a checkpoint: {WEIGHTS_FILE} is missing")
    try:
        state = load_file(str(weights_file), device="cpu")
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{weights_file}: not a readable safetensors file: {exc}") from exc
    model = KeyTokenPredictor(meta.architecture, metric_weights=meta.metric_weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights_file} does not match the architecture in {CONFIG_FILE}: {exc}") from exc
    model.eval().requires_grad_(False)
    return LoadedCheckpoint(model=model.to(torch.device(device)), meta=meta, path=p)


def _json_safe(value: Any) -> Any:
    """NaN / inf floats → None and numpy scalars → Python numbers, recursively (config.json stays
    strict JSON)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
