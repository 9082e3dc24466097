"""Query strategies: pure scoring functions over predicted probabilities, and small strategy objects.

A *score* is one float per candidate; higher means "ask about this one first". The plain functions
(:func:`least_confidence`, :func:`margin`, :func:`entropy`, :func:`random`, the ``minority_*``
variants) hold no state and never touch the global RNG. The :class:`Strategy` objects wrap them so
the engine can stream chunks through ``score``, re-weight cached scores with the *current* labeled
counts through ``rescore``, and pick a batch through ``select``. Wrappers compose, and their repr
shows the whole stack, e.g. ``class_balanced(minority_leaning(margin, power=0.5, beta=0.95))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
import numpy.typing as npt

from activeloop.errors import StrategyError

__all__ = [
    "Context",
    "Strategy",
    "ProbaStrategy",
    "RandomStrategy",
    "MinorityLeaning",
    "ClassBalanced",
    "least_confidence",
    "margin",
    "entropy",
    "random",
    "minority_weights",
    "minority_least_confidence",
    "minority_margin",
    "minority_entropy",
    "content_hash",
    "top_n",
]

FloatArray = npt.NDArray[np.floating]
IntArray = npt.NDArray[np.integer]


# --------------------------------------------------------------------------------------------
# Plain scoring functions
# --------------------------------------------------------------------------------------------


def _check_proba(proba: npt.ArrayLike) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2:
        raise StrategyError(f"expected probabilities of shape (n_samples, n_classes), got shape {p.shape}")
    return p


def least_confidence(proba: npt.ArrayLike) -> FloatArray:
    """One minus the top class probability.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities, rows summing to one.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        ``1 - max_c p_c`` in ``[0, 1 - 1/C]``; higher = less confident = ask first.
    """
    p = _check_proba(proba)
    if p.shape[1] == 0:
        return np.zeros(len(p))
    return 1.0 - p.max(axis=1)


def margin(proba: npt.ArrayLike) -> FloatArray:
    """One minus the gap between the two most probable classes ("breaking ties").

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        ``1 - (p_(1) - p_(2))`` in ``[0, 1]``; 1 means a dead heat between the top two classes.
        With a single class every score is 0.
    """
    p = _check_proba(proba)
    if p.shape[1] < 2:
        return np.zeros(len(p))
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy(proba: npt.ArrayLike) -> FloatArray:
    """Shannon entropy of the predicted distribution, in nats (``0 log 0 = 0``).

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        ``-sum_c p_c log p_c`` in ``[0, log C]``.
    """
    p = _check_proba(proba)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -(p * logs).sum(axis=1)


def random(proba: npt.ArrayLike, rng: np.random.Generator) -> FloatArray:
    """Uniform random scores in ``[0, 1)``: random sampling, the baseline every strategy must beat.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Only its length is used.
    rng : numpy.random.Generator
        The source of randomness (never the global RNG).
    """
    return rng.random(len(np.asarray(proba)))


def minority_weights(class_counts: npt.ArrayLike, *, power: float = 0.5, beta: float = 0.95) -> FloatArray:
    """Tempered per-class weights in ``(0, 1]`` that favour classes rare among the labels so far.

    ``w_c = (r_c / max_k r_k) ** power`` with ``r_c = 1 / E(n_c + 1)`` and
    ``E(n) = (1 - beta**n) / (1 - beta)`` the effective number of samples (Cui et al., 2019) of a
    class with ``n_c`` labels (+1 so an unseen class is finite). The rarest class gets weight 1.

    Two knobs temper the lean, because a blunt inverse-prior weighting costs macro-F1:
    ``beta`` makes it *fade*: ``E`` saturates at ``1 / (1 - beta)`` (20 labels for 0.95), so once every
    class has a few dozen labels all weights approach 1 and the strategy becomes its base again;
    ``power`` in ``[0, 1]`` flattens it (0 = no lean). Example, counts ``[200, 5]``: weights
    ``[0.51, 1.0]`` at the defaults; counts ``[200, 60]``: ``[0.98, 1.0]``.

    Parameters
    ----------
    class_counts : array-like of shape (n_classes,)
        Labeled examples per class so far.
    power : float, default 0.5
    beta : float in [0, 1), default 0.95

    Returns
    -------
    weights : ndarray of shape (n_classes,)
    """
    n = np.asarray(class_counts, dtype=np.float64)
    if n.ndim != 1 or n.size == 0:
        raise StrategyError(f"class_counts must be a non-empty 1-D array, got shape {n.shape}")
    if not 0.0 <= beta < 1.0:
        raise StrategyError(f"beta must be in [0, 1), got {beta}")
    if power < 0:
        raise StrategyError(f"power must be >= 0, got {power}")
    eff = (1.0 - np.power(beta, n + 1.0)) / (1.0 - beta) if beta > 0 else np.ones_like(n)
    r = 1.0 / eff
    return np.power(r / r.max(), power)


def _lean(scores: np.ndarray, predicted: np.ndarray, class_counts, power: float, beta: float) -> FloatArray:
    w = minority_weights(class_counts, power=power, beta=beta)
    return scores * w[predicted]


def minority_least_confidence(
    proba: npt.ArrayLike, class_counts: npt.ArrayLike, *, power: float = 0.5, beta: float = 0.95
) -> FloatArray:
    """Least confidence leaned toward rare predicted classes: ``least_confidence(p) * w[argmax p]``.

    ``w`` is :func:`minority_weights` of the labeled ``class_counts`` (columns of ``proba`` index the
    same classes).
    """
    p = _check_proba(proba)
    return _lean(least_confidence(p), p.argmax(axis=1), class_counts, power, beta)


def minority_margin(
    proba: npt.ArrayLike, class_counts: npt.ArrayLike, *, power: float = 0.5, beta: float = 0.95
) -> FloatArray:
    """Margin leaned toward rare predicted classes: ``margin(p) * w[argmax p]`` (see :func:`minority_weights`)."""
    p = _check_proba(proba)
    return _lean(margin(p), p.argmax(axis=1), class_counts, power, beta)


def minority_entropy(
    proba: npt.ArrayLike, class_counts: npt.ArrayLike, *, power: float = 0.5, beta: float = 0.95
) -> FloatArray:
    """Entropy leaned toward rare predicted classes: ``entropy(p) * w[argmax p]`` (see :func:`minority_weights`)."""
    p = _check_proba(proba)
    return _lean(entropy(p), p.argmax(axis=1), class_counts, power, beta)


def content_hash(X: npt.ArrayLike, seed: int = 0) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each row's bytes, mixed with ``seed``.

    Used where a pseudo-random choice must not depend on row order, ids or chunking (random
    scores, cold-start subsampling): the same vector always gets the same hash for a given seed.
    """
    a = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
    if a.ndim != 2:
        raise StrategyError(f"expected a 2-D feature array, got shape {a.shape}")
    n, d = a.shape
    if d % 2:
        a = np.concatenate([a, np.zeros((n, 1), np.float32)], axis=1)
    words = a.view(np.uint64)
    mask = np.uint64(0xFFFFFFFFFFFFFFFF)
    h = np.full(n, np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF))
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            h = (h ^ words[:, j]) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
        # splitmix64 finaliser
        h ^= h >> np.uint64(30)
        h = (h * np.uint64(0xBF58476D1CE4E5B9)) & mask
        h ^= h >> np.uint64(27)
        h = (h * np.uint64(0x94D049BB133111EB)) & mask
        h ^= h >> np.uint64(31)
    return h


