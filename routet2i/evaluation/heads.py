"""Small trainable heads on fixed features: ridge, L2 logistic regression, a soft-target MLP.

They serve the learned baselines (:mod:`routet2i.evaluation.learned`). Features are standardised
with the training rows' mean and standard deviation; every regularisation strength is chosen on
the training rows only (ridge: exact leave-one-out error; logistic: inner k-fold log-loss; MLP:
early stopping on a held-out tenth), so nothing leaks from the prompts a head is scored on.

The MLP trains with one torch thread (restored afterwards): its tensors are tiny, and
multi-threaded kernels only add synchronisation cost there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

RIDGE_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-1, 5, 25))
LOGISTIC_LAMBDAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 1, 9))


@dataclass
class Standardiser:
    """x → (x - mean) / std with the training rows' statistics (std 0 → 1)."""

    mean: FloatArray = field(default_factory=lambda: np.zeros(0))
    std: FloatArray = field(default_factory=lambda: np.ones(0))

    def fit(self, x: FloatArray) -> Standardiser:
        self.mean = x.mean(axis=0)
        sd = x.std(axis=0)
        self.std = np.where(sd > 1e-12, sd, 1.0)
        return self

    def transform(self, x: FloatArray) -> FloatArray:
        return (x - self.mean) / self.std


@dataclass
class RidgeHead:
    """Ridge regression; alpha picked from :data:`RIDGE_ALPHAS` by exact leave-one-out error."""

    alphas: tuple[float, ...] = RIDGE_ALPHAS
    alpha: float = 0.0
    coef: FloatArray = field(default_factory=lambda: np.zeros(0))
    intercept: float = 0.0
    scaler: Standardiser = field(default_factory=Standardiser)

    def fit(self, x: FloatArray, y: FloatArray) -> RidgeHead:
        xs = self.scaler.fit(x).transform(x)
        y_mean = float(y.mean())
        yc = y - y_mean
        u, s, vt = np.linalg.svd(xs, full_matrices=False)
        uty = u.T @ yc
        best = (np.inf, self.alphas[0])
        for a in self.alphas:
            shrink = s**2 / (s**2 + a)
            fitted = u @ (shrink * uty)
            hat = (u**2) @ shrink
            # the intercept is fitted too: its leverage 1/n adds to every row's
            loo = (yc - fitted) / np.clip(1.0 - hat - 1.0 / len(y), 1e-9, None)
            err = float(np.mean(loo**2))
            if err < best[0]:
                best = (err, a)
        self.alpha = best[1]
        self.coef = vt.T @ ((s / (s**2 + self.alpha)) * uty)
        self.intercept = y_mean
        return self

    def predict(self, x: FloatArray) -> FloatArray:
        return self.scaler.transform(x) @ self.coef + self.intercept


def _logistic_fit(
    x: FloatArray, y: FloatArray, lam: float, start: FloatArray | None = None, max_iter: int = 50
) -> tuple[FloatArray, float]:
    """Minimise mean log-loss + lam/2 ||w||² (intercept unpenalised) by Newton's method, from
    ``start`` (weights then intercept; zeros by default). The penalty makes the Hessian positive
    definite, so every step is a plain solve; a step that does not lower the loss is halved."""
    n, d = x.shape
    xa = np.hstack([x, np.ones((n, 1))])
    penalty = np.full(d + 1, lam)
    penalty[d] = 1e-8  # keep the intercept (almost) free but the system solvable
    theta = np.zeros(d + 1) if start is None else start.copy()

    def objective(t: FloatArray) -> float:
        z = xa @ t
        return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * lam * float(t[:d] @ t[:d]))

    current = objective(theta)
    for _ in range(max_iter):
        z = xa @ theta
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
        grad = xa.T @ (p - y) / n + penalty * theta
        hess = (xa * (p * (1 - p))[:, None]).T @ xa / n + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-4:
            candidate = theta - size * step
            value = objective(candidate)
            if value <= current:
                break
            size /= 2
        else:
            break
        done = current - value < 1e-10
        theta, current = candidate, value
        if done:
            break
    return theta[:d], float(theta[d])


