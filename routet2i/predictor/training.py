"""The training loop: Adam on the masked MSE of D̂, early stopping on the validation loss.

Loss: mean of (D̂_i − D_i)² over the (example, metric) cells whose target is present (NaN
targets, i.e. metrics a dataset lacks, are masked out); for the single-PRS-head ablation the MSE
of PRŜ against PRS. Mini-batches are drawn in a seeded random order; dropout is seeded too, so a
run is reproducible on one machine. After every epoch the validation loss and the validation
Spearman of PRŜ are recorded; at the end the weights of the selected epoch are restored (lowest
validation loss, highest validation Spearman, or simply the last epoch: ``select``), and training
stops early after ``patience`` epochs without improvement.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from routet2i.predictor.model import KeyTokenPredictor, PredictorOutput
from routet2i.predictor.token_cache import TokenStates


@dataclass
class Examples:
    """Training examples: token-state rows (into a :class:`TokenStates`) and their targets."""

    rows: list[int]
    #: D targets (E, N), NaN = missing.
    d: torch.Tensor
    #: PRS targets (E,).
    prs: torch.Tensor

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def make(cls, rows: Sequence[int], d: np.ndarray, prs: np.ndarray) -> Examples:
        return cls(
            rows=[int(r) for r in rows],
            d=torch.as_tensor(np.asarray(d, dtype=np.float32)),
            prs=torch.as_tensor(np.asarray(prs, dtype=np.float32)),
        )


@dataclass
class FitResult:
    #: the epoch whose weights were kept (1-based).
    best_epoch: int
    epochs_run: int
    #: validation loss of the kept epoch.
    best_val_loss: float
    history: list[dict[str, float]] = field(default_factory=list)


def masked_loss(out: PredictorOutput, d: torch.Tensor, prs: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(mean squared error over present targets, number of present targets)."""
    if out.d_hat is not None:
        present = ~torch.isnan(d)
        diff = torch.where(present, out.d_hat - torch.nan_to_num(d), torch.zeros((), device=d.device))
    else:
        present = ~torch.isnan(prs)
        diff = torch.where(present, out.prs - torch.nan_to_num(prs), torch.zeros((), device=prs.device))
    count = int(present.sum())
    return (diff**2).sum() / max(count, 1), count


def forward_rows(model: KeyTokenPredictor, tokens: TokenStates, rows: Sequence[int]) -> PredictorOutput:
    """One forward pass over the prompts at ``rows`` (with their prompt features if the model
    takes any), on the model's device."""
    device = next(model.parameters()).device
    states, mask = tokens.batch(rows)
    feats = tokens.features(rows, model.config.prompt_features)
    out: PredictorOutput = model(states.to(device), mask.to(device), None if feats is None else feats.to(device))
    return out