def top_n(scores: npt.ArrayLike, n: int) -> IntArray:
    """Positions of the ``n`` highest scores, best first (``argpartition``, then a sort of ``n``).

    Ties are broken by position (earlier first), so the result is deterministic. A NaN score (a model
    that outputs NaN) ranks last, as in the stored per-class orders.
    """
    s = np.asarray(scores, dtype=np.float64)
    nan = np.isnan(s)
    if nan.any():  # else the n-th score may be NaN, and nothing compares >= it
        s = np.where(nan, -np.inf, s)
    n = int(min(max(n, 0), len(s)))
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if n < len(s):
        part = np.argpartition(-s, n - 1)[:n]
        # include every element tied with the n-th score so the tie-break by position is exact
        kth = s[part].min()
        part = np.flatnonzero(s >= kth)
    else:
        part = np.arange(len(s))
    order = np.lexsort((part, -s[part]))
    return part[order][:n].astype(np.int64)


# --------------------------------------------------------------------------------------------
# Strategy objects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What a strategy may look at besides the probabilities.

    Attributes
    ----------
    class_counts : ndarray of shape (n_classes,)
        Current labeled examples per class (pool split), in the order of ``classes``.
    classes : tuple of str
        Class names; column ``c`` of every probability matrix is ``classes[c]``.
    priors : ndarray of shape (n_classes,) or None
        Known class priors (e.g. from the eval split), if any.
    rng : numpy.random.Generator
        Randomness for this call; strategies never use the global RNG.
    seed : int
        Seed for order-independent randomness (:func:`content_hash`).
    ids : ndarray of shape (n_candidates,) or None
        Example ids of the rows being scored / selected.
    features : ndarray of shape (n_candidates, n_features) or None
        Features of the rows being scored (during chunked scoring).
    fetch_features : callable or None
        ``fetch_features(positions) -> X`` for the rows being selected; used by diversity steps.
    labeled_proba : ndarray of shape (n_labeled, n_classes) or None
        Model probabilities of the labeled pool-split rows (filled for strategies with
        ``needs_labeled``; labeled sets are small).
    labeled_y : ndarray of shape (n_labeled,) or None
        Their class indices into ``classes``.
    labeled_features : ndarray of shape (n_labeled, n_features) or None
        Feature rows of the labeled pool-split rows (filled for strategies with
        ``needs_labeled_features``; read once per round).
    distances : CandidateDistances or None
        The round's distances of candidates to the labeled rows and among themselves, kept per id
        (:class:`~activeloop.query.diversity.CandidateDistances`); None: a diversity step computes them.
    margins : ndarray of shape (n_candidates, n_classes) or None
        Per-class margins of the rows being selected (:func:`~activeloop.query.orders.class_margins`).
    orders : ndarray of shape (n_classes, n_candidates) or None
        Per-class orders of those rows, as positions into them
        (:func:`~activeloop.query.orders.class_orders`); filled for strategies with ``needs_orders``.
    """

    class_counts: np.ndarray
    classes: tuple[str, ...] = ()
    priors: np.ndarray | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    seed: int = 0
    ids: np.ndarray | None = None
    features: np.ndarray | None = None
    fetch_features: Callable[[np.ndarray], np.ndarray] | None = None
    labeled_proba: np.ndarray | None = None
    labeled_y: np.ndarray | None = None
    labeled_features: np.ndarray | None = None
    distances: Any = None  # a CandidateDistances (query.diversity imports this module)
    margins: np.ndarray | None = None
    orders: np.ndarray | None = None

    @classmethod
    def from_counts(cls, class_counts: Sequence[int], *, seed: int = 0, **kw) -> "Context":
        """A context with the given labeled counts and an rng seeded from ``seed``."""
        counts = np.asarray(class_counts, dtype=np.int64)
        classes = kw.pop("classes", tuple(str(i) for i in range(len(counts))))
        return cls(class_counts=counts, classes=tuple(classes), rng=np.random.default_rng(seed), seed=seed, **kw)

    def with_rows(self, ids=None, features=None, fetch_features=None, margins=None, orders=None) -> "Context":
        """A copy that describes a different set of rows."""
        return replace(self, ids=ids, features=features, fetch_features=fetch_features, margins=margins, orders=orders)


class Strategy:
    """Base class of every strategy: score chunks, re-weight cached scores, select a batch.

    The engine calls ``score`` once per chunk of probabilities (rows are scored independently, so
    the result never depends on the chunk size) and caches the scores with each row's predicted
    class. At query time it calls ``rescore`` on the cache, with the *current* labeled counts, and
    then ``select`` to pick the batch. Subclasses usually override only ``score``.

    Attributes
    ----------
    measure : str
        Short name of the quantity ``score`` returns, used in a query's reason.
    needs_features : bool
        Whether ``score`` reads ``ctx.features``.
    needs_labeled : bool
        Whether ``select`` reads ``ctx.labeled_proba`` / ``ctx.labeled_y``.
    needs_orders : bool
        Whether ``select`` reads ``ctx.margins`` / ``ctx.orders`` (the engine then keeps them per round).
    needs_labeled_features : bool
        Whether ``select`` reads ``ctx.labeled_features`` (selection only: the scores stay storable).
    """

    measure: str = "score"
    needs_features: bool = False
    needs_labeled: bool = False
    needs_orders: bool = False
    needs_labeled_features: bool = False

    def score(self, proba: np.ndarray, ctx: Context) -> np.ndarray:
        """One base score per row of ``proba`` (n, C); higher = ask first."""
        raise NotImplementedError

    def rescore(self, scores: np.ndarray, predicted: np.ndarray, ctx: Context) -> np.ndarray:
        """Final scores from cached base scores and predicted classes; identity by default."""
        return scores

    def select(self, scores: np.ndarray, predicted: np.ndarray, n: int, ctx: Context) -> np.ndarray:
        """Positions of the ``n`` rows to ask about, best first; top-n by score by default."""
        return top_n(scores, n)

    def describe(self, score: float) -> str:
        """Human text for one base score, e.g. ``"margin 0.03"``."""
        return f"{self.measure} {score:.3g}"

    def score_key(self, seed: int) -> str | None:
        """What identifies this strategy's base scores across processes (None: they cannot be stored).

        Rounds store their scores under this key; a process whose strategy gives the same key reuses
        them. Only strategies whose ``score`` is a fixed function of the probabilities (and the seed)
        say so; a custom subclass keeps None unless it overrides this.
        """
        return None

    def heads(self, n: int) -> int | None:
        """How many best base-scored candidates of each predicted class picking ``n`` needs (None: every one).

        Valid when ``rescore`` keeps the base-score order within each predicted class (identity, or
        a positive per-class factor) and ``select`` looks only at the best candidates: then the
        engine merges the heads of the stored per-class orders instead of scoring every candidate.
        A subclass that overrides ``rescore`` or ``select`` gets None unless it overrides this too.
        """
        own = type(self)
        return n if own.rescore is Strategy.rescore and own.select is Strategy.select else None

    def __call__(self, proba: npt.ArrayLike, ctx: Context | None = None) -> np.ndarray:
        """Final scores for a probability matrix (score, then rescore) — the function view."""
        p = _check_proba(proba)
        if ctx is None:
            ctx = Context.from_counts(np.zeros(p.shape[1], dtype=np.int64))
        return self.rescore(self.score(p, ctx), p.argmax(axis=1) if p.shape[1] else np.zeros(len(p), int), ctx)


class ProbaStrategy(Strategy):
    """A strategy from a plain function ``fn(proba) -> scores``."""

    def __init__(
        self,
        fn: Callable[[np.ndarray], np.ndarray],
        name: str | None = None,
        measure: str | None = None,
        key: str | None = None,
    ):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "custom")
        self.measure = measure or self.name.replace("_", " ")
        self.key = key

    def score_key(self, seed: int) -> str | None:
        """``key`` when given (the built-in measures); a user function's scores are not stored."""
        return self.key

    def score(self, proba: np.ndarray, ctx: Context) -> np.ndarray:
        out = np.asarray(self.fn(proba), dtype=np.float64)
        if out.shape != (len(proba),):
            raise StrategyError(
                f"strategy {self.name!r} returned scores of shape {out.shape}, expected ({len(proba)},)"
            )
        return out

    def __repr__(self) -> str:
        return self.name


