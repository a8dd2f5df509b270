"""Evaluation outputs: a JSON document with every number and curve, and a Markdown report.

JSON (``results.json``): ``{"routet2i_version", "settings", "results": [PairResult…]}`` where a
pair result holds its views (prompts, both tiers' mean quality in z-units of the dataset and, per
metric, in the metric's own units; effect size; whether PGR is meaningful; win/tie shares), and per
candidate and view the summary (APGR, PGR at 30 % and 50 %, the cloud share reaching 95 % of the
all-cloud gain, mean quality, quality and win rate at 30 % / 50 %), the bootstrap interval on APGR
and the curve itself (``shares``, ``quality``, ``pgr``, ``win_rate``).

Markdown (``report.md``): one section per (pair, protocol) with the pair's facts and one table per
view. Where the gap between the tiers is too small for PGR to mean anything the PGR columns say
"n/m" and the section says why; quality and win rates are shown in every case.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from routet2i import __version__
from routet2i.evaluation.harness import CandidateResult, PairResult, ViewInfo, ViewResult


def _clean(x: Any) -> Any:
    """JSON-safe: numpy → Python, non-finite floats → None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        f = float(x)
        return f if math.isfinite(f) else None
    return x


def view_result_json(v: ViewResult) -> dict[str, Any]:
    c = v.curve
    with np.errstate(invalid="ignore", divide="ignore"):
        pgr = c.pgr() if v.summary.apgr is not None else None
    return {
        "summary": asdict(v.summary),
        "apgr_ci95": list(v.apgr_ci) if v.apgr_ci is not None else None,
        "curve": {
            "shares": c.shares,
            "quality": c.quality,
            "pgr": pgr,
            "win_rate": c.win_rate,
        },
    }


def candidate_json(c: CandidateResult) -> dict[str, Any]:
    return {
        "name": c.name,
        "description": c.description,
        "fixed_share": c.fixed_share,
        "warnings": c.warnings,
        "train_pairs": c.train_pairs,
        "training": c.training,
        "views": {name: view_result_json(v) for name, v in c.views.items()},
    }


def pair_json(r: PairResult) -> dict[str, Any]:
    return {
        "pair": r.pair,
        "protocol": r.protocol,
        "splits": r.splits,
        "train_pairs": r.train_pairs,
        "views": [asdict(v) for v in r.views],
        "candidates": [candidate_json(c) for c in r.candidates],
    }


