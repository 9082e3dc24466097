"""Cold start: the first batch when no model exists yet, and a measure of how well it covers classes.

With no model, uncertainty means nothing; what helps is coverage. k-means with one cluster per
example asked (``k = batch``) splits the pool into as many cells as there are labels to spend, and
the example nearest each centroid is a typical member of its cell, so the first batch covers the
pool's main modes. (With more clusters than the batch, ``k = max(batch, 4 * C)``, only the batch's
worth of them was asked, largest first: on imbalanced digits the first 10 labels covered ~6 of the 10
classes and the loop scored lower; see benchmarks/bench-digits/summary.md.)
"""

from __future__ import annotations

from typing import Hashable, Iterable, Sequence

import numpy as np
import numpy.typing as npt

from activeloop.query.strategies import content_hash

__all__ = ["cold_start_clusters", "cold_start_select", "ColdStartSampler", "labels_until_all_seen"]


def cold_start_clusters(n_rows: int, n_classes: int, batch_size: int) -> int:
    """Number of clusters for a cold start: ``min(n_rows, batch_size)``, one per example asked.

    ``n_classes`` is accepted for callers that size by classes; the count no longer depends on it.
    """
    return int(max(0, min(n_rows, batch_size)))


def _farthest_first(centers: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Order centroids: the largest cluster first, then each time the one farthest from those chosen."""
    k = len(centers)
    order = [int(np.lexsort((np.arange(k), -sizes))[0])]
    d2 = ((centers - centers[order[0]]) ** 2).sum(axis=1)
    while len(order) < k:
        d = d2.copy()
        d[order] = -np.inf
        nxt = int(np.argmax(d))
        order.append(nxt)
        d2 = np.minimum(d2, ((centers - centers[nxt]) ** 2).sum(axis=1))
    return np.asarray(order, dtype=np.int64)


def cold_start_select(X: npt.ArrayLike, n_clusters: int, *, seed: int = 0) -> npt.NDArray[np.int64]:
    """Positions of one representative per k-means cluster of ``X``, in asking order.

    Rows are put in a canonical order (by :func:`content_hash`) before clustering, so the result
    does not depend on the order of ``X``. Each cluster contributes the row nearest its centroid;
    clusters are ordered largest first, then farthest-first among centroids.

    Parameters
    ----------
    X : array-like of shape (n, n_features)
    n_clusters : int
    seed : int

    Returns
    -------
    positions : ndarray of shape (<= n_clusters,)
    """
    from sklearn.cluster import KMeans

    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    k = int(min(n_clusters, n))
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    h = content_hash(X, seed)
    canon = np.argsort(h, kind="stable")
    Xc = X[canon]
    n_distinct = len(np.unique(Xc, axis=0)) if n <= 50_000 else n
    k = min(k, n_distinct)
    km = KMeans(n_clusters=k, n_init=3, random_state=seed % (2**32)).fit(Xc)
    centers = km.cluster_centers_
    sizes = np.bincount(km.labels_, minlength=k)
    reps: list[int] = []
    seen: set[int] = set()
    for c in _farthest_first(centers, sizes):
        members = np.flatnonzero(km.labels_ == c)
        if len(members) == 0:
            continue
        d2 = ((Xc[members] - centers[c]) ** 2).sum(axis=1)
        best = int(members[np.argmin(d2)])
        if best not in seen:
            seen.add(best)
            reps.append(best)
    return canon[np.asarray(reps, dtype=np.int64)]


class ColdStartSampler:
    """Streaming cold start over chunks ``(ids, X)``: keeps a content-hash sample, then clusters it.

    Every row gets a pseudo-random score in ``[0, 1)`` from its content hash (so rows beyond the
    representatives come in random order); the representatives of :func:`cold_start_select`, run on
    the ``sample_size`` rows with the smallest hashes, get scores ``1 + (k - rank)``. Memory: the
    sample plus the ids and scores of every row.
    """

    def __init__(self, n_clusters: int, *, seed: int = 0, sample_size: int = 20_000):
        self.n_clusters = n_clusters
        self.seed = seed
        self.sample_size = sample_size

    def run(self, chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Consume the chunks; return ``(ids, scores)`` for every row seen."""
        all_ids: list[np.ndarray] = []
        all_scores: list[np.ndarray] = []
        s_ids = np.empty(0, np.int64)
        s_X: np.ndarray | None = None
        s_h = np.empty(0, np.uint64)
        for ids, X in chunks:
            ids = np.asarray(ids, dtype=np.int64)
            h = content_hash(X, self.seed)
            all_ids.append(ids)
            all_scores.append((h >> np.uint64(11)).astype(np.float64) / float(1 << 53))
            s_ids = np.concatenate([s_ids, ids])
            s_h = np.concatenate([s_h, h])
            s_X = np.asarray(X, np.float32) if s_X is None else np.concatenate([s_X, np.asarray(X, np.float32)])
            if len(s_h) > self.sample_size:
                keep = np.argpartition(s_h, self.sample_size - 1)[: self.sample_size]
                s_ids, s_h, s_X = s_ids[keep], s_h[keep], s_X[keep]
        if not all_ids:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        ids = np.concatenate(all_ids)
        scores = np.concatenate(all_scores)
        reps = cold_start_select(s_X, self.n_clusters, seed=self.seed)
        rep_ids = s_ids[reps]
        sorter = np.argsort(ids, kind="stable")
        pos = np.searchsorted(ids, rep_ids, sorter=sorter)
        scores[sorter[pos]] = 1.0 + (len(rep_ids) - np.arange(len(rep_ids)))
        return ids, scores


def labels_until_all_seen(labels: Iterable[Hashable], classes: Sequence[Hashable] | None = None) -> int | None:
    """How many labels, in the given order, until every class has appeared at least once.

    Parameters
    ----------
    labels : iterable
        Labels in the order they were (or would be) asked for.
    classes : sequence, optional
        The classes that must all appear; by default every distinct label in ``labels``.

    Returns
    -------
    int or None
        The 1-based position of the label that completes the set, or ``None`` if some class never
        appears.
    """
    labels = list(labels)
    need = set(labels) if classes is None else set(classes)
    if not need:
        return 0
    seen: set = set()
    for i, lab in enumerate(labels, start=1):
        if lab in need:
            seen.add(lab)
            if len(seen) == len(need):
                return i
    return None