class _Margin(ProbaStrategy):
    def __init__(self):
        super().__init__(margin, "margin", "margin", key="margin")

    def describe(self, score: float) -> str:
        return f"margin {1.0 - score:.2g}"


class _LeastConfidence(ProbaStrategy):
    def __init__(self):
        super().__init__(least_confidence, "least_confidence", "confidence", key="least_confidence")

    def describe(self, score: float) -> str:
        return f"confidence {1.0 - score:.2g}"


class RandomStrategy(Strategy):
    """Uniform random scores that depend only on each row's content and the seed.

    Hashing the features (:func:`content_hash`) instead of drawing from a stream makes the draw
    independent of chunk size, pool order and ids; without features it draws from ``ctx.rng``.
    """

    measure = "random"
    needs_features = True

    def score(self, proba: np.ndarray, ctx: Context) -> np.ndarray:
        if ctx.features is not None:
            h = content_hash(ctx.features, ctx.seed)
            return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
        return random(proba, ctx.rng)

    def describe(self, score: float) -> str:
        return "random draw"

    def score_key(self, seed: int) -> str | None:
        return f"random:{seed}"

    def __repr__(self) -> str:
        return "random"


class Wrapper(Strategy):
    """A strategy around a ``base`` strategy; it delegates every step it does not change."""

    def __init__(self, base: Strategy):
        self.base = base
        self.measure = base.measure
        self.needs_features = base.needs_features
        self.needs_labeled = base.needs_labeled
        self.needs_orders = base.needs_orders
        self.needs_labeled_features = base.needs_labeled_features

    def score(self, proba, ctx):
        return self.base.score(proba, ctx)

    def rescore(self, scores, predicted, ctx):
        return self.base.rescore(scores, predicted, ctx)

    def select(self, scores, predicted, n, ctx):
        return self.base.select(scores, predicted, n, ctx)

    def describe(self, score):
        return self.base.describe(score)

    def score_key(self, seed):
        return self.base.score_key(seed)

    def heads(self, n):
        own = type(self)
        return self.base.heads(n) if own.rescore is Wrapper.rescore and own.select is Wrapper.select else None


