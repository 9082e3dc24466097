"""Per-class orders of the pool: the one structure DIRECT, GALAXY and BASE share.

For each class ``k`` the pool is ordered by the per-class margin ``q_k = p_k - max_{j != k} p_j``
(positive exactly where ``k`` is the predicted class, ``0`` on the boundary between ``k`` and its
strongest rival). The engine computes the orders once per round, after scoring, and reuses them for
every query of the round; they are plain arrays so they can be stored with the round.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from activeloop.errors import StrategyError

__all__ = ["class_margins", "class_orders", "restrict_orders"]


def class_margins(proba: npt.ArrayLike) -> np.ndarray:
    """Per-class margins ``q[i, k] = p[i, k] - max_{j != k} p[i, j]``.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)

    Returns
    -------
    q : ndarray of shape (n_samples, n_classes), float64, values in ``[-1, 1]``
        Row-wise, so chunks of the pool can be processed independently. ``q[i, k] > 0`` iff ``k``
        is the (unique) predicted class; for the predicted class it equals the top-two margin.
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2:
        raise StrategyError(f"expected probabilities of shape (n_samples, n_classes), got shape {p.shape}")
    n, C = p.shape
    if C < 2:
        return np.zeros((n, C))
    top = p.argmax(axis=1)
    top1 = p[np.arange(n), top]
    second = np.partition(p, C - 2, axis=1)[:, C - 2]
    rival = np.repeat(top1[:, None], C, axis=1)
    rival[np.arange(n), top] = second
    return p - rival


def class_orders(proba: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The per-class margins and, for each class, the rows sorted by that margin, highest first.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)

    Returns
    -------
    q : ndarray of shape (n_samples, n_classes)
        :func:`class_margins` of ``proba``.
    orders : ndarray of shape (n_classes, n_samples), int64
        ``orders[k]`` lists row positions from the most to the least ``k``-like (descending
        ``q[:, k]``); ties keep row order (stable sort), so the result is deterministic.

    Examples
    --------
    >>> q, o = class_orders([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]])
    >>> o.tolist()
    [[0, 2, 1], [1, 2, 0]]
    """
    q = class_margins(proba)
    orders = np.argsort(-q.T, axis=1, kind="stable").astype(np.int64)
    return q, orders


def restrict_orders(orders: np.ndarray, keep: np.ndarray, n_rows: int | None = None) -> np.ndarray:
    """Orders over a subset of the rows, as positions into that subset.

    Parameters
    ----------
    orders : ndarray of shape (n_classes, n_rows)
        From :func:`class_orders`.
    keep : ndarray of shape (m,)
        Distinct row positions to keep (e.g. the rows still available this query).
    n_rows : int, optional
        Rows the orders cover (``orders.shape[1]`` by default).

    Returns
    -------
    ndarray of shape (n_classes, m)
        ``out[k]`` are positions into ``keep``, in the order ``orders[k]`` visits them.
    """
    n = orders.shape[1] if n_rows is None else int(n_rows)
    inv = np.full(n, -1, dtype=np.int64)
    inv[np.asarray(keep, dtype=np.int64)] = np.arange(len(keep))
    mapped = inv[orders]
    return mapped[mapped >= 0].reshape(orders.shape[0], len(keep))
