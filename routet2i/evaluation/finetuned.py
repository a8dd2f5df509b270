r"""The paper's learned baselines with the encoder fine-tuned end to end, as the originals are.

RouteLLM fine-tunes a BERT classifier, Hybrid LLM a DeBERTa regressor and ZOOTER an mDeBERTa
reward model; :mod:`routet2i.evaluation.learned` keeps the encoder frozen and fits a head, which
is cheap and deterministic. These candidates (``routellm-ft``, ``hybridllm-ft``, ``zooter-ft``)
train the same targets (:func:`~routet2i.evaluation.learned.cloud_wins`,
:func:`~routet2i.evaluation.learned.quality_gap`, :func:`~routet2i.evaluation.learned.tier_rewards`)
through the whole encoder: a copy of the run's encoder (``minilm`` by default, any ``hf:`` spec)
per split, mean-pooled like the sentence embedding, a linear head, AdamW, and early stopping on
a held-out share of the training prompts (the best epoch's weights are kept).

Losses: binary cross-entropy on the (soft) win label; squared error on the gap standardised
with the training mean and std; cross-entropy against the two tiers' soft rewards. Cloud
scores: P(win), the predicted gap, P(cloud).

Cost: every split trains a 22M-parameter encoder; on 2 CPU cores about half a minute per split
of a GenAI-Bench pair, so a k-fold run of the three over six pairs takes most of an hour (a GPU
makes it seconds; pass ``--device cuda``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from routet2i.encoders.base import mean_pool
from routet2i.encoders.hf import HFTextEncoder
from routet2i.errors import ConfigError
from routet2i.evaluation.candidates import Candidate, TrainingData
from routet2i.evaluation.encoder_memo import EncoderPool
from routet2i.evaluation.learned import cloud_wins, quality_gap, tier_rewards
from routet2i.ratings.pairs import PairData
from routet2i.superiority import FloatArray

#: kind → what it learns (the name of the frozen baseline it fine-tunes)
_TARGETS = {"routellm": cloud_wins, "hybridllm": quality_gap, "zooter": tier_rewards}
_DESCRIPTIONS = {
    "routellm": "RouteLLM-style classifier of 'the cloud wins', encoder fine-tuned",
    "hybridllm": "Hybrid-LLM-style regressor of the quality gap, encoder fine-tuned",
    "zooter": "ZOOTER-style distillation of each tier's normalised quality, encoder fine-tuned",
}


@dataclass(frozen=True)
class FineTuneSettings:
    """Optimisation of one split (BERT fine-tuning defaults, scaled to a few hundred prompts)."""

    epochs: int = 6
    patience: int = 2
    batch_size: int = 16
    lr: float = 3e-5  # the encoder's learning rate
    head_lr: float = 1e-3  # the freshly initialised head learns faster
    weight_decay: float = 0.01
    validation: float = 0.15  # share of the training prompts held out for early stopping


class _Router:
    """Encoder + mean pooling + a linear head; ``forward`` gives the head's raw outputs."""

    def __init__(self, encoder: HFTextEncoder, outputs: int, seed: int) -> None:
        import torch

        torch.manual_seed(seed)
        self.tokenize = encoder._tokenize
        self.device = encoder.device
        self.model = copy.deepcopy(encoder.model).train().requires_grad_(True)
        self.head = torch.nn.Linear(encoder.dim, outputs).to(encoder.device)

    def forward(self, prompts: list[str]) -> Any:
        batch = self.tokenize(prompts)
        mask = batch["attention_mask"].to(self.device)
        states = self.model(input_ids=batch["input_ids"].to(self.device), attention_mask=mask).last_hidden_state
        return self.head(mean_pool(states, mask))

    def train(self, on: bool) -> None:
        self.model.train(on)
        self.head.train(on)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return copy.deepcopy(self.model.state_dict()), copy.deepcopy(self.head.state_dict())

    def load(self, state: tuple[dict[str, Any], dict[str, Any]]) -> None:
        self.model.load_state_dict(state[0])
        self.head.load_state_dict(state[1])


