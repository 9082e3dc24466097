"""Simulated-oracle learning curves through the real product path, and suites of them.

One activeloop run = a SQLite pool in a temporary file (pool split: the unlabeled pool; eval split:
the held-out test set, labeled at import, so every round's recorded metrics are the honest test
metrics), the real :class:`~activeloop.query.QueryEngine`, the real retrain
(:meth:`activeloop.loop.Loop.retrain`), and a :class:`~activeloop.bench.oracle.SimulatedOracle` that
answers through ``pool.label(..., source="oracle")``.

AULC ("area under the learning curve") is the mean of a metric over the curve's points, from the
first point (``init`` labels) to the budget, one point per batch: the trapezoid-free, normalised
area of the curve over ``[init, budget]``, in the metric's own units (1.0 = perfect from the start).
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from activeloop.bench.datasets import Dataset, load_dataset, split_dataset
from activeloop.bench.oracle import SimulatedOracle
from activeloop.errors import ActiveloopError

__all__ = ["Curve", "run_curve", "run_suite", "make_model", "ceiling_score", "seed_set", "METRICS", "is_peer",
           "write_curves_csv", "read_curves_csv"]

#: Metric columns of every curve point.
METRICS = ("macro_f1", "balanced_accuracy", "minority_recall", "minority_pr_auc", "accuracy", "minority_found")

INITS = ("random", "cold-start")


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

    def rows(self) -> list[dict[str, Any]]:
        """One dict per point: dataset, strategy, init, model, seed, labels, metrics, ceiling (no timings)."""
        out = []
        for k, n in enumerate(self.labels):
            row: dict[str, Any] = {"dataset": self.dataset, "strategy": self.strategy, "init": self.init,
                                   "model": self.model, "seed": self.seed, "labels": int(n)}
            for m in METRICS:
                row[m] = float(self.metrics[m][k])
            row["ceiling"] = self.ceiling
            out.append(row)
        return out


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------


def make_model(model: Any, seed: int) -> Any:
    """A fresh model for one run.

    ``None`` / ``"default"`` is the model a :class:`~activeloop.loop.Loop` builds by default;
    ``"focal"`` is the default :class:`~activeloop.model.FocalLossClassifier` (warm-started);
    ``"logreg"`` is ``LogisticRegression(class_weight="balanced")`` on standardised features; an
    estimator is cloned, with ``random_state=seed`` when it has that parameter.
    """
    from sklearn.base import clone

    if model is None or (isinstance(model, str) and model == "default"):
        return _default_model(seed)
    if isinstance(model, str):
        if model == "focal":
            from activeloop.model import FocalLossClassifier

            return FocalLossClassifier(warm_start=True, random_state=seed)
        if model == "logreg":
            return logreg_balanced()
        raise ActiveloopError(f"unknown model {model!r}; choose default, focal or logreg (or pass an estimator)")
    est = clone(model)
    params = est.get_params()
    seeded = {k: seed for k in params if k == "random_state" or k.endswith("__random_state")}
    return est.set_params(**seeded) if seeded else est


def _default_model(seed: int) -> Any:
    from activeloop.loop import default_model  # the Loop's own choice

    return default_model(random_state=seed)


def logreg_balanced() -> Any:
    """``LogisticRegression(class_weight="balanced")`` after a StandardScaler: the peers' estimator."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))


def model_name(model: Any) -> str:
    """Short name of a model spec for tables."""
    if model is None:
        return "default"
    if isinstance(model, str):
        return model
    return type(model).__name__


def test_metrics(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str], minority: int) -> dict[str, float]:
    """The curve metrics from :func:`activeloop.model.evaluate` (minority = the tracked class)."""
    from activeloop.model import evaluate

    return _pick(evaluate(y_true, proba, list(classes)), classes[minority])


def _pick(ev: dict[str, Any], minority_name: str) -> dict[str, float]:
    pc = ev.get("per_class", {}).get(minority_name, {})
    pr = ev.get("pr_auc", {})
    return {
        "macro_f1": float(ev["macro_f1"]),
        "balanced_accuracy": float(ev["balanced_accuracy"]),
        "minority_recall": float(pc.get("recall", ev.get("minority_recall", np.nan))),
        "minority_pr_auc": float(pr.get(minority_name, np.nan)),
        "accuracy": float(ev.get("accuracy", np.nan)),
    }


