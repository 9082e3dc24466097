"""Batch diversity: pick ``k`` spread-out rows among the top ``factor * k`` candidates.

The top-k most uncertain examples are often near-duplicates; these steps make each label count.
Both selectors take the candidates in score order (best first) and keep the best one, except the
core-set started from the labeled rows (``centers``): its first pick is the candidate farthest from them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from activeloop.errors import StrategyError
from activeloop.query.strategies import Context, Strategy, Wrapper, top_n

__all__ = ["kmeanspp_select", "coreset_select", "CandidateDistances", "Diverse", "DIVERSITY_METHODS"]


def _gram(A: np.ndarray, B: np.ndarray, BT: np.ndarray | None = None) -> np.ndarray:
    """``A @ B.T`` in blocks of ``GRAM_ROWS`` rows and about ``GRAM_WORK`` multiply-adds: OpenBLAS runs a product
    that small on the calling thread. One product of these sizes would be spread over its threads, which costs
    far more than it saves when the cores are busy (64 x 300 rows of 64 features on a 2-core machine with
    four busy processes: 24-32 ms, blocked 0.04-0.08 ms). Nothing process-wide changes, so other threads'
    BLAS calls are untouched (a thread-count limit would be process-wide and not thread-safe). ``BT``: ``B.T``
    as a C-contiguous array, when kept from an earlier call."""
    d = max(A.shape[1], 1)
    if GRAM_ROWS * d > GRAM_WORK:  # wide rows: even one column of a block is big work, worth the threads
        return A @ B.T
    out = np.empty((len(A), len(B)))
    if BT is None:
        BT = np.ascontiguousarray(B.T)
    cols = GRAM_WORK // (GRAM_ROWS * d)
    for c in range(0, len(B), cols):
        for r in range(0, len(A), GRAM_ROWS):
            out[r : r + GRAM_ROWS, c : c + cols] = A[r : r + GRAM_ROWS] @ BT[:, c : c + cols]
    return out


def _sq_dist(X: np.ndarray, x: np.ndarray) -> np.ndarray:
    d = X - x
    return np.einsum("ij,ij->i", d, d)


def _pairwise_sq(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """Squared distances between the rows of ``A`` and those of ``B`` (default ``A``): one matrix product,
    ``|a|^2 + |b|^2 - 2 a.b``.

    Where that cancels (rows within ``CLOSE`` of each other, relative to their norms) the pair is
    computed directly as ``|a - b|^2``, so identical rows are exactly 0 apart and near ones keep
    their own small distance.
    """
    sq_a = np.einsum("ij,ij->i", A, A)
    sq_b = sq_a if B is None else np.einsum("ij,ij->i", B, B)
    B = A if B is None else B
    norms = sq_a[:, None] + sq_b[None, :]
    D = norms - 2.0 * _gram(A, B)
    ii, jj = np.nonzero(D <= CLOSE * norms)
    d = A[ii] - B[jj]
    D[ii, jj] = np.einsum("ij,ij->i", d, d)  # a row and itself among them: exactly 0
    return D


CLOSE = 1e-6
GRAM_ROWS, GRAM_WORK = 16, 1 << 18
PAIRWISE_ROWS = 4096  # the largest candidate set whose m x m distance matrix is kept (128 MiB of float64)


def _candidates(X: npt.ArrayLike, scores: npt.ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Candidates and scores as float64 arrays, their count, and ``k`` capped to it (never below 0)."""
    X = np.asarray(X, dtype=np.float64)
    m = len(X)
    return X, np.asarray(scores, dtype=np.float64), m, max(int(min(k, m)), 0)


def _nearest_sq(X: np.ndarray, centers: npt.ArrayLike, center_sq: np.ndarray | None = None,
                centers_T: np.ndarray | None = None) -> np.ndarray:
    """Squared distance from each row of ``X`` to its nearest row of ``centers`` (``center_sq``: their squared
    norms, ``centers_T``: their transpose, C-contiguous; when kept from an earlier call).

    The nearest center is found with one matrix product (``|a|^2 + |b|^2 - 2 a.b``); the distance to it
    is then computed exactly, so a row equal to a center is exactly 0 away.
    """
    C = np.asarray(centers, dtype=np.float64)
    if not len(C):
        return np.full(len(X), np.inf)
    if center_sq is None:
        center_sq = np.einsum("ij,ij->i", C, C)
    approx = center_sq[None, :] - 2.0 * _gram(X, C, centers_T)  # + |x|^2, the same along each row
    d = X - C[approx.argmin(axis=1)]
    return np.einsum("ij,ij->i", d, d)