@dataclass
class FineTunedCandidate(Candidate):
    """A learned baseline whose encoder is fine-tuned per split (see the module docstring)."""

    name: str = "routellm-ft"
    kind: str = "routellm"
    spec: str = "minilm"
    pool: EncoderPool = field(default_factory=EncoderPool)
    settings: FineTuneSettings = field(default_factory=FineTuneSettings)
    learns: bool = True
    _router: _Router | None = None
    _scale: tuple[float, float] = (0.0, 1.0)
    _record: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in _TARGETS:
            raise ConfigError(f"fine-tuned baseline kind {self.kind!r}: use one of {sorted(_TARGETS)}")
        self.description = self.description or _DESCRIPTIONS[self.kind]

    def _encoder(self) -> HFTextEncoder:
        inner = self.pool.get(self.spec).inner
        if not isinstance(inner, HFTextEncoder):
            raise ConfigError(
                f"{self.name}: fine-tuning needs a transformers encoder (minilm or hf:...), not {self.spec!r}"
            )
        return inner

    def _loss(self, out: Any, y: Any) -> Any:
        import torch

        if self.kind == "routellm":
            return torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], y)
        if self.kind == "hybridllm":
            return torch.nn.functional.mse_loss(out[:, 0], y)
        return -(y * torch.log_softmax(out, dim=-1)).sum(-1).mean()

    def fit(self, train: TrainingData) -> None:
        import torch

        self._router = None  # the previous split's copy of the encoder goes before a new one is made
        target = _TARGETS[self.kind](train)
        values = target.values
        if self.kind == "hybridllm":  # regress the standardised gap; scores come back in gap units
            self._scale = (float(values.mean()), float(values.std()) or 1.0)
            values = (values - self._scale[0]) / self._scale[1]
        y_all = torch.as_tensor(values, dtype=torch.float32)
        s = self.settings
        rng = np.random.default_rng(train.seed)
        order = rng.permutation(len(target.prompts))
        n_val = round(len(order) * s.validation) if len(order) >= 10 else 0
        val, tr = order[:n_val], order[n_val:]
        router = _Router(self._encoder(), 2 if self.kind == "zooter" else 1, train.seed)
        opt = torch.optim.AdamW(
            [
                {"params": router.model.parameters(), "lr": s.lr},
                {"params": router.head.parameters(), "lr": s.head_lr},
            ],
            weight_decay=s.weight_decay,
        )
        y_all = y_all.to(router.device)
        best: tuple[float, int, Any] = (float("inf"), -1, None)
        for epoch in range(s.epochs):
            router.train(True)
            tr = tr[rng.permutation(len(tr))]
            for start in range(0, len(tr), s.batch_size):
                rows = tr[start : start + s.batch_size]
                opt.zero_grad()
                loss = self._loss(router.forward([target.prompts[i] for i in rows]), y_all[rows])
                loss.backward()
                opt.step()
            if n_val == 0:
                continue
            router.train(False)
            with torch.no_grad():
                vl = float(self._loss(router.forward([target.prompts[i] for i in val]), y_all[val]))
            if vl < best[0]:
                best = (vl, epoch, router.state())
            elif epoch - best[1] >= s.patience:
                break
        if best[2] is not None:
            router.load(best[2])
        router.train(False)
        self._router = router
        self._record = {**target.record, "best_epoch": best[1] + 1 if n_val else s.epochs, "validation_prompts": n_val}

    def score(self, test: PairData) -> FloatArray:
        import torch

        if self._router is None:
            raise RuntimeError("fit first")
        outs = []
        with torch.no_grad():
            for start in range(0, len(test.prompts), 64):
                outs.append(self._router.forward(list(test.prompts[start : start + 64])).float().cpu())
        out = torch.cat(outs) if outs else torch.zeros((0, 2))
        if self.kind == "routellm":
            return torch.sigmoid(out[:, 0]).double().numpy()
        if self.kind == "hybridllm":
            mean, sd = self._scale
            return (out[:, 0].double().numpy() * sd) + mean
        return torch.softmax(out, dim=-1)[:, 1].double().numpy()

    def training_record(self) -> dict[str, object]:
        return dict(self._record)