class MinorityLeaning(Wrapper):
    """Lean a base strategy toward candidates whose predicted class is rare among the labels.

    ``final = base_score * w[predicted]`` with ``w = minority_weights(labeled counts, power, beta)``:
    the rarest class keeps its score, common classes are damped by at most ``w``; see
    :func:`minority_weights` for why the lean is tempered and fades as labels accumulate.
    The weights are applied in ``rescore``, so cached base scores follow the counts as they change.

    Parameters
    ----------
    base : Strategy
    power : float, default 0.5
    beta : float, default 0.95
    """

    def __init__(self, base: Strategy, *, power: float = 0.5, beta: float = 0.95):
        super().__init__(base)
        self.power = power
        self.beta = beta
        minority_weights(np.ones(2), power=power, beta=beta)  # validate now, with a clear message

    def rescore(self, scores, predicted, ctx):
        s = self.base.rescore(scores, predicted, ctx)
        return s * minority_weights(ctx.class_counts, power=self.power, beta=self.beta)[predicted]

    def heads(self, n):
        return self.base.heads(n)  # a positive per-class factor keeps the order within each class

    def __repr__(self):
        return f"minority_leaning({self.base!r}, power={self.power:g}, beta={self.beta:g})"


def _selects_itself(strategy: Strategy) -> bool:
    """Whether ``strategy``'s ``select`` is its own, not the top-n by score (through wrappers that delegate it)."""
    while type(strategy).select is Wrapper.select:
        strategy = strategy.base
    return type(strategy).select is not Strategy.select


