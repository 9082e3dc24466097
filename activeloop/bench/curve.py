"""Learning curves: :class:`Curve`, the metric columns, the :class:`Recorder` that collects a run's points, and curves.csv.

AULC ("area under the learning curve") is the mean of a metric over the curve's points, from the
first point (``init`` labels) to the budget, one point per batch: the trapezoid-free, normalised
area of the curve over ``[init, budget]``, in the metric's own units (1.0 = perfect from the start).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from activeloop.stopping import Criterion, Snapshot, replay

__all__ = ["Curve", "METRICS", "Recorder", "read_curves_csv", "write_curves_csv"]

#: Metric columns of every curve point.
METRICS = ("macro_f1", "balanced_accuracy", "minority_recall", "minority_pr_auc", "accuracy", "minority_found")


@dataclass
class Curve:
    """One learning curve: a strategy on one data set and seed, a point per batch.

    Attributes
    ----------
    dataset, strategy, init, model : str
    seed : int
    labels : ndarray of shape (n_points,)
        Labels used at each point (``init``, ``init + batch``, ..., ``budget``).
    metrics : dict of str to ndarray of shape (n_points,)
        :data:`METRICS` on the test set after each retrain (``minority_found``: minority labels so far).
    query_s : ndarray of shape (n_points,)
        Seconds spent choosing the batch that led to each point (0 for a random seed set).
    fit_s : ndarray of shape (n_points,)
        Seconds spent retraining (and evaluating) for each point.
    first_minority : int or None
        Labels until the first minority example was labeled (1-based), None if never.
    ceiling : float or None
        Macro-F1 on the test set of the same model trained on the full labeled pool.
    stopping : list of Snapshot
        What each point's round recorded for the stopping criteria (activeloop runs; not in curves.csv).
    stop : ndarray of bool of shape (n_points,) or None
        The default stopping criterion's decision at each point (curves.csv column ``stop``); None for peers.
    """

    dataset: str
    strategy: str
    seed: int
    init: str
    model: str
    labels: np.ndarray
    metrics: dict[str, np.ndarray]
    query_s: np.ndarray
    fit_s: np.ndarray
    first_minority: int | None
    ceiling: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    stopping: list[Snapshot] = field(default_factory=list)
    stop: np.ndarray | None = None

    def aulc(self, metric: str = "macro_f1") -> float:
        """Mean of ``metric`` over the curve's points (normalised area from init to budget)."""
        return float(np.mean(self.metrics[metric]))

    def at_budget(self, metric: str = "macro_f1") -> float:
        """``metric`` at the last point."""
        return float(self.metrics[metric][-1])

    def labels_to(self, fraction: float = 0.95, ceiling: float | None = None) -> int | None:
        """Fewest labels at which macro-F1 reaches ``fraction * ceiling``; None if never within budget."""
        ceil = self.ceiling if ceiling is None else ceiling
        if ceil is None:
            return None
        hit = np.flatnonzero(self.metrics["macro_f1"] >= fraction * ceil)
        return int(self.labels[hit[0]]) if len(hit) else None

    def stop_index(self, criterion: Criterion | None = None) -> int | None:
        """First point at which ``criterion`` (default: activeloop's) says stop; None if it never does."""
        if criterion is None and self.stop is not None:
            flags = self.stop
        elif self.stopping:
            flags = np.asarray(replay(self.stopping, criterion)[0])
        else:
            return None
        hit = np.flatnonzero(flags)
        return int(hit[0]) if len(hit) else None

    def stop_labels(self, criterion: Criterion | None = None) -> int | None:
        """Labels at which ``criterion`` would have stopped; None if it never does within the budget."""
        k = self.stop_index(criterion)
        return None if k is None else int(self.labels[k])

    def at_stop(self, metric: str = "macro_f1", criterion: Criterion | None = None) -> float:
        """``metric`` where ``criterion`` stops (at the budget if it never does)."""
        k = self.stop_index(criterion)
        return float(self.metrics[metric][-1 if k is None else k])

    def rows(self) -> list[dict[str, Any]]:
        """One dict per point: dataset, strategy, init, model, seed, labels, metrics, ceiling (no timings)."""
        out = []
        for k, n in enumerate(self.labels):
            row: dict[str, Any] = {"dataset": self.dataset, "strategy": self.strategy, "init": self.init,
                                   "model": self.model, "seed": self.seed, "labels": int(n)}
            for m in METRICS:
                row[m] = float(self.metrics[m][k])
            row["ceiling"] = self.ceiling
            row["stop"] = "" if self.stop is None else int(self.stop[k])
            out.append(row)
        return out