def ceiling_score(X_pool, y_pool, X_test, y_test, classes: Sequence[str], minority: int, model: Any, seed: int) -> float:
    """Macro-F1 on the test set of ``model`` (fresh) trained on every pool example."""
    from activeloop.query.engine import proba_by_class

    m = make_model(model, seed)
    m.fit(np.asarray(X_pool, np.float32), np.asarray(y_pool))
    return test_metrics(y_test, proba_by_class(m, np.asarray(X_test, np.float32), list(classes)), classes, minority)["macro_f1"]


# --------------------------------------------------------------------------------------------
# protocol pieces
# --------------------------------------------------------------------------------------------


def seed_set(y_pool: np.ndarray, init: int, seed: int) -> np.ndarray:
    """Positions of the random seed set: ``init`` uniform draws, redrawn only while < 2 classes."""
    rng = np.random.default_rng([seed, 1729])
    n = min(int(init), len(y_pool))
    for _ in range(1000):
        pick = rng.choice(len(y_pool), size=n, replace=False)
        if len(np.unique(y_pool[pick])) >= 2:
            return pick
    raise ActiveloopError("could not draw a seed set with two classes in 1000 tries")


def _first(hist_classes: np.ndarray, minority_name: str) -> int | None:
    hit = np.flatnonzero(hist_classes == minority_name)
    return int(hit[0]) + 1 if len(hit) else None


class _Recorder:
    def __init__(self):
        self.labels: list[int] = []
        self.metrics: dict[str, list[float]] = {m: [] for m in METRICS}
        self.query_s: list[float] = []
        self.fit_s: list[float] = []

    def add(self, n: int, metrics: dict[str, float], found: int, query_s: float, fit_s: float) -> None:
        self.labels.append(int(n))
        for m in METRICS:
            self.metrics[m].append(float(found) if m == "minority_found" else float(metrics.get(m, np.nan)))
        self.query_s.append(query_s)
        self.fit_s.append(fit_s)

    def curve(self, **kw) -> Curve:
        return Curve(labels=np.asarray(self.labels), metrics={m: np.asarray(v) for m, v in self.metrics.items()},
                     query_s=np.asarray(self.query_s), fit_s=np.asarray(self.fit_s), **kw)


def is_peer(strategy: Any) -> bool:
    """Whether a strategy name runs as a peer (modAL ActiveLearner / plain random) instead of through the pool."""
    return isinstance(strategy, str) and (strategy.startswith("modal:") or strategy.startswith("peer:"))


def strategy_name(strategy: Any) -> str:
    """Name of a strategy spec for tables."""
    return strategy if isinstance(strategy, str) else getattr(strategy, "__name__", repr(strategy))


# --------------------------------------------------------------------------------------------
# one curve
# --------------------------------------------------------------------------------------------