@dataclass
class LogisticHead:
    """L2 logistic regression of a label in [0, 1] (a soft label is a share of wins);
    lambda picked by inner k-fold log-loss."""

    lambdas: tuple[float, ...] = LOGISTIC_LAMBDAS
    inner_folds: int = 3
    seed: int = 0
    lam: float = 0.0
    coef: FloatArray = field(default_factory=lambda: np.zeros(0))
    intercept: float = 0.0
    scaler: Standardiser = field(default_factory=Standardiser)

    def fit(self, x: FloatArray, y: FloatArray) -> LogisticHead:
        xs = self.scaler.fit(x).transform(x)
        yb = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
        if yb.min() == yb.max():  # one label only: a constant probability
            self.coef = np.zeros(x.shape[1])
            p = float(np.clip(yb.mean(), 1e-6, 1 - 1e-6))
            self.intercept = float(np.log(p / (1 - p)))
            return self
        folds = np.random.default_rng(self.seed).permutation(len(yb)) % self.inner_folds
        # strongest penalty first, each fit warm-started from the previous one of its fold
        lambdas = sorted(self.lambdas, reverse=True)
        starts: list[FloatArray | None] = [None] * self.inner_folds
        losses = np.zeros(len(lambdas))
        for k in range(self.inner_folds):
            tr, va = folds != k, folds == k
            if yb[tr].min() == yb[tr].max():
                continue
            for j, lam in enumerate(lambdas):
                w, b = _logistic_fit(xs[tr], yb[tr], lam, starts[k])
                starts[k] = np.concatenate([w, [b]])
                z = xs[va] @ w + b
                losses[j] += float(np.sum(np.logaddexp(0.0, z) - yb[va] * z))
        best = (float(losses.min()), lambdas[int(np.argmin(losses))])
        self.lam = best[1]
        self.coef, self.intercept = _logistic_fit(xs, yb, self.lam)
        return self

    def predict_proba(self, x: FloatArray) -> FloatArray:
        z = self.scaler.transform(x) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


@dataclass
class SoftTargetMLP:
    """An MLP from features to a distribution over K options, trained on soft targets.

    Loss: cross-entropy against the target distribution (ZOOTER's reward distillation).
    One hidden layer (ReLU, dropout), Adam with weight decay, full batch, early stopping on a
    held-out tenth of the rows (the best epoch's weights are kept).
    """

    hidden: int = 128
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-2
    max_epochs: int = 300
    patience: int = 30
    seed: int = 0
    scaler: Standardiser = field(default_factory=Standardiser)
    _net: Any = None

    def fit(self, x: FloatArray, targets: FloatArray) -> SoftTargetMLP:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._fit(x, targets)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, x: FloatArray, targets: FloatArray) -> SoftTargetMLP:
        import torch

        gen = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        xs = torch.as_tensor(self.scaler.fit(x).transform(x), dtype=torch.float32)
        t = torch.as_tensor(targets, dtype=torch.float32)
        n = xs.shape[0]
        perm = torch.randperm(n, generator=gen)
        n_val = max(1, n // 10) if n >= 10 else 0
        va, tr = perm[:n_val], perm[n_val:]
        net = self._build(xs.shape[1], t.shape[1])
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        best_loss, best_state, since = float("inf"), None, 0
        for _ in range(self.max_epochs):
            net.train()
            opt.zero_grad()
            loss = -(t[tr] * torch.log_softmax(net(xs[tr]), dim=-1)).sum(-1).mean()
            loss.backward()
            opt.step()
            if n_val == 0:
                continue
            net.eval()
            with torch.no_grad():
                vl = float(-(t[va] * torch.log_softmax(net(xs[va]), dim=-1)).sum(-1).mean())
            if vl < best_loss - 1e-6:
                best_loss, since = vl, 0
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                since += 1
                if since >= self.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        self._net = net
        return self

    def _build(self, d_in: int, d_out: int) -> Any:
        import torch

        return torch.nn.Sequential(
            torch.nn.Linear(d_in, self.hidden),
            torch.nn.ReLU(),
            torch.nn.Dropout(self.dropout),
            torch.nn.Linear(self.hidden, d_out),
        )

    def predict_proba(self, x: FloatArray) -> FloatArray:
        import torch

        if self._net is None:
            raise RuntimeError("fit the MLP first")
        with torch.inference_mode():
            logits = self._net(torch.as_tensor(self.scaler.transform(x), dtype=torch.float32))
            return torch.softmax(logits, dim=-1).double().numpy()