class CandidateDistances:
    """Squared distances of a round's candidates to the labeled rows and among themselves, kept per id.

    The labeled rows (the centers) stay the same for all of a round's queries, and most candidates of
    one query are candidates of the next: each candidate's distance to its nearest center is computed
    once, and the distances among the last call's candidates are kept, so a call computes only the
    rows of candidates it has not seen.

    Parameters
    ----------
    centers : array-like of shape (c, n_features), optional
    """

    def __init__(self, centers: npt.ArrayLike | None = None):
        self.centers = np.asarray(centers if centers is not None else np.empty((0, 0)), dtype=np.float64)
        self.center_sq = np.einsum("ij,ij->i", self.centers, self.centers)
        self.centers_T = np.ascontiguousarray(self.centers.T)
        self._nearest: dict[int, float] = {}
        self._slots: dict[int, int] = {}  # id -> its row and column in ``_among``
        self._free: list[int] = []  # slots of no id
        self._among = np.empty((0, 0))

    def to_labeled(self, ids: npt.ArrayLike, X: npt.ArrayLike) -> np.ndarray | None:
        """Each row's squared distance to its nearest center (rows ``X``, ids ``ids``); None without centers."""
        if not len(self.centers):
            return None
        ids = np.asarray(ids).tolist()
        known = self._nearest
        new = [k for k, i in enumerate(ids) if i not in known]
        if new:
            d2 = _nearest_sq(np.asarray(np.asarray(X)[new], dtype=np.float64), self.centers, self.center_sq,
                             self.centers_T)
            known.update(zip([ids[k] for k in new], d2.tolist()))
        return np.array([known[i] for i in ids], dtype=np.float64)

    def among(self, ids: npt.ArrayLike, X: npt.ArrayLike) -> Callable[[int], np.ndarray] | None:
        """``row(i)``: the squared distances from row ``i`` of ``X`` (ids ``ids``) to every row, in that order,
        as :func:`_pairwise_sq` computes them; None above ``PAIRWISE_ROWS`` rows.

        The distances are kept in a matrix with a slot per id: the rows and columns of new ids are
        computed into the slots of ids that are no longer candidates.
        """
        ids = np.asarray(ids).tolist()
        if len(ids) > PAIRWISE_ROWS:
            return None
        slot_of, free = self._slots, self._free
        asked = set(ids)
        for i in [i for i in slot_of if i not in asked]:
            free.append(slot_of.pop(i))
        new = [k for k, i in enumerate(ids) if i not in slot_of]
        if len(slot_of) + len(new) > len(self._among):  # grow: twice what is needed now
            size, old = 2 * (len(slot_of) + len(new)), self._among
            self._among = np.empty((size, size))
            self._among[: len(old), : len(old)] = old
            free.extend(range(size - 1, len(old) - 1, -1))
        for k in new:
            slot_of[ids[k]] = free.pop()
        slots = np.array([slot_of[i] for i in ids], dtype=np.int64)
        D = self._among
        if new:
            X = np.asarray(X, dtype=np.float64)
            D_new = _pairwise_sq(X[new], X)
            D[np.ix_(slots[new], slots)] = D_new
            D[np.ix_(slots, slots[new])] = np.ascontiguousarray(D_new.T)  # twice as fast as the transposed view
        return lambda i: D[slots[i], slots]


def _to_centers(X: np.ndarray, centers: npt.ArrayLike | None, nearest: npt.ArrayLike | None) -> np.ndarray | None:
    """``nearest`` when known, else each row's squared distance to its nearest center (None: no centers)."""
    if nearest is None and centers is not None and len(centers):
        return _nearest_sq(X, centers)
    return None if nearest is None else np.asarray(nearest, dtype=np.float64)