def run_curve(
    X_pool: np.ndarray,
    y_pool: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    strategy: Any = "default",
    model: Any = None,
    init: int = 10,
    batch: int = 10,
    budget: int = 300,
    seed: int = 0,
    *,
    start: str = "random",
    classes: Sequence[str] | None = None,
    minority: int | None = None,
    dataset: str = "data",
    ceiling: float | bool | None = True,
    peer_model: Any = None,
) -> Curve:
    """Simulate labeling with an oracle and return the learning curve on the test set.

    Parameters
    ----------
    X_pool, y_pool : array-like of shape (n_pool, d), (n_pool,)
        The pool; ``y_pool`` holds class indices into ``classes`` (or class labels, mapped in sorted order).
    X_test, y_test : array-like
        Held-out test set with the real class mix; never queried.
    strategy : str, Strategy or callable, default "default"
        An activeloop strategy (anything :func:`activeloop.query.resolve` takes), or a peer:
        ``"modal:uncertainty_sampling"`` / ``"modal:margin_sampling"`` / ``"modal:entropy_sampling"``
        (a real ``modAL.ActiveLearner``) or ``"peer:random"`` (plain random sampling).
    model : None, "focal", "logreg" or estimator
        The activeloop run's model (see :func:`make_model`); None is the Loop's default.
    init : int, default 10
        Size of the random seed set (``start="random"``).
    batch, budget : int
        Labels per round, and in total.
    seed : int
        Seeds the seed set, the engine and the model.
    start : {"random", "cold-start"}
        ``"cold-start"`` lets the engine pick the first batch(es) with its k-means cold start instead
        of the random seed set (peers always use the seed set).
    classes : list of str, optional
        Class names (default: ``"0", "1", ...``).
    minority : int, optional
        Tracked minority class index (default: the rarest in ``y_pool``).
    ceiling : bool or float, default True
        True computes the full-pool ceiling; a float is used as is; False/None skips it.
    peer_model : estimator, optional
        The peers' estimator (default ``LogisticRegression(class_weight="balanced")``).

    Returns
    -------
    Curve
    """
    X_pool = np.asarray(X_pool, dtype=np.float32)
    X_test = np.asarray(X_test, dtype=np.float32)
    y_pool, y_test, classes = _as_indices(y_pool, y_test, classes)
    if minority is None:
        minority = int(np.argmin(np.where(np.bincount(y_pool, minlength=len(classes)) > 0,
                                          np.bincount(y_pool, minlength=len(classes)), np.iinfo(np.int64).max)))
    if start not in INITS:
        raise ActiveloopError(f"unknown init {start!r}; choose random or cold-start")
    if budget > len(y_pool):
        raise ActiveloopError(f"budget {budget} exceeds the pool's {len(y_pool)} examples")
    if init < 1 or batch < 1 or init > budget:
        raise ActiveloopError(f"need 1 <= init <= budget and batch >= 1, got init={init}, batch={batch}, budget={budget}")
    peer = is_peer(strategy)
    if peer:
        from activeloop.bench.peers import run_peer

        rec, hist = run_peer(strategy, X_pool, y_pool, X_test, y_test, classes, minority,
                             seed_set(y_pool, init, seed), batch=batch, budget=budget, seed=seed,
                             estimator=peer_model)
        run_init, mname = "random", model_name(peer_model) if peer_model is not None else "logreg"
    else:
        rec, hist = _run_activeloop(strategy, model, X_pool, y_pool, X_test, y_test, classes, minority,
                                    init=init, batch=batch, budget=budget, seed=seed, start=start, dataset=dataset)
        run_init, mname = start, model_name(model)
    if ceiling is True:
        cm = (peer_model if peer_model is not None else "logreg") if peer else model
        ceil = ceiling_score(X_pool, y_pool, X_test, y_test, classes, minority, cm, seed)
    else:
        ceil = float(ceiling) if ceiling not in (None, False) else None
    hist_names = np.asarray([classes[c] for c in hist], dtype=object)
    return rec.curve(dataset=dataset, strategy=strategy_name(strategy), seed=seed, init=run_init, model=mname,
                     first_minority=_first(hist_names, classes[minority]), ceiling=ceil)


def _as_indices(y_pool, y_test, classes):
    y_pool = np.asarray(y_pool)
    y_test = np.asarray(y_test)
    if classes is None:
        if np.issubdtype(y_pool.dtype, np.integer) and y_pool.min() >= 0:
            k = int(max(y_pool.max(), y_test.max())) + 1
            return y_pool.astype(np.int64), y_test.astype(np.int64), [str(i) for i in range(k)]
        names = np.unique(np.concatenate([y_pool.astype(str), y_test.astype(str)]))
        classes = [str(c) for c in names]
        lookup = {c: i for i, c in enumerate(classes)}
        return (np.array([lookup[str(v)] for v in y_pool], np.int64), np.array([lookup[str(v)] for v in y_test], np.int64),
                classes)
    classes = [str(c) for c in classes]
    if np.issubdtype(y_pool.dtype, np.integer):
        return y_pool.astype(np.int64), y_test.astype(np.int64), classes
    lookup = {c: i for i, c in enumerate(classes)}
    return (np.array([lookup[str(v)] for v in y_pool], np.int64), np.array([lookup[str(v)] for v in y_test], np.int64),
            classes)


def _make_loop(pool: Any, model: Any, engine: Any) -> Any:
    from activeloop.loop import Loop

    return Loop(pool, model, engine)


