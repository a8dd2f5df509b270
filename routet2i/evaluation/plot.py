"""PNG plots of quality against cloud share (matplotlib, Agg backend: no display needed).

One figure per (pair, protocol), one panel per quality view: every ranking router's Q(c) curve,
the random expectation dashed, the oracle dotted, all-edge / all-cloud as markers at 0 % and 100 %.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from routet2i.evaluation.harness import PairResult

_STYLE = {"random": ("--", "grey"), "oracle": (":", "black")}


def can_plot() -> bool:
    """Whether matplotlib can be imported (it comes with the ``dev`` extra); if not, one warning
    saying how to get the plots (the numbers are written either way)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        logging.getLogger("routet2i").warning(
            "matplotlib is not installed: no plots (pip install matplotlib to draw them; --no-plot to skip)"
        )
        return False
    return True


def plot_name(result: PairResult) -> str:
    """A file name for the plot of ``result`` (pair and protocol, filesystem-safe)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{result.pair}-{result.protocol}").strip("_")
    return f"curve-{slug}.png"


def plot_pair(result: PairResult, path: Path) -> Path:
    """Draw ``result`` into ``path`` (PNG) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = [v.name for v in result.views]
    fig, axes = plt.subplots(1, len(views), figsize=(5.2 * len(views), 4.2), squeeze=False)
    for ax, info in zip(axes[0], result.views, strict=True):
        for cand in result.candidates:
            vr = cand.views.get(info.name)
            if vr is None:
                continue
            c = vr.curve
            if cand.fixed_share is not None:
                ax.plot([cand.fixed_share * 100], [c.quality[0]], "s", color="black", markersize=6)
                ax.annotate(
                    cand.name,
                    (cand.fixed_share * 100, c.quality[0]),
                    fontsize=7,
                    textcoords="offset points",
                    xytext=(4, -10 if cand.fixed_share else 6),
                )
                continue
            style, color = _STYLE.get(cand.name, ("-", None))
            label = cand.name
            if vr.summary.apgr is not None:
                label += f" ({vr.summary.apgr:.3f})"
            ax.plot(c.shares * 100, c.quality, style, color=color, label=label, linewidth=1.4)
        ax.set_title(f"{info.name}" + ("" if info.meaningful else " (gap not meaningful)"), fontsize=9)
        ax.set_xlabel("cloud share (%)")
        ax.set_ylabel("mean quality (z-units)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right", title="router (APGR)", title_fontsize=7)
    fig.suptitle(f"{result.pair} — {result.protocol}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
