"""Batch rules for imbalanced pools from the literature, as pure functions of arrays.

All three read the per-class orders of :mod:`activeloop.query.orders` (rows sorted by
``q_k = p_k - max_{j != k} p_j``, highest first) and return positions of the rows to ask about:

* :func:`direct_select` — DIRECT (Nuggehalli, Zhang, Jain, Nowak, ICML 2025): per class, the cut of
  the order that best separates the labeled ``k`` from the labeled non-``k``; ask the unlabeled rows
  nearest that cut, alternating sides; the batch is split over classes, rarest first.
* :func:`galaxy_select` — GALAXY (Zhang, Katz-Samuels, Nowak, ICML 2022): per pick, a class at
  random; bisect the shortest run of unlabeled rows between two consecutive labeled rows that
  disagree on ``k``.
* :func:`base_select` — BASE (Emam et al., 2021): an equal quota per class, rarest first; within
  class ``k``, the rows closest to the boundary between their predicted class and ``k``
  (smallest ``|q_k|``).

Written from the papers and the authors' reference code (LabelBench ``direct.py``/``galaxy.py``;
the BASE sampler of Emam et al.); differences are noted on each function.

:class:`Direct`, :class:`Galaxy` and :class:`Base` run them as engine strategies (registered as
``direct``, ``galaxy``, ``base``). :func:`pairwise_margin` (:class:`PairwiseLeaning`, ``pairwise-margin``)
leans margin sampling toward rare classes per boundary, from the same per-class margins. Shared arguments of the functions: ``q`` (n, C) margins of the candidate rows, ``orders`` (C, n) from
:func:`~activeloop.query.orders.class_orders` over the same rows, ``q_lab`` (m, C) margins of the
labeled rows and ``y_lab`` (m,) their class indices.
"""

from __future__ import annotations

import numpy as np

from activeloop.errors import StrategyError
from activeloop.query.orders import class_margins
from activeloop.query.strategies import Context, Strategy, margin, minority_weights

__all__ = ["Direct", "Galaxy", "Base", "PairwiseLeaning", "pairwise_margin", "class_quotas", "label_slots", "best_cut", "direct_select", "galaxy_select", "base_select"]


