"""Peers measured on the same splits, seed sets and budget: modAL's ActiveLearner, and random sampling.

They run in memory, outside activeloop (that is the point of a peer), with the estimator of the
issue's reference table, ``LogisticRegression(class_weight="balanced")`` on standardised features.
Names: ``peer:modal-uncertainty``, ``peer:modal-margin``, ``peer:modal-entropy`` (modAL's
``ActiveLearner`` with that ``modAL.uncertainty`` function; ``peer:modal-NAME`` takes any function of
``modAL.uncertainty`` / ``modAL.batch`` taking ``(classifier, X, n_instances)``, with or without its
``_sampling`` suffix) and ``peer:random``. They need the ``modal`` extra.

``modal:NAME`` is not a peer: everywhere, the bench included, it is a modAL measure run inside
activeloop's engine on activeloop's model (:func:`activeloop.query.modal.from_modal`). The bench's
old peer spellings ``modal:uncertainty_sampling`` / ``modal:margin_sampling`` /
``modal:entropy_sampling`` still run the peer, with a deprecation warning (:func:`peer_name`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any, Sequence

import numpy as np

from activeloop.bench.curve import Recorder
from activeloop.bench.models import logreg_balanced, make_model, test_metrics
from activeloop.errors import StrategyError
from activeloop.extras import require_modal
from activeloop.model.adapter import proba_by_class
from activeloop.query.modal import modal_function

__all__ = ["run_peer", "peer_name", "check_peer", "PEERS"]

PEERS = ("peer:modal-uncertainty", "peer:modal-margin", "peer:modal-entropy", "peer:random")

#: The bench's old peer spellings, which clashed with the in-engine ``modal:NAME`` strategies.
DEPRECATED = {f"modal:{m}_sampling": f"peer:modal-{m}" for m in ("uncertainty", "margin", "entropy")}


def peer_name(strategy: object, warn: Callable[[str], None] | None = None) -> str | None:
    """The peer a bench strategy names (``peer:...``), or None when it runs through activeloop's engine.

    An old spelling (``modal:margin_sampling``) maps to its peer (``peer:modal-margin``) and is
    reported through ``warn`` (default: a ``FutureWarning``).
    """
    if not isinstance(strategy, str):
        return None
    new = DEPRECATED.get(strategy.strip())
    if new is not None:
        msg = (f"bench strategy {strategy!r} is deprecated as a name for the modAL + LogisticRegression peer: "
               f"write {new!r}; {strategy!r} will mean the in-engine modAL measure, as it does everywhere else")
        (warn or (lambda m: warnings.warn(m, FutureWarning, stacklevel=3)))(msg)
        return new
    return strategy if strategy.startswith("peer:") else None


def check_peer(strategy: str) -> None:
    """Fail before any work on an unknown peer, or a modAL peer without the ``modal`` extra."""
    name = peer_name(strategy, warn=lambda msg: None) or strategy
    if name == "peer:random":
        return
    if not name.startswith("peer:modal-"):
        raise StrategyError(f"unknown peer {strategy!r}; choose one of {', '.join(PEERS)}, or peer:modal-NAME")
    _peer_function(name.removeprefix("peer:modal-"))


def _peer_function(name: str) -> Callable:
    """The modAL function of ``peer:modal-NAME``: ``NAME`` or ``NAME_sampling``, hyphens as underscores."""
    require_modal("modAL.models", "the bench's modAL peers (peer:modal-*)")
    fn_name = name.replace("-", "_")
    if fn_name.endswith("_sampling"):
        return modal_function(fn_name, PEER_MODULES)
    try:  # the _sampling form first: modAL.uncertainty also holds scipy's ``entropy``, which is no query function
        return modal_function(f"{fn_name}_sampling", PEER_MODULES)
    except StrategyError:
        return modal_function(fn_name, PEER_MODULES)

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
    strategy = peer_name(strategy) or strategy
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
    if prefix != "peer" or not name.startswith("modal-"):
        raise StrategyError(f"unknown peer {strategy!r}; choose one of {', '.join(PEERS)}, or peer:modal-NAME")
    fn = _peer_function(name.removeprefix("modal-"))
    from modAL.models import ActiveLearner
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