def _run_activeloop(strategy, model, X_pool, y_pool, X_test, y_test, classes, minority, *, init, batch, budget,
                    seed, start, dataset):
    from activeloop.query import QueryEngine
    from activeloop.store import Pool

    minority_name = classes[minority]
    with tempfile.TemporaryDirectory(prefix="activeloop-bench-") as tmp:
        pool = Pool.create(os.path.join(tmp, "bench.db"), name=dataset[:60] or "bench", classes=classes,
                           hotkeys=[f"k{i}" for i in range(len(classes))])
        try:
            ids = pool.add(X_pool, split="pool")
            # The test set is the eval split, labeled at import: each retrain records honest test metrics.
            pool.add(X_test, labels=[classes[c] for c in y_test], split="eval")
            truth = {int(i): classes[int(c)] for i, c in zip(ids, y_pool)}
            oracle = SimulatedOracle(pool, truth)
            est = make_model(model, seed)
            engine = QueryEngine(est, strategy=strategy, batch_size=batch, random_state=seed)
            loop = _make_loop(pool, est, engine)
            rec = _Recorder()

            def retrain(query_s: float) -> None:
                t = time.perf_counter()
                rnd = loop.retrain()
                fit_s = time.perf_counter() - t
                found = pool.class_counts("pool")[minority_name]
                rec.add(len(oracle.history), _pick(rnd.metrics, minority_name), found, query_s, fit_s)

            def ask(n: int) -> float:
                t = time.perf_counter()
                qs = loop.query(n, annotator="oracle")
                dt = time.perf_counter() - t
                oracle.label(q.example_id for q in qs)
                return dt

            def one_class_point(query_s: float) -> None:
                # No model can be fitted on one class: the honest score is "always predict it".
                seen = classes.index(str(oracle.labeled_classes()[0]))
                proba = np.zeros((len(y_test), len(classes)))
                proba[:, seen] = 1.0
                found = pool.class_counts("pool")[minority_name]
                rec.add(len(oracle.history), test_metrics(y_test, proba, classes, minority), found, query_s, 0.0)

            if start == "random":
                oracle.label(ids[seed_set(y_pool, init, seed)])
                retrain(0.0)
            else:
                dt = ask(init)
                while len(set(oracle.labeled_classes())) < 2 and len(oracle.history) < budget:
                    one_class_point(dt)  # still cold (the engine keeps its cold start until a fit is possible)
                    dt = ask(min(batch, budget - len(oracle.history)))
                if len(set(oracle.labeled_classes())) < 2:
                    one_class_point(dt)
                else:
                    retrain(dt)
            while len(oracle.history) < budget:
                retrain(ask(min(batch, budget - len(oracle.history))))
            hist = np.asarray([classes.index(truth[i]) for i in oracle.history], np.int64)
        finally:
            pool.close()
    return rec, hist


# --------------------------------------------------------------------------------------------
# suites
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _dataset(spec: str) -> Dataset:
    return load_dataset(spec)


def _split(spec: str | Dataset, seed: int, test_size: float):
    ds = spec if isinstance(spec, Dataset) else _dataset(spec)
    p, t = split_dataset(ds, seed, test_size)
    return ds, ds.X[p], ds.y[p], ds.X[t], ds.y[t]


def _ceiling_task(spec, seed, model, test_size):
    ds, Xp, yp, Xt, yt = _split(spec, seed, test_size)
    return ceiling_score(Xp, yp, Xt, yt, ds.classes, ds.minority, model, seed)


def _curve_task(spec, seed, strategy, start, model, init, batch, budget, test_size, ceiling, peer_model):
    ds, Xp, yp, Xt, yt = _split(spec, seed, test_size)
    return run_curve(Xp, yp, Xt, yt, strategy=strategy, model=model, init=init, batch=batch, budget=budget,
                     seed=seed, start=start, classes=ds.classes, minority=ds.minority, dataset=ds.name,
                     ceiling=ceiling, peer_model=peer_model)


