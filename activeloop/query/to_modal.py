"""activeloop -> modAL: :func:`as_modal` turns any activeloop strategy into a modAL query strategy.

The result is ``(classifier, X, n_instances) -> (indices, scores)``, for ``modAL.models.ActiveLearner``.
It sits above the registry (it resolves names); the other direction is :mod:`activeloop.query.modal`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from activeloop.errors import StrategyError
from activeloop.model.adapter import is_fitted
from activeloop.query.coldstart import cold_start_clusters, cold_start_select
from activeloop.query.orders import class_orders
from activeloop.query.registry import resolve
from activeloop.query.selector import Selector
from activeloop.query.strategies import Context, Strategy

__all__ = ["ModalQuery", "as_modal"]


class ModalQuery:
    """A modAL query strategy that runs an activeloop strategy; build it with :func:`as_modal`."""

    def __init__(self, strategy: Strategy, *, seed: int = 0):
        self.strategy = strategy
        self.seed = seed
        self.__name__ = f"as_modal({strategy!r})"

    def __call__(self, classifier: Any, X: Any, n_instances: int = 1, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        """Pick ``n_instances`` rows of ``X``; returns ``(indices, scores)`` like modAL's own strategies."""
        X = np.asarray(X)
        n = int(min(n_instances, len(X)))
        estimator = getattr(classifier, "estimator", classifier)
        rng = np.random.default_rng(self.seed)
        if not is_fitted(estimator):
            k = cold_start_clusters(len(X), 2, n)
            pos = cold_start_select(X, max(k, n), seed=self.seed)[:n]
            return pos, np.arange(len(pos), 0, -1, dtype=np.float64)
        proba = np.asarray(classifier.predict_proba(X, **kwargs), dtype=np.float64)
        classes = list(getattr(estimator, "classes_", range(proba.shape[1])))
        counts = np.zeros(proba.shape[1], dtype=np.int64)
        y_seen = getattr(classifier, "y_training", None)
        if y_seen is not None:
            index = {c: i for i, c in enumerate(classes)}
            for v in np.asarray(y_seen).ravel():
                if v in index:
                    counts[index[v]] += 1
        ctx = Context(
            class_counts=counts,
            classes=tuple(str(c) for c in classes),
            rng=rng,
            seed=self.seed,
            ids=np.arange(len(X)),
            features=X,
            fetch_features=lambda p: X[p],
        )
        if self.strategy.needs_orders:
            margins, orders = class_orders(proba)
            ctx = ctx.with_rows(ids=ctx.ids, features=X, fetch_features=ctx.fetch_features, margins=margins,
                                orders=orders)
        X_seen = getattr(classifier, "X_training", None)
        if self.strategy.needs_labeled and X_seen is not None and y_seen is not None and len(y_seen):
            index = {c: i for i, c in enumerate(classes)}
            keep = np.array([v in index for v in np.asarray(y_seen).ravel()])
            y_idx = np.array([index[v] for v in np.asarray(y_seen).ravel() if v in index], dtype=np.int64)
            lab_p = np.asarray(classifier.predict_proba(np.asarray(X_seen)[keep], **kwargs), dtype=np.float64)
            ctx = replace(ctx, labeled_proba=lab_p, labeled_y=y_idx)
        if self.strategy.needs_labeled_features and X_seen is not None:
            ctx = replace(ctx, labeled_features=np.asarray(X_seen))
        predicted = proba.argmax(axis=1)
        scores = self.strategy.rescore(self.strategy.score(proba, ctx), predicted, ctx)
        pos = np.asarray(self.strategy.select(scores, predicted, n, ctx), dtype=np.int64)
        return pos, scores[pos]

    def __repr__(self) -> str:
        return self.__name__


def as_modal(strategy: Any, *, seed: int = 0) -> ModalQuery:
    """An activeloop strategy (object or registry name) as a modAL query strategy.

    Parameters
    ----------
    strategy : Strategy or str
        Anything :func:`activeloop.query.registry.resolve` accepts.
    seed : int
        Seed for strategies that draw (random, k-means++ diversity).

    Returns
    -------
    ModalQuery
        ``query(classifier, X, n_instances=1) -> (indices, scores)``. When the classifier is not
        fitted yet, it returns a k-means cold-start batch instead.

    Examples
    --------
    >>> from modAL.models import ActiveLearner                     # doctest: +SKIP
    >>> learner = ActiveLearner(estimator=clf, query_strategy=as_modal("minority-margin"))  # doctest: +SKIP
    """
    strat = resolve(strategy)
    if isinstance(strat, Selector):
        raise StrategyError(f"{strat!r} already is a modAL strategy; pass the modAL function itself")
    return ModalQuery(strat, seed=seed)
