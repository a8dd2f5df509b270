"""``routet2i learn``'s loop: shadow store → CLIP scores → retrain → guarded promotion → reload.

One :meth:`LearnService.cycle`:

1. reads the shadow store's manifest (``routet2i.pipeline.shadow_store``: two lines a pair) and
   takes in every complete pair not yet in the :class:`~routet2i.learning.pair_log.PairLog`;
2. scores both images with the CLIP multi-metric scorer; a missing or unreadable image skips its
   pair, listed in ``skipped.jsonl`` with the reason, and never stops the loop;
3. when ``retrain_every`` new pairs have come, fits a candidate on top of the *base* router with
   the :class:`~routet2i.learning.learner.Learner` (the code ``routet2i replay`` measures) and
   decides by its promotion rule;
4. a promoted candidate becomes a new version (:class:`~routet2i.learning.versions.RouterVersions`),
   calibrated on the corrected PRŜ of the store's recent prompts (a sample of live traffic) for
   the configured budgets, made live, and the gateway is told to reload it (at the end of
   every cycle, until it has: see :meth:`LearnService._sync_gateway`).

Every step is idempotent on restart (see :mod:`routet2i.learning.pair_log`): the learner's live
router and how many pairs it saw are read back from the live version's lineage.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from routet2i.learning.learner import Learner, LearnerPolicy, Retrain
from routet2i.learning.pair_log import PairLog, ScoredPair, tier_quality
from routet2i.learning.versions import RouterVersions
from routet2i.pipeline.manifest import ManifestEntry, read_manifest
from routet2i.pipeline.store import MANIFEST
from routet2i.predictor.correction import Correction
from routet2i.routing.tiers import Tiers

log = logging.getLogger("routet2i.learning")

#: the calibration uses at most this many of the store's most recent prompts.
RECENT_PROMPTS = 2000
DEFAULT_BUDGETS = (0.1, 0.2, 0.3, 0.4, 0.5)

#: scores manifest entries: image path → {metric: score}, and the (path, reason) of those skipped.
Scorer = Callable[[list[ManifestEntry]], tuple[dict[Path, dict[str, float]], list[tuple[Path, str]]]]


@dataclass
class CycleReport:
    """What one cycle did."""

    new_pairs: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    pairs_total: int = 0
    retrain: Retrain | None = None
    promoted: str | None = None
    #: Why the gateway could not be reloaded with the live version (tried again next cycle).
    reload_error: str | None = None


def shadow_pairs(store: Path, tiers: Tiers) -> list[tuple[str, ManifestEntry, ManifestEntry]]:
    """The complete pairs of the shadow store ``store``: (pair id, cheap tier's entry, expensive's)."""
    manifest = store / MANIFEST
    if not manifest.is_file() or manifest.stat().st_size == 0:
        return []
    by_pair: dict[str, dict[str, ManifestEntry]] = {}
    for entry in read_manifest(manifest):
        pair_id, tier = entry.extra.get("pair_id"), entry.extra.get("tier")
        if isinstance(pair_id, str) and isinstance(tier, str):
            by_pair.setdefault(pair_id, {})[tier] = entry
    return [
        (pid, images[tiers.cheap], images[tiers.expensive])
        for pid, images in by_pair.items()
        if tiers.cheap in images and tiers.expensive in images
    ]


class LearnService:
    """The learning loop over one shadow store and one versions folder (see the module)."""

    def __init__(
        self,
        *,
        store: Path,
        versions: RouterVersions,
        base: Path,
        scorer: Scorer,
        policy: LearnerPolicy,
        budgets: Sequence[float] = DEFAULT_BUDGETS,
        reload: Callable[[Path], None] | None = None,
        tiers: Tiers | None = None,
        device: str = "cpu",
    ) -> None:
        self.store, self.versions, self.base = Path(store), versions, Path(base)
        self.log = PairLog(versions.root / "learner")
        self.scorer, self.policy, self.budgets = scorer, policy, tuple(budgets)
        self.reload, self.tiers, self.device = reload, tiers or Tiers(), device
        self._base_router: Any = None

    # ----------------------------------------------------------------------------- one cycle
    def cycle(self) -> CycleReport:
        report = CycleReport()
        taken = self.log.taken()
        new = [p for p in shadow_pairs(self.store, self.tiers) if p[0] not in taken]
        if new:
            scores, failed = self.scorer([e for _, cheap, expensive in new for e in (cheap, expensive)])
            reasons = dict(failed)
            scored: list[ScoredPair] = []
            for pair_id, cheap, expensive in new:
                missing = [e.image for e in (cheap, expensive) if e.image not in scores]
                if missing:
                    why = reasons.get(missing[0], "not scored")
                    self.log.skip(pair_id, str(missing[0]), why)
                    report.skipped.append((pair_id, why))
                    log.warning("shadow pair %s skipped: %s: %s", pair_id, missing[0], why)
                    continue
                scored.append(ScoredPair(pair_id, cheap.prompt, scores[cheap.image], scores[expensive.image]))
            self.log.add(scored)
            report.new_pairs = len(scored)
        pairs = self.log.pairs()
        report.pairs_total = len(pairs)
        last = int(self.log.state().get("last_retrain_at", 0))
        if len(pairs) - last >= self.policy.retrain_every:
            report.retrain, report.promoted = self._retrain(pairs, last)
            self.log.save_state(last_retrain_at=len(pairs))
        report.reload_error = self._sync_gateway()
        return report

    def _sync_gateway(self) -> str | None:
        """Reload the gateway with the live version unless it was already reloaded with it.

        The version the gateway was last reloaded with is kept in the learner's state, so a
        learner killed (or a reload refused) between making a version live and the gateway's
        answer reloads it on its next cycle: a promotion is never lost on the way to the gateway.
        A reload that fails (the gateway refused it, or is unreachable) is logged and returned, and
        the loop goes on: the learner outlives a gateway restart."""
        if self.reload is None:
            return None
        live = self.versions.live()
        if live is None or self.log.state().get("reloaded") == live:
            return None
        try:
            self.reload(self.versions.path(live))
        except Exception as exc:  # the gateway's answer, or no answer: retried next cycle
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("reloading the gateway with %s failed (tried again next cycle): %s", live, error)
            return error
        self.log.save_state(reloaded=live)
        return None

    # ----------------------------------------------------------------------------- retraining
    def _base(self) -> Any:
        if self._base_router is None:
            from routet2i.predictor.inference import CheckpointPredictor

            self._base_router = CheckpointPredictor(self.base, device=self.device)
        return self._base_router

    def _features(self, prompts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        from routet2i.evaluation.embeddings import embed
        from routet2i.predictor.correction import prior_scores

        base = self._base()
        prs, _ = base.scores(prompts)
        return prior_scores(np.asarray(prs)), embed(prompts, base.encoder)

    def _live(self) -> tuple[Correction | None, int]:
        """The live version's correction and how many pairs it trained on (None, 0: the base)."""
        from routet2i.predictor.checkpoint import read_meta

        version = self.versions.live()
        if version is None:
            return None, 0
        meta = read_meta(self.versions.path(version))
        if meta.correction is None:
            return None, 0
        correction = Correction.from_dict(
            meta.correction, dim=self._base().encoder.dim, source=f"{version}: correction"
        )
        return correction, int(meta.training.get("learning", {}).get("pairs", 0))

    def _retrain(self, pairs: list[ScoredPair], last: int) -> tuple[Retrain, str | None]:
        prompts = [p.prompt for p in pairs]
        prior, x = self._features(prompts)
        qe, qc = tier_quality(pairs)
        learner = Learner(self.policy, last_retrain_at=last)
        learner.add(prior, x, qe, qc)
        learner.live, learner.live_trained_on = self._live()
        step = learner.retrain()
        self.log.save_state(last_decision={"pairs": len(pairs), **step.decision.to_dict()})
        log.info("retrained on %d shadow pairs: %s", len(pairs), step.decision.reason)
        if not step.decision.promote or learner.live is None:
            return step, None
        data_id = "sha1:" + hashlib.sha1("\n".join(p.pair_id for p in pairs).encode()).hexdigest()
        version = self.versions.add(
            self.base,
            learner.live,
            calibration=None,
            lineage={"pairs": len(pairs), "shadow_data_id": data_id, "validation": step.decision.to_dict()},
        )
        self._calibrate(version, prompts[-RECENT_PROMPTS:])
        self.versions.set_live(version, **step.decision.to_dict())
        log.info("promoted %s: %s", version, step.decision.reason)
        return step, version  # the gateway is reloaded by the cycle (_sync_gateway)

    def _calibrate(self, version: str, prompts: list[str]) -> None:
        from routet2i.predictor.calibration import calibrate, prompts_id
        from routet2i.predictor.checkpoint import read_meta, write_meta
        from routet2i.predictor.inference import CheckpointPredictor

        path = self.versions.path(version)
        prs, _ = CheckpointPredictor(path, encoder=self._base().encoder, device=self.device).scores(prompts)
        meta = read_meta(path)
        meta.calibration = calibrate(
            prs, self.budgets, prompts_id(prompts), source="learner: recent shadow prompts"
        ).to_dict()
        write_meta(path, meta)
