"""Summary of learning curves per (data set, strategy, init): mean and std over seeds.

Figures (each computed per seed, then mean ± std over seeds):

* ``aulc_*``: mean of the metric over the curve's points from ``init`` labels to the budget (one point
  per batch) — the normalised area under the learning curve;
* ``f1_at_budget``: macro-F1 at the budget;
* ``labels_to_95``: fewest labels whose macro-F1 reaches 95 % of the ceiling (the same model trained
  on the full pool, same seed and split); a seed that never reaches it counts as the budget, and
  ``reached_95`` says for how many seeds it was reached;
* ``first_minority``: labels until the first minority example is labeled (never: budget + 1);
* ``minority_found``: minority examples labeled at the budget;
* ``stop_labels``: labels at which activeloop's default stopping criterion would have stopped (a seed
  that never stops counts as the budget; ``stopped`` says for how many seeds it stopped before it), and
  ``f1_at_stop``: macro-F1 there — empty for peers, which record no stopping measurements;
* ``query_s``: mean seconds to choose one batch;
* ``vs_random``: ``aulc_macro_f1`` divided by that of random sampling (``peer:random``, else
  ``random``) on the same data set, seeds and budget.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from activeloop.bench.curve import Curve

__all__ = ["summarize", "write_summary", "SUMMARY_COLUMNS", "suite_table", "suite_markdown", "paired_deltas", "verdict", "number"]

SUMMARY_COLUMNS = [
    "dataset", "strategy", "init", "model", "seeds",
    "aulc_macro_f1", "aulc_macro_f1_std",
    "aulc_balanced_accuracy", "aulc_balanced_accuracy_std",
    "aulc_minority_recall", "aulc_minority_recall_std",
    "f1_at_budget", "f1_at_budget_std", "ceiling",
    "labels_to_95", "labels_to_95_std", "reached_95",
    "first_minority", "first_minority_std",
    "minority_found", "minority_found_std",
    "stop_labels", "stop_labels_std", "stopped", "f1_at_stop", "f1_at_stop_std",
    "query_s", "vs_random",
]


def _ms(values: Sequence[float]) -> tuple[float, float]:
    """Mean and std over seeds, NaN-skipping; (nan, nan) when no seed has the figure."""
    a = np.asarray(values, dtype=np.float64)
    if np.isnan(a).all():
        return float("nan"), float("nan")
    return float(np.nanmean(a)), float(np.nanstd(a))


def summarize(curves: Sequence[Curve], fraction: float = 0.95) -> list[dict[str, Any]]:
    """One row per (data set, strategy, init, model), columns :data:`SUMMARY_COLUMNS`, in first-seen order."""
    groups: dict[tuple, list[Curve]] = {}
    for c in curves:
        groups.setdefault((c.dataset, c.strategy, c.init, c.model), []).append(c)
    rows = []
    for (ds, strat, init, model), cs in groups.items():
        budget = int(max(c.labels[-1] for c in cs))
        row: dict[str, Any] = {"dataset": ds, "strategy": strat, "init": init, "model": model, "seeds": len(cs),
                               "budget": budget}
        for m in ("macro_f1", "balanced_accuracy", "minority_recall"):
            row[f"aulc_{m}"], row[f"aulc_{m}_std"] = _ms([c.aulc(m) for c in cs])
        row["f1_at_budget"], row["f1_at_budget_std"] = _ms([c.at_budget("macro_f1") for c in cs])
        ceils = [c.ceiling for c in cs if c.ceiling is not None]
        row["ceiling"] = float(np.mean(ceils)) if ceils else float("nan")
        hits = [c.labels_to(fraction) for c in cs] if ceils else []
        row["labels_to_95"], row["labels_to_95_std"] = _ms([budget if h is None else h for h in hits] or [np.nan])
        row["reached_95"] = f"{sum(h is not None for h in hits)}/{len(cs)}" if ceils else ""
        row["first_minority"], row["first_minority_std"] = _ms(
            [budget + 1 if c.first_minority is None else c.first_minority for c in cs])
        row["minority_found"], row["minority_found_std"] = _ms([c.at_budget("minority_found") for c in cs])
        _stop_columns(row, cs, budget)
        row["query_s"] = float(np.mean([np.mean(c.query_s[1:]) if len(c.query_s) > 1 else 0.0 for c in cs]))
        rows.append(row)
    for row in rows:
        base = next((r for r in rows if r["dataset"] == row["dataset"] and r["strategy"] == "peer:random"), None)
        base = base or next((r for r in rows if r["dataset"] == row["dataset"] and r["strategy"] == "random"), None)
        row["vs_random"] = row["aulc_macro_f1"] / base["aulc_macro_f1"] if base and base["aulc_macro_f1"] else float("nan")
    return rows


def _stop_columns(row: dict[str, Any], cs: Sequence[Curve], budget: int) -> None:
    """Where the default stopping criterion stops, and macro-F1 there (NaN for curves that measured no stopping)."""
    measured = [c for c in cs if c.stop is not None]
    if not measured:
        row.update(stop_labels=np.nan, stop_labels_std=np.nan, stopped="", f1_at_stop=np.nan, f1_at_stop_std=np.nan)
        return
    stops = [c.stop_labels() for c in measured]
    row["stop_labels"], row["stop_labels_std"] = _ms([budget if s is None else s for s in stops])
    row["stopped"] = f"{sum(s is not None and s < budget for s in stops)}/{len(measured)}"
    row["f1_at_stop"], row["f1_at_stop_std"] = _ms([c.at_stop() for c in measured])


def _stop_md(rows: list[dict[str, Any]]) -> list[str]:
    """The stopping table: per task, labels saved by stopping against macro-F1 given up."""
    rows = [r for r in rows if r["stopped"]]
    if not rows:
        return []
    lines = [
        "", "Stopping (activeloop's default criterion, replayed on each run's recorded rounds):", "",
        "| data set | strategy | init | budget | stops at (labels) | stopped | labels saved | F1 @ stop | F1 @ budget "
        "| F1 given up |",
        "|---|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['strategy']} | {r['init']} | {r['budget']} | {r['stop_labels']:.0f} ± "
            f"{r['stop_labels_std']:.0f} | {r['stopped']} | {r['budget'] - r['stop_labels']:.0f} "
            f"| {r['f1_at_stop']:.3f} | {r['f1_at_budget']:.3f} | {r['f1_at_budget'] - r['f1_at_stop']:+.3f} |"
        )
    return lines


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.6g}"
    return str(v)


def number(v: float, digits: int) -> str:
    """``v`` to ``digits`` decimals; an em dash where there is no figure (e.g. no ceiling was measured)."""
    return "—" if np.isnan(v) else f"{v:.{digits}f}"


def _pm(r: dict[str, Any], key: str, digits: int) -> str:
    return "—" if np.isnan(r[key]) else f"{r[key]:.{digits}f} ± {r[key + '_std']:.{digits}f}"


def _md(rows: list[dict[str, Any]]) -> str:
    head = ("| data set | strategy | init | model | seeds | AULC macro-F1 | AULC bal. acc. | AULC minority recall | "
            "F1 @ budget | ceiling | labels to 95 % | first minority | minority found | query s/batch | vs random |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        reached = f"{_pm(r, 'labels_to_95', 0)} ({r['reached_95']})" if not np.isnan(r["labels_to_95"]) else "—"
        lines.append(
            f"| {r['dataset']} | {r['strategy']} | {r['init']} | {r['model']} | {r['seeds']} "
            f"| {_pm(r, 'aulc_macro_f1', 3)} | {_pm(r, 'aulc_balanced_accuracy', 3)} "
            f"| {_pm(r, 'aulc_minority_recall', 3)} | {_pm(r, 'f1_at_budget', 3)} | {number(r['ceiling'], 3)} "
            f"| {reached} | {_pm(r, 'first_minority', 1)} | {_pm(r, 'minority_found', 1)} "
            f"| {number(r['query_s'], 3)} | {number(r['vs_random'], 3)} |"
        )
    return "\n".join(lines)


def write_summary(curves: Sequence[Curve], out: str | Path, *, command: str | None = None,
                  notes: str = "") -> list[dict[str, Any]]:
    """Write ``summary.csv`` and ``summary.md`` into ``out``; returns the rows."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = summarize(curves)
    with (out / "summary.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=SUMMARY_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: _cell(r[k]) for k in SUMMARY_COLUMNS})
    budget = int(max(c.labels[-1] for c in curves)) if curves else 0
    first = int(min(c.labels[0] for c in curves)) if curves else 0
    seed_sizes = sorted({int(c.labels[0]) for c in curves if c.init == "random"})  # a random start's first point
    seed_set = "/".join(map(str, seed_sizes)) or "--init-size"
    text = [
        "# activeloop bench summary",
        "",
        f"Simulated oracle, learning curves from {first} to {budget} labels, one point per batch; "
        "mean ± std over seeds (per-seed figure first, then averaged).",
        "",
    ]
    if command:
        text += ["Command:", "", "```", command, "```", ""]
    text += [
        _md(rows),
        *_stop_md(rows),
        "",
        "- **AULC** = mean of the metric over the curve's points from the first point to the budget "
        "(normalised area under the learning curve; 1.0 = perfect from the first point).",
        "- **ceiling** = macro-F1 of the same model trained on the full labeled pool (same split and seed); "
        "**labels to 95 %** = fewest labels whose macro-F1 reaches 95 % of it (seeds that never reach it "
        "count as the budget; in brackets: seeds that reached it).",
        "- **first minority** = labels until the first example of the minority class is labeled "
        "(never = budget + 1); **minority found** = minority examples labeled at the budget.",
        f"- **init**: `random` = the same {seed_set} random seed labels for every strategy of a seed (redrawn only if "
        "< 2 classes); `cold-start` = activeloop's k-means cold start picks the first batch.",
        "- **vs random** = AULC macro-F1 / that of random sampling in the same run.",
        "- Peers (`peer:modal-*`, `peer:random`) run a real `modAL.ActiveLearner` / plain random sampling with "
        "`LogisticRegression(class_weight=\"balanced\")` on standardised features, same splits and seed sets.",
    ]
    if notes:
        text += ["", notes]
    (out / "summary.md").write_text("\n".join(text) + "\n")
    return rows


# --------------------------------------------------------------------------------------------
# suite table: a reference strategy against peers, task by task
# --------------------------------------------------------------------------------------------

SUITE_PEERS = ("peer:modal-margin", "peer:modal-entropy")
SUITE_METRICS = ("macro_f1", "minority_recall")


def paired_deltas(curves: Sequence[Curve], a: str, b: str, metric: str) -> dict[str, np.ndarray]:
    """Per data set: AULC of strategy ``a`` minus that of ``b``, one value per seed both ran."""
    per: dict[tuple[str, str], dict[int, float]] = {}
    for c in curves:
        per.setdefault((c.dataset, c.strategy), {})[c.seed] = c.aulc(metric)
    out = {}
    for (ds, strat), seeds in per.items():
        if strat != a or (ds, b) not in per:
            continue
        other = per[(ds, b)]
        common = sorted(set(seeds) & set(other))
        if common:
            out[ds] = np.array([seeds[s] - other[s] for s in common])
    return out


def verdict(deltas: np.ndarray) -> str:
    """``win``/``loss`` when the mean paired delta is more than one standard error from 0, else ``tie``."""
    d = np.asarray(deltas, dtype=np.float64)
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
    m = d.mean()
    return "tie" if abs(m) <= se else ("win" if m > 0 else "loss")


def suite_table(curves: Sequence[Curve], reference: str = "default", peers: Sequence[str] = SUITE_PEERS,
                same_model: str = "margin") -> list[dict[str, Any]]:
    """One row per (strategy, peer, metric): wins/ties/losses over tasks, mean and worst delta of mean AULC.

    ``reference`` and ``same_model`` (activeloop's own margin with the same model) are each compared
    with every peer; a task counts as ``beats`` when the mean delta over seeds is above 0.
    """
    rows = []
    for strat in (reference, same_model):
        for peer in peers:
            for metric in SUITE_METRICS:
                d = paired_deltas(curves, strat, peer, metric)
                if not d:
                    continue
                means = np.array([v.mean() for v in d.values()])
                v = [verdict(x) for x in d.values()]
                worst = list(d)[int(np.argmin(means))]
                rows.append({"strategy": strat, "peer": peer, "metric": metric, "tasks": len(d),
                             "wins": v.count("win"), "ties": v.count("tie"), "losses": v.count("loss"),
                             "beats": int((means > 0).sum()), "mean_delta": float(means.mean()),
                             "worst_delta": float(means.min()), "worst_task": worst})
    return rows


def suite_markdown(curves: Sequence[Curve], reference: str = "default", peers: Sequence[str] = SUITE_PEERS,
                   same_model: str = "margin") -> str:
    """The per-task table (each strategy's mean AULC macro-F1 / minority recall) and the suite table."""
    rows = summarize(curves)
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    tasks = list(dict.fromkeys(r["dataset"] for r in rows))
    cell = {(r["dataset"], r["strategy"]): r for r in rows}
    head = "| task | " + " | ".join(strategies) + " |"
    lines = ["AULC macro-F1 / AULC minority recall, mean over seeds:", "", head,
             "|" + "---|" * (len(strategies) + 1)]
    for t in tasks:
        vals = [f"{cell[(t, s)]['aulc_macro_f1']:.3f} / {cell[(t, s)]['aulc_minority_recall']:.3f}"
                if (t, s) in cell else "" for s in strategies]
        lines.append(f"| {t} | " + " | ".join(vals) + " |")
    lines += ["", "Suite: wins / ties / losses over tasks (a tie: mean paired delta within one standard error of 0); "
              "beats: tasks with a mean delta above 0; deltas in AULC.", "",
              "| strategy | vs peer | metric | W / T / L | beats | mean delta | worst delta (task) |",
              "|---|---|---|---|---|---|---|"]
    for r in suite_table(curves, reference, peers, same_model):
        label = {"macro_f1": "macro-F1", "minority_recall": "minority recall"}[r["metric"]]
        lines.append(f"| {r['strategy']} | {r['peer']} | AULC {label} "
                     f"| {r['wins']} / {r['ties']} / {r['losses']} | {r['beats']}/{r['tasks']} "
                     f"| {r['mean_delta']:+.4f} | {r['worst_delta']:+.4f} ({r['worst_task']}) |")
    return "\n".join(lines)
