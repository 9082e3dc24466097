"""Peers measured on the same splits, seed sets and budget: modAL's ActiveLearner, and random sampling.

They run in memory, outside activeloop (that is the point of a peer), with the estimator of the
issue's reference table, ``LogisticRegression(class_weight="balanced")`` on standardised features.
Names: ``modal:uncertainty_sampling``, ``modal:margin_sampling``, ``modal:entropy_sampling`` (any
function in ``modAL.uncertainty`` / ``modAL.batch`` taking ``(classifier, X, n_instances)``), and
``peer:random``.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Sequence

import numpy as np

from activeloop.bench.curve import Recorder
from activeloop.bench.models import logreg_balanced, make_model, test_metrics
from activeloop.errors import StrategyError
from activeloop.model.adapter import proba_by_class
from activeloop.query.modal import modal_function

__all__ = ["run_peer", "PEERS"]

PEERS = ("modal:uncertainty_sampling", "modal:margin_sampling", "modal:entropy_sampling", "peer:random")

#: modAL modules a ``modal:NAME`` peer's function comes from (those taking ``(classifier, X, n_instances)``).
PEER_MODULES = ("uncertainty", "batch")


def run_peer(
    strategy: str,
    X_pool: np.ndarray,
    y_pool: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    classes: Sequence[str],
    minority: int,
    seed_positions: np.ndarray,
    *,
    batch: int,
    budget: int,
    seed: int,
    estimator: Any = None,
):
    """Run one peer; returns ``(recorder, labeled class indices in order)`` like the activeloop runner."""
    est = make_model(estimator if estimator is not None else logreg_balanced(), seed)
    prefix, _, name = strategy.partition(":")
    rec = Recorder()
    labeled = list(int(i) for i in seed_positions)
    mask = np.zeros(len(y_pool), bool)
    mask[labeled] = True

    def point(query_s: float, fit_s: float, clf) -> None:
        m = test_metrics(y_test, proba_by_class(clf, X_test, list(classes)), classes, minority)
        rec.add(len(labeled), m, int(np.sum(y_pool[labeled] == minority)), query_s, fit_s)

    if prefix == "peer" and name == "random":
        rng = np.random.default_rng([seed, 4242])
        t = time.perf_counter()
        est.fit(X_pool[labeled], y_pool[labeled])
        point(0.0, time.perf_counter() - t, est)
        while len(labeled) < budget:
            t = time.perf_counter()
            rest = np.flatnonzero(~mask)
            pick = rng.choice(rest, size=min(batch, budget - len(labeled)), replace=False)
            q = time.perf_counter() - t
            labeled.extend(int(i) for i in pick)
            mask[pick] = True
            t = time.perf_counter()
            est.fit(X_pool[labeled], y_pool[labeled])
            point(q, time.perf_counter() - t, est)
        return rec, y_pool[labeled]
    if prefix != "modal":
        raise StrategyError(f"unknown peer {strategy!r}; choose one of {', '.join(PEERS)}")
    from modAL.models import ActiveLearner

    fn = modal_function(name, PEER_MODULES)
    with warnings.catch_warnings():
        # modAL 0.4.2.1 passes sklearn's deprecated force_all_finite on every fit; that warning is not ours
        warnings.filterwarnings("ignore", message=".*force_all_finite.*", category=FutureWarning)
        t = time.perf_counter()
        learner = ActiveLearner(estimator=est, query_strategy=fn, X_training=X_pool[labeled], y_training=y_pool[labeled])
        point(0.0, time.perf_counter() - t, learner.estimator)
        while len(labeled) < budget:
            rest = np.flatnonzero(~mask)
            n = min(batch, budget - len(labeled))
            t = time.perf_counter()
            out = learner.query(X_pool[rest], n_instances=n)
            q = time.perf_counter() - t
            pos = np.asarray(out[0] if isinstance(out, tuple) else out).ravel()[:n]
            pick = rest[pos]
            t = time.perf_counter()
            learner.teach(X_pool[pick], y_pool[pick])
            labeled.extend(int(i) for i in pick)
            mask[pick] = True
            point(q, time.perf_counter() - t, learner.estimator)
    return rec, y_pool[labeled]