def _distance_rows(X: np.ndarray) -> Callable[[int], np.ndarray]:
    """``row(i)``: squared distances from every row of ``X`` to row ``i``.

    Up to ``PAIRWISE_ROWS`` rows, one matrix of all of them (:func:`_pairwise_sq`) is computed at once,
    so each pick is then an elementwise minimum with one of its rows; above, a row per pick.
    """
    if len(X) <= PAIRWISE_ROWS:
        return _pairwise_sq(X).__getitem__
    return lambda i: _sq_dist(X, X[i])


def kmeanspp_select(
    X: npt.ArrayLike, scores: npt.ArrayLike, k: int, rng: np.random.Generator, centers: npt.ArrayLike | None = None,
    *, nearest: npt.ArrayLike | None = None, pairwise: Callable[[int], np.ndarray] | None = None,
) -> npt.NDArray[np.int64]:
    """k-means++ seeding weighted by score: spread-out rows that are still informative.

    The first pick is the best-scored row; each next pick is drawn with probability proportional
    to ``score * D(x)^2``, ``D`` being the distance to the nearest row picked so far (plain
    k-means++ when all scores are equal). Rows already at distance 0 are never drawn again.
    With ``centers`` (e.g. the labeled rows), ``D`` also counts the distance to them, as in the
    k-center core-set (Sener & Savarese, 2018): picks avoid regions already labeled.

    Parameters
    ----------
    X : array-like of shape (m, n_features)
        Candidates, best first.
    scores : array-like of shape (m,)
    k : int
    rng : numpy.random.Generator
    centers : array-like of shape (c, n_features), optional
    nearest : array-like of shape (m,), optional
        Each row's squared distance to its nearest center, when known already (see
        :class:`CandidateDistances`); used in place of ``centers``.
    pairwise : callable, optional
        ``pairwise(i)``: the squared distances from row ``i`` to every row, when known already (see
        :meth:`CandidateDistances.among`).

    Returns
    -------
    positions : ndarray of shape (min(k, m),)
        Positions into ``X``, in pick order.
    """
    X, s, m, k = _candidates(X, scores, k)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    nan = np.isnan(s)
    if nan.any():  # a model that outputs NaN: those rows weigh as the lowest score
        s = np.where(nan, np.nanmin(s) if not nan.all() else 0.0, s)
    s = s - min(s.min(), 0.0) + 1e-12  # keep every weight positive
    first = int(top_n(s, 1)[0])
    picked = [first]
    row = pairwise if pairwise is not None else _distance_rows(X)
    d2 = row(first).copy()
    nearest = _to_centers(X, centers, nearest)
    if nearest is not None:
        np.minimum(d2, nearest, out=d2)
    for _ in range(k - 1):
        w = s * d2  # a picked row (and any duplicate of one) is at distance exactly 0: never drawn again
        total = w.sum()
        if total <= 0:  # only duplicates left: fall back to score order
            rest = [i for i in top_n(s, m) if i not in set(picked)]
            picked.extend(rest[: k - len(picked)])
            break
        cdf = (w / total).cumsum()  # inverse-CDF draw with probability w / total (rng.choice without its checks)
        nxt = int(cdf.searchsorted(rng.random() * cdf[-1], side="right"))
        picked.append(nxt)
        np.minimum(d2, row(nxt), out=d2)
    return np.asarray(picked, dtype=np.int64)


def coreset_select(
    X: npt.ArrayLike, scores: npt.ArrayLike, k: int, centers: npt.ArrayLike | None = None,
    *, nearest: npt.ArrayLike | None = None, pairwise: Callable[[int], np.ndarray] | None = None,
) -> npt.NDArray[np.int64]:
    """Greedy k-center core-set (Sener & Savarese, 2018) over the candidates; deterministic.

    Starts from the best-scored row (or from ``centers``, e.g. the labeled set, when given) and
    repeatedly adds the row farthest from every row chosen so far; ties go to the better score.

    Parameters
    ----------
    X : array-like of shape (m, n_features)
    scores : array-like of shape (m,)
    k : int
    centers : array-like of shape (c, n_features), optional
    nearest, pairwise : optional
        Distances known already, as for :func:`kmeanspp_select`.

    Returns
    -------
    positions : ndarray of shape (min(k, m),)
    """
    X, s, m, k = _candidates(X, scores, k)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    rank = top_n(s, m)  # score order: argmax then breaks ties of distance by the better score
    row = _distance_rows(X[rank]) if pairwise is None else (lambda i: pairwise(rank[i])[rank])
    nearest = _to_centers(X, centers, nearest)
    if nearest is not None:
        d2 = nearest[rank]
        picked: list[int] = []
    else:
        d2 = row(0).copy()
        d2[0] = -np.inf  # chosen: never again
        picked = [0]
    while len(picked) < k:
        nxt = int(d2.argmax())
        picked.append(nxt)
        np.minimum(d2, row(nxt), out=d2)
        d2[nxt] = -np.inf
    return rank[picked]


