"""A project report: PNG plots of every round (eval metrics, minority found, labels per hour, stopping) and report.md.

``write_report(pool, out_dir)`` reads only what the store recorded; it never trains or scores.
With no eval labels the metric plots say so instead of drawing a score nobody measured.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from activeloop.errors import ActiveloopError
from activeloop.stopping import Criterion, Verdict, default_criterion, replay, snapshots, verdict, watched_criteria
from activeloop.store import Pool

__all__ = ["Report", "write_report"]

NO_EVAL = "no eval labels yet: nothing measured.\nLabel some eval-split examples (in the app press e) to see scores."
_METRICS = (("macro_f1", "macro-F1"), ("balanced_accuracy", "balanced accuracy"), ("minority_recall", "minority recall"))


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote, and the verdict it shows."""

    markdown: Path
    plots: dict[str, Path]
    verdict: Verdict


def write_report(pool: Pool, out_dir: str | Path, *, criterion: Criterion | None = None) -> Report:
    """Write ``report.md`` and its PNGs into ``out_dir`` (created if missing; files replaced whole)."""
    out = Path(out_dir)
    if not out.parent.is_dir():
        raise ActiveloopError(f"{out.parent}: no such directory")
    if out.exists() and not out.is_dir():
        raise ActiveloopError(f"{out}: exists and is not a directory")
    out.mkdir(exist_ok=True)
    rounds = pool.rounds()
    labels = pool.export_labels()
    v = verdict(rounds, criterion)
    tmp = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    try:
        import matplotlib

        matplotlib.use("Agg")
        plots = {
            "eval_metrics": _plot_eval(rounds, v, tmp / "eval_metrics.png"),
            "minority_found": _plot_minority(pool, rounds, labels, tmp / "minority_found.png"),
            "labels_per_hour": _plot_per_hour(labels, tmp / "labels_per_hour.png"),
            "stopping": _plot_stopping(rounds, v, criterion, tmp / "stopping.png"),
        }
        (tmp / "report.md").write_text(_markdown(pool, rounds, labels, v, plots), encoding="utf-8")
        final = {k: out / p.name for k, p in plots.items()}
        for p in [*plots.values(), tmp / "report.md"]:
            os.replace(p, out / p.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Report(out / "report.md", final, v)


# ---------------------------------------------------------------- plots
def _figure(n_panels: int, width: float = 5.0, height: float = 3.6):
    """One panel, or a grid two panels wide."""
    import matplotlib.pyplot as plt

    cols = min(n_panels, 2)
    rows = -(-n_panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    return fig, list(axes.ravel())


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _say(ax, text: str) -> None:
    """An empty panel that says why it is empty."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _stop_line(ax, rounds: list[Any], v: Verdict) -> None:
    """A vertical line where the verdict's run of stops began."""
    at = next((r.n_labels for r in rounds if r.number == v.since_round), None)
    if at is not None:
        ax.axvline(at, color="C2", lw=1.5, label=f"default stops (round {v.since_round})")


def _plot_eval(rounds: list[Any], v: Verdict, path: Path) -> Path:
    measured = [r for r in rounds if "macro_f1" in r.metrics]
    fig, axes = _figure(4)
    panels = [*(label for _, label in _METRICS), "minority PR-AUC"]
    for ax, title in zip(axes, panels):
        ax.set_title(title)
        if not measured:
            _say(ax, NO_EVAL if ax is axes[0] else "no eval labels yet")
            continue
        x = [r.n_labels for r in measured]
        if title == "minority PR-AUC":
            names = sorted({c for r in measured for c in r.metrics.get("pr_auc", {})})
            for k, c in enumerate(names):
                ax.plot(x, [r.metrics.get("pr_auc", {}).get(c, np.nan) for r in measured], "o-", ms=3, color=f"C{k}",
                        label=f"class {c}")
        else:
            key = next(k for k, label in _METRICS if label == title)
            ax.plot(x, [r.metrics[key] for r in measured], "o-", ms=3, color="C0")
        _stop_line(ax, rounds, v)
        if ax.get_legend_handles_labels()[0]:  # nothing to name before a stop line or a PR-AUC class
            ax.legend(fontsize=8, loc="lower right")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("pool labels")
        ax.grid(alpha=0.3)
    if measured:
        fig.suptitle(f"on the eval split ({measured[-1].metrics.get('n_eval', '?')} labeled examples, never queried)",
                     fontsize=10)
    return _save(fig, path)


def _minority(rounds: list[Any], labels: list[dict[str, Any]], classes: list[str]) -> list[str]:
    """The minority classes the latest round used, else the rarest labeled class."""
    for r in reversed(rounds):
        names = r.metrics.get("minority") or (r.metrics.get("stopping") or {}).get("minority")
        if names:
            return list(names)
    counts = Counter(row["label"] for row in labels)
    return [min(classes, key=lambda c: (counts.get(c, 0), classes.index(c)))] if counts else []


def _pool_sequence(labels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pool-split labels given by a person or oracle, in the order they were given."""
    rows = [r for r in labels if r["split"] == "pool" and r["source"] != "import"]
    return sorted(rows, key=lambda r: (r["labeled_at"], r["example_id"]))


def _plot_minority(pool: Pool, rounds: list[Any], labels: list[dict[str, Any]], path: Path) -> Path:
    fig, (ax,) = _figure(1, width=6.4, height=4.0)
    seq = _pool_sequence(labels)
    minority = _minority(rounds, labels, pool.classes)
    ax.set_title("minority examples found")
    if not seq:
        _say(ax, "no pool labels yet")
        return _save(fig, path)
    x = np.arange(1, len(seq) + 1)
    eval_counts = pool.class_counts("eval")
    n_eval = sum(eval_counts.values())
    for k, c in enumerate(minority):
        ax.step(x, np.cumsum([r["label"] == c for r in seq]), where="post", color=f"C{k}", label=f"class {c}")
        if n_eval:
            share = eval_counts[c] / n_eval
            ax.plot(x, x * share, ls="--", color=f"C{k}", lw=1,
                    label=f"class {c} by random sampling ({share:.1%} of the eval split)")
    ax.set_xlabel("pool labels, in the order given")
    ax.set_ylabel("minority labels so far")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def _plot_per_hour(labels: list[dict[str, Any]], path: Path) -> Path:
    fig, (ax,) = _figure(1, width=7.0, height=4.0)
    ax.set_title("labels per annotator per hour (imports left out)")
    rows = [r for r in labels if r["source"] != "import"]
    if not rows:
        _say(ax, "no labels from an annotator yet")
        return _save(fig, path)
    hour = [datetime.fromisoformat(r["labeled_at"]).strftime("%Y-%m-%d %H:00") for r in rows]
    hours = sorted(set(hour))
    annotators = sorted({r["annotator"] for r in rows})
    counts = Counter((h, r["annotator"]) for h, r in zip(hour, rows))
    width = min(0.8, 0.25 * len(hours)) / len(annotators)
    for k, a in enumerate(annotators):
        ax.bar(np.arange(len(hours)) + (k - (len(annotators) - 1) / 2) * width, [counts[(h, a)] for h in hours], width,
               color=f"C{k}", label=a)
    ax.set_xticks(np.arange(len(hours)), hours, rotation=30 if len(hours) > 3 else 0, ha="right" if len(hours) > 3 else "center",
                  fontsize=8)
    ax.set_xlim(-0.75, len(hours) - 0.25)
    ax.set_ylabel("labels (UTC hour)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return _save(fig, path)


_THRESHOLD = {"kappa": "threshold", "change": "threshold", "uncertainty": "threshold", "minority_plateau": "patience"}
_TITLES = {
    "kappa": "κ between consecutive rounds (window mean)",
    "change": "share of stop-set predictions changed",
    "uncertainty": "mean normalised entropy on the stop set",
    "minority_plateau": "labels since the last new minority",
}


def _plot_stopping(rounds: list[Any], v: Verdict, criterion: Criterion | None, path: Path) -> Path:
    snaps = snapshots(rounds)
    watched = watched_criteria()
    fig, axes = _figure(len(watched))
    for ax, c in zip(axes, watched):
        ax.set_title(_TITLES[c.name], fontsize=10)
        _, values, _ = replay(snaps, c)
        pts = [(s.n_labels, val[c.name]) for s, val in zip(snaps, values) if val[c.name] is not None]
        if not pts:
            _say(ax, "needs 2 rounds with stop-set\npredictions" if snaps else "no rounds yet")
            continue
        ax.plot(*zip(*pts), "o-", ms=3, color="C0")
        ax.axhline(getattr(c, _THRESHOLD[c.name]), color="C3", ls="--", lw=1, label=repr(c))
        _stop_line(ax, rounds, v)
        ax.set_xlabel("pool labels")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(v.text, fontsize=10)
    return _save(fig, path)


# ---------------------------------------------------------------- report.md
def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}"


def _markdown(pool: Pool, rounds: list[Any], labels: list[dict[str, Any]], v: Verdict, plots: dict[str, Path]) -> str:
    counts = {s: pool.class_counts(s) for s in ("pool", "eval")}
    lines = [
        f"# activeloop report: project `{pool.name}`",
        "",
        f"**{v.text}**",
        "",
        f"{pool.count('pool')} pool and {pool.count('eval')} eval examples; "
        f"{sum(counts['pool'].values())} pool labels, {sum(counts['eval'].values())} eval labels, "
        f"{len(rounds)} rounds.",
        "",
        "| class | pool labels | eval labels |",
        "|---|---:|---:|",
        *(f"| {c} | {counts['pool'][c]} | {counts['eval'][c]} |" for c in pool.classes),
        "",
        "## Model quality on the eval split",
        "",
        "The eval split is a random sample that is never queried, so these scores are unbiased "
        "estimates on the real class mix." if any("macro_f1" in r.metrics for r in rounds) else
        "No eval labels yet, so no score is shown: an actively queried label set is biased and cannot stand in.",
        "",
        f"![eval metrics]({plots['eval_metrics'].name})",
        "",
        "| round | pool labels | macro-F1 | balanced acc. | minority recall | κ (window) | stop |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rounds:
        m, st = r.metrics, (r.metrics.get("stopping") or {})
        kap = (st.get("criteria") or {}).get("kappa", {}).get("value")
        lines.append(
            f"| {r.number} | {r.n_labels} | {_fmt(m.get('macro_f1'))} | {_fmt(m.get('balanced_accuracy'))} | "
            f"{_fmt(m.get('minority_recall'))} | {_fmt(kap)} | {'yes' if st.get('stop') else ('no' if st else '–')} |"
        )
    lines += [
        "",
        "## Minority examples found",
        "",
        "Each step is a minority label; the dashed line is what random sampling would find at the eval split's share.",
        "",
        f"![minority found]({plots['minority_found'].name})",
        "",
        "## Labels per annotator per hour",
        "",
        f"![labels per hour]({plots['labels_per_hour'].name})",
        "",
        "## Stopping",
        "",
        "Each round predicts a fixed stop set (up to 1000 pool examples unlabeled when the first round ran). "
        f"The default rule is `{default_criterion()!r}`: stop once Cohen's κ between consecutive rounds' "
        "predictions on the stop set averages at least its threshold over its window of rounds "
        "(chosen on a benchmark suite, see benchmarks/README.md). The other criteria are shown for comparison; "
        "the green line marks where the default stops.",
        "",
        f"![stopping]({plots['stopping'].name})",
        "",
    ]
    return "\n".join(lines)
