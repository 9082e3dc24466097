"""One simulated-oracle learning curve through the real product path (:func:`run_curve`).

One activeloop run = a SQLite pool in a temporary file (pool split: the unlabeled pool; eval split:
the held-out test set, labeled at import, so every round's recorded metrics are the honest test
metrics), the real :class:`~activeloop.query.QueryEngine`, the real retrain
(:meth:`activeloop.loop.Loop.retrain`), and a :class:`~activeloop.bench.oracle.SimulatedOracle` that
answers through ``pool.label(..., source="oracle")``. Peers run through :mod:`activeloop.bench.peers`.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Sequence

import numpy as np

from activeloop.bench.curve import Curve, Recorder
from activeloop.bench.models import ceiling_score, make_model, model_name, pick_metrics, test_metrics
from activeloop.bench.oracle import SimulatedOracle
from activeloop.bench.peers import peer_name, run_peer
from activeloop.errors import ActiveloopError
from activeloop.stopping import snapshots

__all__ = ["INITS", "is_peer", "run_curve", "seed_set", "strategy_name"]

INITS = ("random", "cold-start")


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


def is_peer(strategy: Any) -> bool:
    """Whether a strategy name runs as a peer (``peer:modal-*`` / ``peer:random``) instead of through the pool."""
    return peer_name(strategy, warn=lambda msg: None) is not None


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
        An activeloop strategy (anything :func:`activeloop.query.resolve` takes, ``modal:NAME``
        included: a modAL measure inside activeloop's engine), or a peer: ``"peer:modal-margin"`` /
        ``"peer:modal-uncertainty"`` / ``"peer:modal-entropy"`` (a real ``modAL.ActiveLearner`` with
        logistic regression; needs the ``modal`` extra) or ``"peer:random"`` (plain random sampling).
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
    strategy = peer_name(strategy) or strategy
    peer = is_peer(strategy)
    if peer:
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
            rec = Recorder()

            def retrain(query_s: float) -> None:
                t = time.perf_counter()
                rnd = loop.retrain()
                fit_s = time.perf_counter() - t
                found = pool.class_counts("pool")[minority_name]
                rec.add(len(oracle.history), pick_metrics(rnd.metrics, minority_name), found, query_s, fit_s,
                        snapshots([rnd])[0])

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