def results_json(results: Sequence[PairResult], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    settings = asdict(results[0].settings) if results else {}
    doc = {
        "routet2i_version": __version__,
        "settings": settings,
        **(extra or {}),
        "results": [pair_json(r) for r in results],
    }
    return dict(_clean(doc))


def write_json(path: Path, results: Sequence[PairResult], extra: dict[str, Any] | None = None) -> None:
    path.write_text(json.dumps(results_json(results, extra), indent=1) + "\n", encoding="utf-8")


# -- Markdown ------------------------------------------------------------------------------------


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/m" if x is None else f"{100 * x:.{digits}f} %"


def _num(x: float | None, digits: int = 3) -> str:
    return "n/m" if x is None else f"{x:.{digits}f}"


def _view_header(info: ViewInfo) -> str:
    raw = ""
    if info.raw_q_edge is not None and info.raw_q_cloud is not None:
        raw = f" (raw scale: edge {info.raw_q_edge:.3f}, cloud {info.raw_q_cloud:.3f})"
    line = (
        f"**{info.name}** — {info.n_prompts} prompts; mean quality (z-units of the dataset) edge "
        f"{info.q_edge:+.3f}, cloud {info.q_cloud:+.3f}{raw}; gap effect size {info.effect_size:+.2f}; "
        f"cloud better on {_pct(info.cloud_wins)}, tie {_pct(info.ties)}, edge better {_pct(info.edge_wins)}."
    )
    if not info.meaningful:
        line += (
            f"\n\n> The cloud is not clearly better here (effect size {info.effect_size:+.2f}, "
            f"z {info.effect_size * info.n_prompts**0.5:+.1f}; PGR needs d ≥ the threshold and z ≥ 2): "
            "PGR would divide by noise, so it is not reported (n/m). Read the absolute quality and the win "
            "rates instead."
        )
    return line


def view_table(result: PairResult, view: str) -> str:
    head = (
        "| router | APGR [95 % CI] | PGR@30 % | PGR@50 % | share for 95 % gain | mean Q | Q@30 % | Q@50 % "
        "| win@30 % | win@50 % |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for c in result.candidates:
        v = c.views.get(view)
        if v is None:
            continue
        s = v.summary
        if c.fixed_share is not None:
            lines.append(
                f"| {c.name} (cloud share {_pct(c.fixed_share, 0)}) | – | – | – | – | {s.mean_quality:+.3f} | "
                f"{s.quality_30:+.3f} | {s.quality_50:+.3f} | {_pct(s.win_rate_30)} | {_pct(s.win_rate_50)} |"
            )
            continue
        ci = f" [{v.apgr_ci[0]:.3f}, {v.apgr_ci[1]:.3f}]" if v.apgr_ci is not None and s.apgr is not None else ""
        lines.append(
            f"| {c.name} | {_num(s.apgr)}{ci} | {_pct(s.pgr_30)} | {_pct(s.pgr_50)} | {_pct(s.share_95)} | "
            f"{s.mean_quality:+.3f} | {s.quality_30:+.3f} | {s.quality_50:+.3f} | {_pct(s.win_rate_30)} | "
            f"{_pct(s.win_rate_50)} |"
        )
    return "\n".join(lines)


def pair_markdown(result: PairResult, plot_name: str | None = None) -> str:
    parts = [f"## {result.pair} — {result.protocol}"]
    splits = ", ".join(f"{s['name']} ({s['test_prompts']})" for s in result.splits)
    parts.append(f"Scoring groups: {splits}.")
    if result.train_pairs:
        parts.append("Learned routers trained per group on: " + ", ".join(f"`{p}`" for p in result.train_pairs) + ".")
    warnings = [f"- **{c.name}**: {w}" for c in result.candidates for w in c.warnings]
    if warnings:
        parts.append("**Warnings**\n\n" + "\n".join(warnings))
    for info in result.views:
        parts.append(_view_header(info))
        parts.append(view_table(result, info.name))
    if plot_name:
        parts.append(f"![quality against cloud share]({plot_name})")
    return "\n\n".join(parts)


def summary_table(results: Sequence[PairResult], field: str = "apgr") -> str:
    """One row per (pair, protocol), one column per ranking router: ``field`` of the aggregate
    view (``apgr``, ``pgr_50``, …); n/m where the gap is not meaningful."""
    names: list[str] = []
    for r in results:
        names.extend(c.name for c in r.candidates if c.fixed_share is None and c.name not in names)
    head = "| pair | protocol | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names)
    lines = [head]
    for r in results:
        agg = r.views[0].name
        cells = []
        for n in names:
            c = next((c for c in r.candidates if c.name == n), None)
            value = None if c is None else getattr(c.views[agg].summary, field)
            cells.append("–" if c is None else (_pct(value) if field.startswith("pgr") else _num(value)))
        lines.append(f"| {r.pair} | {r.protocol} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(results: Sequence[PairResult], plots: dict[tuple[str, str], str], command: str = "") -> str:
    intro = [
        "# Routing evaluation",
        "",
        "Quality against cloud share: prompts are sent to the cloud in the order the router ranks them "
        "(most in need first); Q(c) is the mean quality at cloud share c, in z-units of the dataset "
        "(each metric standardised over every model and prompt of the dataset). PGR(c) = (Q(c) − Q_edge) / "
        "(Q_cloud − Q_edge); APGR is its mean over c = 0, 1 %, …, 100 % (random = 0.5 exactly). "
        "'share for 95 % gain' is the smallest cloud share whose PGR reaches 0.95. win@c: the share of "
        "prompts sent to a tier at least as good as the other. Under k-fold each fold is routed on its own "
        "(its scores come from the router trained without it). n/m: not meaningful (see the note).",
    ]
    if command:
        intro += ["", f"Command: `{command}`"]
    summary = [
        "## Summary (aggregate view)",
        "APGR:",
        summary_table(results, "apgr"),
        "PGR at 50 % cloud share:",
        summary_table(results, "pgr_50"),
    ]
    body = [pair_markdown(r, plots.get((r.pair, r.protocol))) for r in results]
    return "\n".join(intro) + "\n\n" + "\n\n".join(summary + body) + "\n"