def _worker_init() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _run_tasks(fn, tasks, jobs, on_done):
    results: list[Any] = [None] * len(tasks)
    if jobs <= 1:
        for k, args in enumerate(tasks):
            results[k] = fn(*args)
            if on_done:
                on_done(results[k])
        return results
    with ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init) as ex:
        futs = {ex.submit(fn, *args): k for k, args in enumerate(tasks)}
        for f in as_completed(futs):
            results[futs[f]] = f.result()
            if on_done:
                on_done(results[futs[f]])
    return results


def run_suite(
    datasets: Iterable[str | Dataset] = ("digits-imbalanced",),
    strategies: Sequence[Any] = ("default", "margin", "modal:margin_sampling", "peer:random"),
    seeds: int | Sequence[int] = 5,
    *,
    model: Any = None,
    inits: Sequence[str] = ("random",),
    init: int = 10,
    batch: int = 10,
    budget: int = 300,
    test_size: float = 0.3,
    jobs: int = 1,
    peer_model: Any = None,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[Curve], None] | None = None,
) -> list[Curve]:
    """Run every (data set, strategy, init, seed); curves in a deterministic order.

    Parameters
    ----------
    datasets : iterable of str or Dataset
        Names/paths for :func:`~activeloop.bench.datasets.load_dataset`, or Dataset objects.
    strategies : sequence
        As in :func:`run_curve`. Peers (``modal:*``, ``peer:random``) run once per seed whatever ``inits``.
    seeds : int or sequence of int
        ``5`` means seeds 0..4.
    inits : sequence of {"random", "cold-start"}
        Start protocols for the activeloop strategies.
    jobs : int
        Processes (each with one torch thread); 1 runs in this process.
    on_start : callable(total_runs), optional
    on_done : callable(Curve), optional
        Called as each curve finishes (progress bars).

    Returns
    -------
    list of Curve
        Ordered by data set, strategy, init, seed, whatever ``jobs`` is.
    """
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    specs = list(datasets)
    for s in inits:
        if s not in INITS:
            raise ActiveloopError(f"unknown init {s!r}; choose random or cold-start")
    if jobs > 1:
        for s in strategies:
            if not isinstance(s, str):
                import pickle

                try:
                    pickle.dumps(s)
                except Exception as exc:  # noqa: BLE001
                    raise ActiveloopError(f"strategy {s!r} cannot be sent to worker processes; use jobs=1") from exc
    # ceilings: one per (data set, seed, model kind), shared by the curves that use that model
    ceil_keys: list[tuple] = []
    for spec in specs:
        for seed in seed_list:
            for kind in ("activeloop", "peer"):
                if kind == "peer" and not any(is_peer(s) for s in strategies):
                    continue
                if kind == "activeloop" and all(is_peer(s) for s in strategies):
                    continue
                ceil_keys.append((spec, seed, kind))
    ceil_tasks = [(spec, seed, model if kind == "activeloop" else (peer_model or "logreg"), test_size)
                  for spec, seed, kind in ceil_keys]
    runs = []
    for spec in specs:
        for strat in strategies:
            for start in (["random"] if is_peer(strat) else list(inits)):
                for seed in seed_list:
                    runs.append((spec, seed, strat, start))
    if on_start:
        on_start(len(runs))
    ceils = dict(zip(ceil_keys, _run_tasks(_ceiling_task, ceil_tasks, jobs, None)))
    tasks = [(spec, seed, strat, start, model, init, batch, budget, test_size,
              ceils[(spec, seed, "peer" if is_peer(strat) else "activeloop")], peer_model)
             for spec, seed, strat, start in runs]
    return _run_tasks(_curve_task, tasks, jobs, on_done)


def write_curves_csv(curves: Sequence[Curve], path: str | Path) -> Path:
    """Every point of every curve as CSV (one row per point)."""
    import csv

    path = Path(path)
    rows = [r for c in curves for r in c.rows()]
    # timings stay out of curves.csv so that the same seeds give a byte-identical file
    cols = ["dataset", "strategy", "init", "model", "seed", "labels", *METRICS, "ceiling"]
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
    import csv

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
        curves.append(Curve(ds, strat, int(seed), init, model, labels,
                            {m: np.array([float(r[m]) if r[m] != "" else np.nan for r in rows]) for m in METRICS},
                            np.zeros(len(rows)), np.zeros(len(rows)), first, float(ceil) if ceil else None,
                            {"first_minority_is_upper_bound": True}))
    return curves