DIVERSITY_METHODS = ("kmeans++", "coreset")


class Diverse(Wrapper):
    """Run the base selection for ``factor * n`` rows, then keep ``n`` spread-out ones.

    Parameters
    ----------
    base : Strategy
    method : {"kmeans++", "coreset"}
        :func:`kmeanspp_select` (score-weighted, uses ``ctx.rng``) or :func:`coreset_select`.
    factor : int, default 4
        How many candidates per slot the diversity step looks at (``m`` in "top m*k").
    labeled : bool, default False
        Count the labeled rows (``ctx.labeled_features``) as centers already chosen, so picks avoid
        regions already labeled (the k-center core-set's start; Sener & Savarese, 2018).
    by_classes : bool, default False
        Look at one candidate per class per slot, at most ``factor``: ``min(C, factor)`` with ``C`` the
        project's classes (``len(ctx.class_counts)``; in a modAL learner wrapped by
        :func:`~activeloop.query.to_modal.as_modal`, the classes its estimator has seen). A binary task
        has one decision boundary, and a wider window only trades closeness to it for spread; with more
        classes the window holds candidates from more boundaries for the picks to spread over.
    """

    def __init__(self, base: Strategy, *, method: str = "kmeans++", factor: int = 4, labeled: bool = False,
                 by_classes: bool = False):
        if method not in DIVERSITY_METHODS:
            raise StrategyError(f"unknown diversity method {method!r}; choose one of {', '.join(DIVERSITY_METHODS)}")
        if int(factor) < 1:
            raise StrategyError(f"diversity factor must be >= 1, got {factor}")
        super().__init__(base)
        self.method = method
        self.factor = int(factor)
        self.labeled = bool(labeled)
        self.by_classes = bool(by_classes)
        self.needs_labeled_features = self.labeled or base.needs_labeled_features

    def window(self, ctx: Context) -> int:
        """Candidates per slot: ``factor``, or ``min(C, factor)`` (at least ``min(2, factor)``) with ``by_classes``."""
        if not self.by_classes:
            return self.factor
        return max(min(len(ctx.class_counts), self.factor), min(2, self.factor))

    def select(self, scores, predicted, n, ctx: Context):
        n = int(min(n, len(scores)))
        pool_pos = self.base.select(scores, predicted, self.window(ctx) * n, ctx)
        if len(pool_pos) <= n or ctx.fetch_features is None:
            return pool_pos[:n]
        X = ctx.fetch_features(pool_pos)
        s = scores[pool_pos]
        centers = ctx.labeled_features if self.labeled else None
        nearest = pairwise = None
        if ctx.distances is not None and ctx.ids is not None:  # kept per id for the round
            ids = ctx.ids[pool_pos]
            nearest = ctx.distances.to_labeled(ids, X) if self.labeled else None
            pairwise = ctx.distances.among(ids, X)
        if self.method == "kmeans++":
            chosen = kmeanspp_select(X, s, n, ctx.rng, centers, nearest=nearest, pairwise=pairwise)
        else:
            chosen = coreset_select(X, s, n, centers, nearest=nearest, pairwise=pairwise)
        out = pool_pos[chosen]
        return out[top_n(scores[out], len(out))]

    def heads(self, n):
        return self.base.heads(self.factor * n)  # the widest window: enough for any number of classes

    def __repr__(self):
        labeled = ", labeled=True" if self.labeled else ""
        factor = f"min(classes, {self.factor})" if self.by_classes else self.factor
        return f"diverse({self.base!r}, method={self.method!r}, factor={factor}{labeled})"