def evaluate_loss(model: KeyTokenPredictor, tokens: TokenStates, examples: Examples, batch_size: int = 256) -> float:
    """Masked MSE over all ``examples`` (eval mode)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(examples), batch_size):
            out = forward_rows(model, tokens, examples.rows[s : s + batch_size])
            loss, n = masked_loss(
                out, examples.d[s : s + batch_size].to(device), examples.prs[s : s + batch_size].to(device)
            )
            total += float(loss) * n
            count += n
    model.train(was_training)
    return total / count if count else math.nan


Selection = Literal["loss", "spearman", "last"]


@dataclass(frozen=True)
class FitOptions:
    """Optimiser and stopping settings of :func:`fit`."""

    lr: float
    batch_size: int
    epochs: int
    #: stop after this many epochs without a better validation score (0: run every epoch).
    patience: int = 0
    weight_decay: float = 0.0
    seed: int = 0
    #: which epoch's weights to keep: lowest validation ``loss``, highest validation Spearman of
    #: PRŜ against PRS (``spearman``: routing only uses the order of PRŜ), or the ``last``.
    select: Selection = "loss"
    progress: bool = False
    #: learning-rate multiplier of the cue weights (a handful of numbers that early stopping would
    #: otherwise stop long before they move).
    feature_lr_scale: float = 1.0


def fit(
    model: KeyTokenPredictor,
    tokens: TokenStates,
    train: Examples,
    val: Examples,
    *,
    lr: float,
    batch_size: int,
    epochs: int,
    patience: int = 0,
    weight_decay: float = 0.0,
    seed: int = 0,
    select: Selection = "loss",
    progress: bool = False,
    num_threads: int | None = 1,
    feature_lr_scale: float = 1.0,
) -> FitResult:
    """Train ``model`` in place and keep the weights of the selected epoch (see
    :class:`FitOptions` and the module docstring).

    ``num_threads``: torch intra-op threads while training (restored afterwards; None: leave as
    is). The predictor's tensors are tiny, so one thread is fastest: more only add
    synchronisation, badly so on a busy machine.
    """
    if not len(train):
        raise ValueError("no training example")
    options = FitOptions(lr, batch_size, epochs, patience, weight_decay, seed, select, progress, feature_lr_scale)
    previous = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return _fit(model, tokens, train, val, options)
    finally:
        torch.set_num_threads(previous)


def _fit(model: KeyTokenPredictor, tokens: TokenStates, train: Examples, val: Examples, o: FitOptions) -> FitResult:
    from tqdm import tqdm

    from routet2i.predictor.validation import spearman

    torch.manual_seed(o.seed)
    gen = torch.Generator().manual_seed(o.seed)
    device = next(model.parameters()).device
    cue = [p for n, p in model.named_parameters() if n == "feature_weights"]
    rest = [p for n, p in model.named_parameters() if n != "feature_weights"]
    groups: list[dict[str, object]] = [{"params": rest}]
    if cue:
        groups.append({"params": cue, "lr": o.lr * o.feature_lr_scale})
    opt = torch.optim.Adam(groups, lr=o.lr, weight_decay=o.weight_decay)
    best_score = math.inf
    best_epoch = 0
    best_loss = math.nan
    best_state = copy.deepcopy(model.state_dict())
    history: list[dict[str, float]] = []
    bar = tqdm(range(1, o.epochs + 1), desc="training", unit="epoch", file=sys.stderr, disable=not o.progress)
    epoch = 0
    for epoch in bar:
        model.train()
        perm = torch.randperm(len(train), generator=gen).tolist()
        run_loss, run_n = 0.0, 0
        for s in range(0, len(perm), o.batch_size):
            idx = perm[s : s + o.batch_size]
            out = forward_rows(model, tokens, [train.rows[i] for i in idx])
            loss, n = masked_loss(out, train.d[idx].to(device), train.prs[idx].to(device))
            if n == 0:
                continue
            opt.zero_grad()
            loss.backward()
            opt.step()
            run_loss += float(loss.detach()) * n
            run_n += n
        train_loss = run_loss / max(run_n, 1)
        val_loss = evaluate_loss(model, tokens, val) if len(val) else math.nan
        val_rho = spearman(predict(model, tokens, val.rows)[0], val.prs.numpy()) if len(val) else math.nan
        history.append({"epoch": float(epoch), "train_loss": train_loss, "val_loss": val_loss, "val_spearman": val_rho})
        bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", rho=f"{val_rho:.3f}")
        if o.select == "last":
            score = -float(epoch)
        elif o.select == "spearman" and not math.isnan(val_rho):
            score = -val_rho
        else:
            score = val_loss if not math.isnan(val_loss) else train_loss
        if score < best_score:
            best_score, best_epoch, best_loss = score, epoch, val_loss
            best_state = copy.deepcopy(model.state_dict())
        elif o.patience and o.select != "last" and epoch - best_epoch >= o.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch=best_epoch, epochs_run=epoch, best_val_loss=best_loss, history=history)


def predict(
    model: KeyTokenPredictor, tokens: TokenStates, rows: Sequence[int], batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray | None]:
    """(PRŜ (R,), D̂ (R, N) or None) for the token-state ``rows`` (eval mode)."""
    model.eval()
    prs: list[np.ndarray] = []
    dh: list[np.ndarray] = []
    with torch.inference_mode():
        for s in range(0, len(rows), batch_size):
            out = forward_rows(model, tokens, list(rows[s : s + batch_size]))
            prs.append(out.prs.cpu().double().numpy())
            if out.d_hat is not None:
                dh.append(out.d_hat.cpu().double().numpy())
    if not prs:
        return np.zeros(0), None
    return np.concatenate(prs), (np.concatenate(dh) if dh else None)