class Recorder:
    """Collects a curve's points as a run goes; :meth:`curve` turns them into a :class:`Curve`."""

    def __init__(self):
        self.labels: list[int] = []
        self.metrics: dict[str, list[float]] = {m: [] for m in METRICS}
        self.query_s: list[float] = []
        self.fit_s: list[float] = []
        self.stopping: list[Snapshot] = []

    def add(self, n: int, metrics: dict[str, float], found: int, query_s: float, fit_s: float,
            snapshot: Snapshot | None = None) -> None:
        """One point; ``snapshot``: its round's stopping record (None where no round was recorded)."""
        self.stopping.append(snapshot or Snapshot(round=len(self.labels) + 1, n_labels=int(n)))
        self.labels.append(int(n))
        for m in METRICS:
            self.metrics[m].append(float(found) if m == "minority_found" else float(metrics.get(m, np.nan)))
        self.query_s.append(query_s)
        self.fit_s.append(fit_s)

    def curve(self, **kw) -> Curve:
        measured = any(s.predictions is not None for s in self.stopping)
        return Curve(labels=np.asarray(self.labels), metrics={m: np.asarray(v) for m, v in self.metrics.items()},
                     query_s=np.asarray(self.query_s), fit_s=np.asarray(self.fit_s),
                     stopping=self.stopping if measured else [],
                     stop=np.asarray(replay(self.stopping)[0], dtype=bool) if measured else None, **kw)


def write_curves_csv(curves: Sequence[Curve], path: str | Path) -> Path:
    """Every point of every curve as CSV (one row per point)."""
    path = Path(path)
    rows = [r for c in curves for r in c.rows()]
    # timings stay out of curves.csv so that the same seeds give a byte-identical file
    cols = ["dataset", "strategy", "init", "model", "seed", "labels", *METRICS, "ceiling", "stop"]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: (_fmt(v) if isinstance(v, float) else v) for k, v in r.items()})
    return path


def _fmt(v: float) -> str:
    return "" if v is None or np.isnan(v) else f"{v:.6g}"


def read_curves_csv(path: str | Path) -> list[Curve]:
    """Curves back from a ``curves.csv`` (for re-plotting); timings are not stored there and read as 0."""
    groups: dict[tuple, list[dict[str, str]]] = {}
    with Path(path).open(newline="") as fh:
        for row in csv.DictReader(fh):
            groups.setdefault((row["dataset"], row["strategy"], row["init"], row["model"], row["seed"]), []).append(row)
    curves = []
    for (ds, strat, init, model, seed), rows in groups.items():
        rows.sort(key=lambda r: int(r["labels"]))
        found = [int(float(r["minority_found"])) for r in rows]
        labels = np.array([int(r["labels"]) for r in rows])
        first = None  # only bounded by the points: the first point with a minority label
        for n, f in zip(labels, found):
            if f > 0:
                first = int(n)
                break
        ceil = rows[0]["ceiling"]
        stop = [r.get("stop", "") for r in rows]
        curves.append(Curve(ds, strat, int(seed), init, model, labels,
                            {m: np.array([float(r[m]) if r[m] != "" else np.nan for r in rows]) for m in METRICS},
                            np.zeros(len(rows)), np.zeros(len(rows)), first, float(ceil) if ceil else None,
                            {"first_minority_is_upper_bound": True},
                            stop=np.array([v == "1" for v in stop]) if all(v in ("0", "1") for v in stop) else None))
    return curves