def class_quotas(n: int, class_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split ``n`` picks over classes as evenly as possible, the remainder to the rarest.

    Returns ``(classes, quotas)``: class indices from the rarest (fewest labels; ties by index) to the
    most common, and each one's share (``n // C``, plus one for the first ``n % C`` of them).
    """
    counts = np.asarray(class_counts)
    C = len(counts)
    rank = np.argsort(counts, kind="stable")
    quotas = np.full(C, n // C, dtype=np.int64)
    quotas[: n % C] += 1
    return rank.astype(np.int64), quotas


def label_slots(q_sorted: np.ndarray, q_lab: np.ndarray) -> np.ndarray:
    """Where labeled rows fall in a candidate order: the number of candidates strictly above each.

    ``q_sorted`` are the candidates' margins in order (descending); a labeled row with margin ``v``
    sits after every candidate with ``q > v`` and before those with ``q <= v``.
    """
    return np.searchsorted(-np.asarray(q_sorted), -np.asarray(q_lab), side="left").astype(np.int64)


def best_cut(is_k: np.ndarray) -> int:
    """DIRECT's optimal separation: how many of the labeled rows (sorted by ``q_k``, highest first) lie above the cut.

    A cut after the first ``j`` labeled rows calls those ``k`` and the rest non-``k``; its agreement
    with the labels is ``#k above - #non-k above + #non-k below - #k below``, which is maximised
    where the running sum of ``+1`` (``k``) / ``-1`` (non-``k``) peaks. Ties go to the highest cut,
    as in the reference code.
    """
    w = np.where(np.asarray(is_k, dtype=bool), 1, -1)
    run = np.concatenate([[0], np.cumsum(w)])
    return int(np.argmax(run))


def _check(q: np.ndarray, orders: np.ndarray, q_lab: np.ndarray | None, y_lab: np.ndarray | None):
    q = np.asarray(q, dtype=np.float64)
    orders = np.asarray(orders, dtype=np.int64)
    if q.ndim != 2 or orders.shape != (q.shape[1], q.shape[0]):
        raise StrategyError(f"orders of shape {orders.shape} do not match margins of shape {q.shape}")
    if q_lab is None or y_lab is None:
        q_lab, y_lab = np.zeros((0, q.shape[1])), np.zeros(0, dtype=np.int64)
    q_lab = np.asarray(q_lab, dtype=np.float64).reshape(-1, q.shape[1])
    y_lab = np.asarray(y_lab, dtype=np.int64)
    if len(q_lab) != len(y_lab):
        raise StrategyError(f"{len(q_lab)} labeled margins but {len(y_lab)} labels")
    return q, orders, q_lab, y_lab


def _labeled_line(q: np.ndarray, order: np.ndarray, q_lab: np.ndarray, y_lab: np.ndarray, k: int):
    """Labeled rows on class ``k``'s line: their slots among the candidates and whether each is ``k``."""
    by = np.argsort(-q_lab[:, k], kind="stable")
    return label_slots(q[order, k], q_lab[by, k]), y_lab[by] == k


def _fill_by_class(n_rows: int, class_counts, n: int, walk) -> np.ndarray:
    """Serve :func:`class_quotas` rarest first; ``walk(k)`` yields class ``k``'s rows by preference.

    Rows already taken are skipped; a class whose walk runs out passes the rest of its quota on.
    """
    taken = np.zeros(n_rows, dtype=bool)
    out: list[int] = []
    carry = 0
    for k, quota in zip(*class_quotas(n, class_counts)):
        want, got = int(quota) + carry, 0
        for pos in walk(int(k)):
            if got >= want:
                break
            if not taken[pos]:
                taken[pos] = True
                out.append(pos)
                got += 1
        carry = want - got
    return np.asarray(out, dtype=np.int64)


def direct_select(q, orders, q_lab, y_lab, class_counts, n: int, place: str = "top") -> np.ndarray:
    """DIRECT's batch: per class, the candidates nearest its optimal separation cut, alternating sides.

    Classes are served rarest first with :func:`class_quotas`; a class with fewer candidates left
    than its quota passes the rest on. Per class ``k``, the cut is :func:`best_cut` of the labeled
    rows on ``k``'s order, placed right below the last labeled row above it (the top of the best
    plateau, as in the reference code). Picks then alternate: the nearest candidate below the cut,
    the nearest above, the next below, ... A class without labeled ``k`` cuts at the top of its
    order, so its first picks are the rows most likely to be ``k``. ``place="middle"`` puts the cut
    in the middle of the best plateau instead (every cut on it agrees equally with the labels).

    Not included: the reference's version-space-reduction phase (half of each batch spent narrowing
    the uncertainty region with several parallel annotators); with one annotator per batch the
    threshold search above is the part that applies.
    """
    q, orders, q_lab, y_lab = _check(q, orders, q_lab, y_lab)
    N = q.shape[0]

    def walk(k: int):
        order = orders[k]
        slots, is_k = _labeled_line(q, order, q_lab, y_lab, k)
        j = best_cut(is_k)
        below = int(slots[j - 1]) if j > 0 else 0
        if place == "middle":
            below = (below + (int(slots[j]) if j < len(slots) else N)) // 2
        above = below - 1
        while below < N or above >= 0:
            if below < N:
                yield int(order[below])
                below += 1
            if above >= 0:
                yield int(order[above])
                above -= 1

    return _fill_by_class(N, class_counts, int(min(max(n, 0), N)), walk)


def _boundaries(slots: np.ndarray, is_k: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Runs ``[a, b)`` of candidates between consecutive labeled rows that disagree on ``k``, and their edges."""
    runs, edges = [], []
    for i in range(len(slots) - 1):
        if is_k[i] != is_k[i + 1]:
            a, b = int(slots[i]), int(slots[i + 1])
            edges += [a, b]
            if b > a:
                runs.append((a, b))
    return runs, np.asarray(edges, dtype=np.int64)


def galaxy_select(q, orders, q_lab, y_lab, n: int, rng: np.random.Generator) -> np.ndarray:
    """GALAXY's batch: repeated bisection of the shortest unlabeled run between disagreeing labels.

    Each pick draws a class uniformly with ``rng`` (two classes share one line: ``q_1 = -q_0``), finds
    on its order the runs of candidates between consecutive labeled rows of which exactly one is
    ``k``, and asks the middle row of the shortest run (ties: the highest run). Within a batch the
    labels of earlier picks are unknown, so a pick splits its run in two and both halves stay open
    (the reference labels each pick before the next). Without such a run it asks the candidate
    nearest an edge between disagreeing labeled rows; with no labeled ``k`` (or no labeled
    non-``k``) the top (bottom) of the order, where the unseen side must lie, instead of the
    reference's random row.
    """
    q, orders, q_lab, y_lab = _check(q, orders, q_lab, y_lab)
    N, C = q.shape
    n = int(min(max(n, 0), N))
    lines = 1 if C == 2 else C
    state: dict[int, tuple[list[tuple[int, int]], np.ndarray, np.ndarray]] = {}
    taken = np.zeros(N, dtype=bool)
    out: list[int] = []
    while len(out) < n:
        k = int(rng.integers(lines)) if lines > 1 else 0
        if k not in state:
            slots, is_k = _labeled_line(q, orders[k], q_lab, y_lab, k)
            runs, edges = _boundaries(slots, is_k)
            state[k] = (runs, edges, is_k)
        runs, edges, is_k = state[k]
        order = orders[k]
        pos = -1
        while runs and pos < 0:
            r = min(range(len(runs)), key=lambda i: (runs[i][1] - runs[i][0], runs[i][0]))
            a, b = runs.pop(r)
            m = (a + b - 1) // 2
            runs += [s for s in ((a, m), (m + 1, b)) if s[1] > s[0]]
            if not taken[order[m]]:
                pos = int(order[m])
        if pos < 0:
            free = np.flatnonzero(~taken[order])
            if len(edges):
                # candidate index t sits at distance s - t above an edge s, t - s + 1 below it
                d = np.min(np.where(free[:, None] < edges[None, :], edges[None, :] - free[:, None],
                                    free[:, None] - edges[None, :] + 1), axis=1)
                t = free[int(np.argmin(d))]
            else:
                t = free[0] if not is_k.any() else free[-1]
            pos = int(order[t])
        taken[pos] = True
        out.append(pos)
    return np.asarray(out, dtype=np.int64)


def base_select(q, orders, class_counts, n: int) -> np.ndarray:
    """BASE's batch: an equal quota per class (rarest first), the candidates with the smallest ``|q_k|``.

    ``|q_k|`` is the distance to the boundary between a row's predicted class and ``k`` (the top-two
    margin for rows predicted ``k``). It is read off ``k``'s order by walking outward from the
    sign change, so no extra sort is needed. A class with too few candidates left passes the rest
    of its quota on. The reference serves classes in index order; rarest first makes the remainder
    of an uneven split go to the classes with the fewest labels.
    """
    q, orders, _, _ = _check(q, orders, None, None)
    N = q.shape[0]

    def walk(k: int):
        order = orders[k]
        qk = q[order, k]
        up = int(np.searchsorted(-qk, 0.0, side="right")) - 1  # last row with q_k >= 0
        down = up + 1
        while up >= 0 or down < N:
            if down >= N or (up >= 0 and qk[up] <= -qk[down]):
                yield int(order[up])
                up -= 1
            else:
                yield int(order[down])
                down += 1

    return _fill_by_class(N, class_counts, int(min(max(n, 0), N)), walk)


class _OrderRule(Strategy):
    """A strategy that picks its whole batch from the per-class orders (``select`` does the work).

    ``score`` is the plain margin, kept by the engine for the query's reason; the engine fills
    ``ctx.margins``/``ctx.orders`` for the rows being selected and ``ctx.labeled_proba``/``labeled_y``.
    """

    measure = "margin"
    needs_labeled = True
    needs_orders = True
    name = "orders"

    def score(self, proba: np.ndarray, ctx: Context) -> np.ndarray:
        return margin(proba)

    def describe(self, score: float) -> str:
        return f"margin {1.0 - score:.2g}"

    def _inputs(self, ctx: Context):
        if ctx.margins is None or ctx.orders is None:
            raise StrategyError(f"strategy {self.name!r} needs the per-class orders (ctx.margins, ctx.orders)")
        if ctx.labeled_proba is None or ctx.labeled_y is None or len(ctx.labeled_y) == 0:
            return ctx.margins, ctx.orders, None, None
        return ctx.margins, ctx.orders, class_margins(ctx.labeled_proba), ctx.labeled_y

    def __repr__(self) -> str:
        return self.name


class Direct(_OrderRule):
    """DIRECT: per class, ask around the cut that best separates the labeled rows (:func:`direct_select`).

    ``place``: ``"top"`` (the reference code's cut, right below a labeled row) or ``"middle"`` of
    the best plateau.
    """

    def __init__(self, place: str = "top"):
        if place not in ("top", "middle"):
            raise StrategyError(f"DIRECT place must be 'top' or 'middle', got {place!r}")
        self.place = place
        self.name = "direct" if place == "top" else f"direct(place={place!r})"

    def select(self, scores, predicted, n, ctx):
        q, orders, q_lab, y_lab = self._inputs(ctx)
        return direct_select(q, orders, q_lab, y_lab, ctx.class_counts, n, place=self.place)


class Galaxy(_OrderRule):
    """GALAXY: bisect the shortest unlabeled run between disagreeing labels (:func:`galaxy_select`)."""

    name = "galaxy"

    def select(self, scores, predicted, n, ctx):
        q, orders, q_lab, y_lab = self._inputs(ctx)
        return galaxy_select(q, orders, q_lab, y_lab, n, ctx.rng)


class Base(_OrderRule):
    """BASE: an equal quota per class, nearest the boundary with that class (:func:`base_select`)."""

    name = "base"
    needs_labeled = False

    def select(self, scores, predicted, n, ctx):
        q, orders, _, _ = self._inputs(ctx)
        return base_select(q, orders, ctx.class_counts, n)


def pairwise_margin(proba, class_counts, *, power: float = 0.5, beta: float = 0.95) -> np.ndarray:
    """Margin to every rival class, each boundary weighted by its rarer class; the best boundary per row.

    ``score = max_{c != t} (1 - (p_t - p_c)) * max(w_t, w_c)`` with ``t`` the predicted class and ``w``
    :func:`~activeloop.query.strategies.minority_weights` of the labeled counts. ``1 + q_c`` is the
    closeness to the boundary between ``t`` and ``c`` (BASE's distance, through the per-class margins
    of :func:`~activeloop.query.orders.class_margins`); the minority lean belongs to the boundary, not
    to the predicted class alone: an example torn toward a rare class counts even where the rare
    class is not its runner-up, and in a binary task (one boundary, touching the rarest class) the
    score is plain margin. Rivals with no label yet are left out while two classes have labels (the
    model has never seen them).

    Example, counts ``[20, 20, 2]`` (weights ``[0.465, 0.465, 1]``): ``p = (0.5, 0.45, 0.05)`` scores
    ``max(0.95 * 0.465, 0.55 * 1) = 0.55``; ``p = (0.4, 0.3, 0.3)`` scores ``0.9``.
    """
    p = np.asarray(proba, dtype=np.float64)
    n, C = p.shape
    if C < 2:
        return np.zeros(n)
    counts = np.asarray(class_counts, dtype=np.float64)
    w = minority_weights(counts, power=power, beta=beta)
    t = p.argmax(axis=1)
    val = (1.0 + class_margins(p)) * np.maximum(w[t][:, None], w[None, :])
    val[np.arange(n), t] = -np.inf
    seen = counts > 0
    if seen.sum() >= 2:
        val[:, ~seen] = -np.inf
    return val.max(axis=1)


class PairwiseLeaning(Strategy):
    """Margin sampling leaned toward rare classes per boundary (:func:`pairwise_margin`).

    The lean depends on the labeled counts through every rival class, so it cannot be a per-class
    factor on a margin stored with the round (as the predicted-class lean is). It is part of the
    round's score instead: the weights are those of the labeled counts when the round is scored, and
    the round stores that score (one retrain = one lean; the lean fades over dozens of labels, a
    round adds one batch). A process that rescores a round without stored scores uses the counts
    of its own moment.
    """

    measure = "pairwise margin"

    def __init__(self, *, power: float = 0.5, beta: float = 0.95):
        minority_weights(np.ones(2), power=power, beta=beta)  # validate now, with a clear message
        self.power = power
        self.beta = beta

    def score(self, proba: np.ndarray, ctx: Context) -> np.ndarray:
        return pairwise_margin(proba, ctx.class_counts, power=self.power, beta=self.beta)

    def score_key(self, seed: int) -> str:
        return f"pairwise_margin:{self.power:g}:{self.beta:g}"

    def __repr__(self) -> str:
        return f"pairwise_leaning(margin, power={self.power:g}, beta={self.beta:g})"
