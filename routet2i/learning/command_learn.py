"""The learner service: learn the deployment's own pair from the gateway's shadow pairs.

``routet2i learn run`` watches the shadow store (``learning.store`` of the gateway), scores new
pairs with the CLIP multi-metric scorer, retrains on top of the base router every
``--retrain-every`` pairs, promotes a candidate only when it beats the live router on pairs
neither trained on, writes it as a new version under ``--versions`` and reloads the gateway
(``--gateway URL``, with the admin key from the environment variable ``--admin-key-env``).
``routet2i learn status`` prints the live version, the pairs seen and the last decision;
``routet2i learn rollback [VERSION]`` makes an earlier version live again (and reloads).

Examples:
  routet2i learn run --store runs/shadow --versions runs/router-versions --gateway http://127.0.0.1:8000
  routet2i learn status --versions runs/router-versions
  routet2i learn rollback --versions runs/router-versions --gateway http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HELP = "learn the deployment's own pair from shadow pairs (run | status | rollback)"


def _versions_and_gateway(p: argparse.ArgumentParser) -> None:
    p.add_argument("--versions", type=Path, required=True, help="the learner's versions folder")
    p.add_argument("--gateway", default=None, help="gateway URL to reload after a promotion or rollback")
    p.add_argument(
        "--admin-key-env", default="ROUTET2I_ADMIN_KEY", help="environment variable holding the gateway's admin key"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from routet2i.predictor.correction import CORRECTION_KINDS
    from routet2i.quality.command import add_clip_arguments

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("run", help="watch the shadow store, score, retrain, promote")
    p.add_argument("--store", type=Path, required=True, help="the gateway's shadow store folder")
    _versions_and_gateway(p)
    p.add_argument("--base", type=Path, default=None, help="base router checkpoint (default: the packaged one)")
    p.add_argument("--retrain-every", type=int, default=50, help="retrain after N new pairs (default 50)")
    p.add_argument("--fit", choices=CORRECTION_KINDS, default="blend", help="what is fitted (default blend)")
    p.add_argument("--margin", type=float, default=0.0, help="APGR a candidate must win by (default 0)")
    p.add_argument("--confidence", type=float, default=0.95, help="one-sided confidence of a win (default 0.95)")
    p.add_argument("--budgets", default="0.1,0.2,0.3,0.4,0.5", help="cloud shares to calibrate for")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between cycles (default 60)")
    p.add_argument("--once", action="store_true", help="run one cycle and exit")
    add_clip_arguments(p)
    p = sub.add_parser("status", help="the live version, pairs seen, the last decision")
    p.add_argument("--versions", type=Path, required=True, help="the learner's versions folder")
    p = sub.add_parser("rollback", help="make an earlier version live again")
    p.add_argument("version", nargs="?", default=None, help="the version (default: the one live before)")
    _versions_and_gateway(p)


def run(args: argparse.Namespace) -> int:
    from routet2i.learning.versions import RouterVersions

    versions = RouterVersions(args.versions)
    if args.action == "status":
        print(json.dumps(status(versions), indent=2))
        return 0
    reload = gateway_reloader(args.gateway, os.environ.get(args.admin_key_env)) if args.gateway else None
    if args.action == "rollback":
        version = versions.rollback(args.version)
        print(f"{version} is live again", file=sys.stderr)
        if reload is not None:
            reload(versions.path(version))
        return 0
    return _run(args, versions, reload)


def status(versions: Any) -> dict[str, Any]:
    """What ``routet2i learn status`` prints."""
    from routet2i.learning.pair_log import PairLog

    log = PairLog(versions.root / "learner")
    decisions = [e for e in versions.history() if e["event"] in ("promoted", "rolled_back", "decided")]
    return {
        "live": versions.live() or "the base router",
        "versions": versions.versions(),
        "pairs_seen": len(log.pairs()),
        "pairs_skipped": len(log.skipped()),
        "last_retrain_at": log.state().get("last_retrain_at", 0),
        "last_decision": log.state().get("last_decision"),
        "last_event": decisions[-1] if decisions else None,
    }


def gateway_reloader(url: str, key: str | None) -> Callable[[Path], None]:
    """A function that makes the gateway at ``url`` load a checkpoint folder (``POST /v1/admin/reload``)."""

    def reload(path: Path) -> None:
        import httpx

        from routet2i.errors import Routet2iError

        headers = {"X-Admin-Key": key} if key else {}
        r = httpx.post(
            f"{url.rstrip('/')}/v1/admin/reload", json={"checkpoint": str(path)}, headers=headers, timeout=120
        )
        if r.status_code != 200:
            raise Routet2iError(f"the gateway at {url} refused the reload ({r.status_code}): {r.text[:300]}")
        print(f"gateway {url} now serves {path}", file=sys.stderr)

    return reload


def _run(args: argparse.Namespace, versions: Any, reload: Callable[[Path], None] | None) -> int:
    from routet2i.errors import ConfigError
    from routet2i.learning.learner import LearnerPolicy
    from routet2i.learning.promotion import PromotionRule
    from routet2i.learning.service import LearnService
    from routet2i.predictor.inference import resolve_checkpoint
    from routet2i.quality.command import build_scorer
    from routet2i.quality.score_run import score_entries

    try:
        budgets = [float(b) for b in args.budgets.split(",") if b.strip()]
    except ValueError as exc:
        raise ConfigError(f"--budgets: {exc}") from exc
    scorer = build_scorer(args)

    def score(entries: list[Any]) -> tuple[dict[Path, dict[str, float]], list[tuple[Path, str]]]:
        result = score_entries(entries, scorer, on_error="skip")
        scores: dict[Path, dict[str, float]] = {}
        for row in result.table:
            scores.setdefault(Path(row.image or ""), {})[row.metric] = row.score
        found = {e.image for e in entries if e.image.is_file()}
        failed = [(s.path, s.reason) for s in result.skipped]
        failed += [(e.image, "image not found") for e in entries if e.image not in found]
        return scores, failed

    service = LearnService(
        store=args.store,
        versions=versions,
        base=resolve_checkpoint(args.base),
        scorer=score,
        policy=LearnerPolicy(
            retrain_every=args.retrain_every,
            fit=args.fit,
            rule=PromotionRule(margin=args.margin, confidence=args.confidence),
        ),
        budgets=budgets,
        reload=reload,
        device=args.device,
    )
    while True:
        report = service.cycle()
        line = f"{report.new_pairs} new pairs ({len(report.skipped)} skipped), {report.pairs_total} in all"
        if report.retrain is not None:
            line += f"; retrained: {report.retrain.decision.reason}"
        if report.promoted:
            line += f"; {report.promoted} is live"
        if report.reload_error:
            line += f"; the gateway was not reloaded (next cycle tries again): {report.reload_error}"
        print(line, file=sys.stderr)
        if args.once:
            return 1 if report.reload_error else 0
        time.sleep(args.interval)
