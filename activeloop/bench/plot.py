"""Learning-curve plots: mean ± std over seeds per strategy, with the full-data ceiling."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from activeloop.bench.curve import Curve

__all__ = ["plot_curves"]

_PANELS = (("macro_f1", "macro-F1"), ("minority_recall", "minority recall"), ("minority_found", "minority labels found"))


def plot_curves(curves: Sequence[Curve], path: str | Path, *, title: str | None = None) -> Path:
    """Write a PNG with one row per data set and a panel per metric (macro-F1, minority recall, found).

    Each line is a (strategy, init) group's mean over seeds, with a ± std band; the macro-F1 panel
    draws the mean full-pool ceiling of each model as a dashed line, and marks with a ▼ where the
    default stopping criterion stops (mean over seeds; a seed that never stops counts as the budget),
    or says in the legend that it never stopped before the budget.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    datasets = list(dict.fromkeys(c.dataset for c in curves))
    fig, axes = plt.subplots(len(datasets), len(_PANELS), figsize=(5.2 * len(_PANELS), 4.0 * len(datasets)),
                             squeeze=False)
    for r, ds in enumerate(datasets):
        groups: dict[str, list[Curve]] = {}
        for c in curves:
            if c.dataset == ds:
                key = c.strategy if c.init == "random" else f"{c.strategy} ({c.init})"
                groups.setdefault(key, []).append(c)
        ceilings: dict[str, list[float]] = {}
        for c in curves:
            if c.dataset == ds and c.ceiling is not None:
                ceilings.setdefault(c.model, []).append(c.ceiling)
        for j, (metric, label) in enumerate(_PANELS):
            ax = axes[r][j]
            for k, (name, cs) in enumerate(groups.items()):
                n = min(len(c.labels) for c in cs)
                x = cs[0].labels[:n]
                Y = np.stack([c.metrics[metric][:n] for c in cs])
                mean, std = np.nanmean(Y, axis=0), np.nanstd(Y, axis=0)
                color = f"C{k % 10}"
                ax.plot(x, mean, color=color, label=f"{name} (n={len(cs)})", lw=1.6)
                ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15, lw=0)
                measured = [c for c in cs if c.stop is not None]
                stopped = sum(c.stop_labels() is not None and c.stop_labels() < c.labels[-1] for c in measured)
                if metric == "macro_f1" and stopped:
                    at = np.mean([c.labels[-1] if c.stop_labels() is None else c.stop_labels() for c in measured])
                    f1 = np.mean([c.at_stop() for c in measured])
                    ax.plot([at], [f1], marker="v", ms=9, color=color, mec="black", ls="none",
                            label=f"{name}: stops at {at:.0f} labels ({stopped}/{len(measured)} seeds, F1 {f1:.3f})")
                elif metric == "macro_f1" and measured:
                    ax.plot([], [], ls="none", label=f"{name}: no stop before the budget")
            if metric == "macro_f1":
                for k, (m, vals) in enumerate(ceilings.items()):
                    ax.axhline(float(np.mean(vals)), color="0.25", ls=("--", ":", "-.")[k % 3], lw=1,
                               label=f"ceiling ({m} model, full pool) {np.mean(vals):.3f}")
            ax.set_xlabel("labels")
            ax.set_ylabel(label)
            ax.set_title(f"{ds}: {label}")
            ax.grid(alpha=0.3)
            if j == 0:
                ax.legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