class ClassBalanced(Wrapper):
    """Class quotas per batch: fill the slots so labeled + queried counts become as even as possible.

    Slots go one at a time to the predicted class with the fewest (labeled + already assigned)
    examples among classes that still have candidates; within a class, the base strategy's scores
    rank the candidates. A class no candidate is predicted as gets no slot. A base that picks its own
    batch (DIRECT, a diversity step) is refused: the quotas would silently drop that step.
    """

    def __init__(self, base: Strategy):
        if _selects_itself(base):
            raise StrategyError(f"class-balanced needs a base that ranks by score; {base!r} picks its own batch")
        super().__init__(base)

    def select(self, scores, predicted, n, ctx):
        n = int(min(n, len(scores)))
        C = len(ctx.class_counts)
        avail = np.bincount(predicted, minlength=C)
        load = np.asarray(ctx.class_counts, dtype=np.float64).copy()
        quota = np.zeros(C, dtype=np.int64)
        for _ in range(n):
            open_ = np.flatnonzero(quota < avail)
            c = open_[np.argmin(load[open_])]
            quota[c] += 1
            load[c] += 1
        picked: list[np.ndarray] = []
        for c in np.flatnonzero(quota):
            pos = np.flatnonzero(predicted == c)
            picked.append(pos[top_n(scores[pos], quota[c])])
        if not picked:
            return np.empty(0, dtype=np.int64)
        out = np.concatenate(picked)
        return out[top_n(scores[out], len(out))]

    def heads(self, n):
        return self.base.heads(n)  # at most n slots per class, each taken best first within the class

    def __repr__(self):
        return f"class_balanced({self.base!r})"


LEAST_CONFIDENCE = _LeastConfidence()
MARGIN = _Margin()
ENTROPY = ProbaStrategy(entropy, "entropy", "entropy", key="entropy")
RANDOM = RandomStrategy()
