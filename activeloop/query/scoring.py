"""Scoring a pool once per round, and finding the best available candidates in the result.

:func:`score_pool` streams the pool's unlabeled examples through a model chunk by chunk (the
next chunk is read from the database while the model scores this one) and keeps, per example,
only what a query needs: a :class:`~activeloop.store.scores.Scores` (id, base score, predicted
class, confidence, per-class orders). :func:`class_heads` then finds, without a pass over every
score, the best available candidates of each predicted class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from activeloop.query.chunks import prefetched, score_chunks
from activeloop.query.orders import class_orders
from activeloop.query.strategies import Strategy
from activeloop.store.exclusions import union_ids
from activeloop.store.scores import Scores

__all__ = ["ExcludedRows", "Scored", "class_heads", "not_in", "score_pool"]


@dataclass
class Scored:
    """The result of :func:`score_pool`: the scores, and a few rows to notice a refitted model by."""

    scores: Scores
    probe_X: np.ndarray | None
    probe_proba: np.ndarray | None
    n_scored: int
    margins: np.ndarray | None = None  # (n, C), with ``orders=True``
    orders: np.ndarray | None = None  # (C, n) per-class orders over the scored rows (positions into ids)


def score_pool(
    model: Any,
    pool: Any,
    strategy: Strategy,
    *,
    key: str,
    round: int | None,
    counts: np.ndarray,
    seed: int,
    chunk_size: int = 50_000,
    orders: bool = False,
    client: Any = None,
) -> Scored:
    """Score the pool split's unlabeled examples with ``model`` and ``strategy.score`` (on ``client`` if given).

    On a dask ``client`` the workers sort their candidates per class and the client k-way merges
    them (:mod:`activeloop.query.distributed`); the scores equal a local pass, array for array.

    With ``orders``, also the per-class margins and orders (:func:`~activeloop.query.orders.class_orders`)
    that DIRECT, GALAXY and BASE read; this keeps every row's probabilities until the end.
    """
    C = len(pool.classes)
    if client is not None:
        from activeloop.query.distributed import score_on_cluster

        part = score_on_cluster(client, pool, model, strategy, counts=counts, seed=seed, chunk_size=chunk_size,
                                keep_proba=orders)
        # ids ascending, per-class orders merged from the workers' candidates: what Scores.build computes here
        scores = Scores(key, round, part.ids, part.base.astype(np.float32), part.predicted, part.confidence,
                        part.order if part.order is not None else np.empty(0, np.int32),
                        part.starts if part.starts is not None else np.zeros(C + 1, np.int64))
        margins, per_class = part.margins, part.orders
    else:
        rows = prefetched(lambda: pool.iter_features(split="pool", unlabeled=True, chunk_size=chunk_size))
        part = score_chunks(model, strategy, rows, list(pool.classes), counts, seed, keep_proba=orders)
        scores = Scores.build(key, round, part.ids, part.base, part.predicted, part.confidence, C)
        # part's rows are in id order (iter_features keeps it), the order of scores.ids
        margins, per_class = class_orders(part.proba) if part.proba is not None else (None, None)
    if not orders:
        return Scored(scores, part.probe_X, part.probe_proba, part.n)
    if margins is None:  # nothing left to score
        margins, per_class = class_orders(np.zeros((0, C)))
    return Scored(scores, part.probe_X, part.probe_proba, part.n, margins, per_class)


def class_heads(scores: Scores, excluded: np.ndarray | ExcludedRows, h: int, windows: dict | None = None) -> np.ndarray:
    """Positions (ascending) of the ``h`` best-scored ids of each predicted class that are not in ``excluded``.

    Walks each class's stored order from its head, in windows that double until ``h`` are found,
    so the cost is about ``n_classes * (h + excluded in the window)`` rather than one per example.
    ``windows`` (class -> window), kept by the caller between calls, starts each class at the window
    that sufficed last time (the excluded only grow within a round, mostly); the result is the same.
    ``excluded``: sorted ids, or an :class:`ExcludedRows` of ``scores`` (a lookup per row instead of a search).
    """
    if isinstance(excluded, ExcludedRows):
        mask = excluded.mask
        def absent(pos):
            return ~mask[pos]
    else:
        def absent(pos):
            return _absent(scores.ids[pos], excluded)
    parts = []
    windows = {} if windows is None else windows
    for c in range(scores.n_classes):
        seg = scores.order[scores.starts[c] : scores.starts[c + 1]]
        take = max(h + 16, windows.get(c, 0))
        while True:
            pos = seg[:take]
            keep = pos[absent(pos)]
            if len(keep) >= h or take >= len(seg):
                break
            take *= 2
        windows[c] = take
        parts.append(keep[:h])
    if not parts:
        return np.empty(0, np.int64)
    return np.sort(np.concatenate(parts)).astype(np.int64)


class ExcludedRows:
    """Which rows of a :class:`~activeloop.store.scores.Scores` are excluded, as a mask over its positions.

    Kept up to date from the sorted excluded ids by difference: one query's exclusions differ from the
    last one's by a batch or so, so an update costs a search of the excluded ids among the last ones,
    and :func:`class_heads` then looks each candidate up in the mask instead of searching for it.

    Parameters
    ----------
    ids : ndarray of shape (n,)
        The scores' ids, ascending.
    """

    def __init__(self, ids: np.ndarray):
        self.ids = ids
        self.mask = np.zeros(len(ids), dtype=bool)
        self._known = np.empty(0, np.int64)  # the sorted excluded ids the mask reflects

    def update(self, excluded: np.ndarray) -> "ExcludedRows":
        """Make the mask say ``excluded`` (sorted ids; ids not among the scores' are ignored)."""
        known = self._known
        if len(excluded) == len(known) and np.array_equal(excluded, known):  # what the last query left
            return self
        added = excluded[_absent(excluded, known)]
        if len(excluded) - len(added) != len(known):  # some that were excluded are not any more
            self._set(known[_absent(known, excluded)], False)
        self._set(added, True)
        self._known = excluded
        return self

    def add(self, ids: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Exclude ``ids`` too (a query's own leases; ``rows``: their positions in the scores, when known, which
        saves searching a million ids); returns every excluded id, sorted."""
        ids = np.asarray(ids, dtype=np.int64)
        if rows is None:
            self._set(ids, True)
        else:
            self.mask[rows] = True
        self._known = union_ids(self._known, ids)
        return self._known

    def _set(self, ids: np.ndarray, value: bool) -> None:
        pos = np.searchsorted(self.ids, ids)
        inside = pos < len(self.ids)
        pos, ids = pos[inside], ids[inside]
        self.mask[pos[self.ids[pos] == ids]] = value


def not_in(sorted_ids: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Positions of ``sorted_ids`` (ascending) whose id is not in ``excluded`` (one pass over the ids).

    Looks the (few) excluded ids up in the (many) ids, so the cost is one pass plus
    ``len(excluded) * log(len(sorted_ids))``.
    """
    keep = np.ones(len(sorted_ids), dtype=bool)
    if len(excluded) and len(sorted_ids):
        ex = np.asarray(excluded, dtype=sorted_ids.dtype)
        pos = np.searchsorted(sorted_ids, ex)
        inside = pos < len(sorted_ids)
        pos, ex = pos[inside], ex[inside]
        keep[pos[sorted_ids[pos] == ex]] = False
    return np.flatnonzero(keep)


def _absent(ids: np.ndarray, excluded_sorted: np.ndarray) -> np.ndarray:
    """Mask of ``ids`` not in ``excluded_sorted`` (ascending)."""
    if len(excluded_sorted) == 0:
        return np.ones(len(ids), dtype=bool)
    pos = np.minimum(np.searchsorted(excluded_sorted, ids), len(excluded_sorted) - 1)
    return excluded_sorted[pos] != ids
