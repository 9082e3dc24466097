"""The query engine: stream the pool through the model once per round, then hand out batches.

Scoring reads ``pool.iter_features(unlabeled=True)`` chunk by chunk and keeps, per candidate, only
its id, base score, predicted class and confidence (about 22 bytes); payloads are never read.
Within a round every later query is a top-k over that cache, minus what is labeled, leased to
anyone or skipped by this annotator, re-weighted with the current labeled counts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from activeloop.defaults import RANDOM_STATE
from activeloop.errors import ActiveloopError, PoolExhaustedError, StrategyError
from activeloop.query.coldstart import ColdStartSampler, cold_start_clusters
from activeloop.query.diversity import DIVERSITY_METHODS, Diverse
from activeloop.model.adapter import is_fitted, proba_by_class
from activeloop.query.chunks import prefetched, score_chunks
from activeloop.query.orders import class_orders, restrict_orders
from activeloop.query.registry import resolve
from activeloop.query.selector import Selector
from activeloop.query.strategies import Context, Strategy, top_n

__all__ = ["Query", "QueryEngine", "sample_eval"]

@dataclass(frozen=True)
class Query:
    """One example handed to an annotator, and why.

    Attributes
    ----------
    example_id : int
    score : float
        The final score it was chosen by (higher = asked first).
    strategy : str
        The strategy's repr, e.g. ``"minority_leaning(margin, power=0.5, beta=0.95)"``.
    predicted : str or None
        The model's predicted class name (None during a cold start or an eval draw).
    confidence : float or None
        The predicted class's probability.
    reason : str
        Short human text, e.g. ``"margin 0.03, predicted 'fraud' (rare: 4 labels)"``.
    """

    example_id: int
    score: float
    strategy: str
    predicted: str | None
    confidence: float | None
    reason: str


@dataclass
class _Cache:
    key: tuple
    cold: bool
    ids: np.ndarray  # sorted ascending (iter_features orders by id)
    base: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    probe_X: np.ndarray | None = None
    probe_proba: np.ndarray | None = None
    margins: np.ndarray | None = None  # (n, C) per-class margins, kept when the strategy reads orders
    orders: np.ndarray | None = None  # (C, n) per-class orders over the cached rows
    queries: int = 0


class QueryEngine:
    """Chooses what to label next from a :class:`~activeloop.store.Pool`.

    Parameters
    ----------
    model : sklearn-compatible classifier
        Needs ``predict_proba`` and ``classes_`` (class indices into ``pool.classes``, or class
        names). While it is not fitted the engine uses a k-means cold start.
    strategy : str, Strategy or callable, default "default"
        Anything :func:`activeloop.query.registry.resolve` accepts.
    batch_size : int, default 10
        Examples per query when ``n`` is not given; also sizes the cold start's clusters.
    diversity : {None, "none", "kmeans++", "coreset"}, default None
        None keeps the strategy's own diversity step (``default`` has k-means++); "none" removes
        it; a method wraps the strategy in :class:`~activeloop.query.diversity.Diverse`.
    candidates : int, default 4
        For a diversity step: how many top candidates per slot it looks at (top ``candidates * n``).
    lease_ttl : float, default 1800
        Seconds a queried example stays reserved for its annotator.
    chunk_size : int, default 50_000
        Rows per scoring chunk; memory is about one chunk of features and probabilities.
    random_state : int or None, default 0
        Seed for the random and k-means++ parts; None draws one at construction. The default is
        activeloop's one seeding default (:data:`activeloop.defaults.RANDOM_STATE`), shared with
        :class:`~activeloop.loop.Loop` and :class:`~activeloop.model.FocalLossClassifier`.
    client : distributed.Client, optional
        Score the pool on this dask cluster (the ``dask`` extra): each worker opens the store by its
        URL and scores a range of ids with the model sent to it once; the picks equal a local query.

    Attributes
    ----------
    strategy_ : Strategy or Selector
        The resolved strategy (with the diversity step applied); a
        :class:`~activeloop.query.selector.Selector` picks its own batch once the model is fitted.
        Assigning ``strategy``, ``diversity`` or ``candidates`` rebuilds it (an unknown name raises
        at once and keeps the old one) and drops the cached scores.
    n_scored_ : int
        Rows passed through ``predict_proba`` so far (for checking the cache).

    Notes
    -----
    Cache: scores are reused while ``(pool, latest round number, id(model), fitted)`` is unchanged
    and the model still gives the same probabilities on a few probe rows kept from the last scoring
    (so a refit without a recorded round is noticed too). Examples added to the pool in the middle
    of a round join the ranking at the next round; call :meth:`invalidate` to include them at once. When fewer examples are available than requested the
    engine returns what there is (``partial=True``, the default, convenient for a labeler at the
    end of a pool) and raises :class:`~activeloop.errors.PoolExhaustedError` only when none is left;
    with ``partial=False`` it raises whenever the request cannot be filled.
    """

    def __init__(
        self,
        model: Any,
        strategy: Any = "default",
        batch_size: int = 10,
        diversity: str | None = None,
        candidates: int = 4,
        lease_ttl: float = 1800.0,
        chunk_size: int = 50_000,
        random_state: int | None = RANDOM_STATE,
        client: Any = None,
    ):
        self.model = model
        self._strategy, self._diversity, self._candidates = strategy, diversity, candidates
        self.batch_size = batch_size
        self.lease_ttl = lease_ttl
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.client = client
        if int(batch_size) < 1:
            raise ActiveloopError(f"batch_size must be >= 1, got {batch_size}")
        if int(chunk_size) < 1:
            raise ActiveloopError(f"chunk_size must be >= 1, got {chunk_size}")
        self.strategy_ = self._build_strategy(strategy, diversity, candidates)
        self._seed = (
            int(random_state) if random_state is not None else int(np.random.SeedSequence().generate_state(1)[0])
        )
        self._cache: _Cache | None = None
        self._eval_draws = 0
        self.n_scored_ = 0

    @property
    def strategy(self) -> Any:
        """The strategy as given; assigning one rebuilds :attr:`strategy_` and drops cached scores."""
        return self._strategy

    @strategy.setter
    def strategy(self, value: Any) -> None:
        self._rebuild(value, self._diversity, self._candidates)

    @property
    def diversity(self) -> str | None:
        """The diversity step as given; assigning one rebuilds :attr:`strategy_`."""
        return self._diversity

    @diversity.setter
    def diversity(self, value: str | None) -> None:
        self._rebuild(self._strategy, value, self._candidates)

    @property
    def candidates(self) -> int:
        """Top candidates per slot for a diversity step; assigning rebuilds :attr:`strategy_`."""
        return self._candidates

    @candidates.setter
    def candidates(self, value: int) -> None:
        self._rebuild(self._strategy, self._diversity, value)

    def _rebuild(self, strategy: Any, diversity: str | None, candidates: int) -> None:
        built = self._build_strategy(strategy, diversity, candidates)  # raises before anything changes
        self._strategy, self._diversity, self._candidates, self.strategy_ = strategy, diversity, candidates, built
        self.invalidate()

    @staticmethod
    def _build_strategy(strategy: Any, diversity: str | None, candidates: int) -> Strategy | Selector:
        strat = resolve(strategy)
        if diversity is None:
            return strat
        if diversity == "none":
            return strat.base if isinstance(strat, Diverse) else strat
        if diversity not in DIVERSITY_METHODS:
            raise StrategyError(
                f"unknown diversity {diversity!r}; choose None, 'none', {', '.join(map(repr, DIVERSITY_METHODS))}"
            )
        if isinstance(strat, Selector):
            raise StrategyError(f"{strat!r} selects its own batch; it cannot take a diversity step")
        base = strat.base if isinstance(strat, Diverse) else strat
        return Diverse(base, method=diversity, factor=candidates)

    def __repr__(self) -> str:
        return f"QueryEngine(strategy={self.strategy_!r}, batch_size={self.batch_size})"

    # ------------------------------------------------------------------ public
    def invalidate(self) -> None:
        """Forget cached scores; the next query rescores the pool."""
        self._cache = None

    def query(self, pool: Any, n: int | None = None, annotator: str = "default", *, partial: bool = True) -> list[Query]:
        """Choose, lease and return up to ``n`` examples of the pool split for ``annotator``.

        Parameters
        ----------
        pool : Pool
        n : int, optional
            How many; ``batch_size`` by default.
        annotator : str
            Who gets them; leased to them for ``lease_ttl`` seconds.
        partial : bool, default True
            Return fewer than ``n`` when fewer are available (see Notes of the class).

        Returns
        -------
        list of Query
            Best first. Never an eval-split, labeled, leased or (for this annotator) skipped example.

        Raises
        ------
        PoolExhaustedError
            None available (or fewer than ``n`` with ``partial=False``).
        """
        n = int(self.batch_size if n is None else n)
        if n < 1:
            raise ActiveloopError(f"n must be >= 1, got {n}")
        classes = list(pool.classes)
        have = pool.class_counts("pool")
        counts = np.array([have.get(c, 0) for c in classes], dtype=np.int64)
        fitted = is_fitted(self.model)
        if isinstance(self.strategy_, Selector) and fitted:
            return self._query_selector(pool, n, annotator, partial, classes, counts)
        cache = self._ensure_cache(pool, classes, counts, fitted)
        cache.queries += 1
        excluded = pool.excluded_ids(annotator, split="pool")
        avail = _not_in(cache.ids, excluded)
        self._check_available(pool, len(avail), n, annotator, partial)
        rng = np.random.default_rng((self._seed, cache.queries))
        ctx = Context(class_counts=counts, classes=tuple(classes), rng=rng, seed=self._seed)
        if not cache.cold and self.strategy_.needs_labeled:
            _, X_lab, y_lab = pool.labeled_xy("pool")
            lab_p = self._proba(X_lab, classes) if len(y_lab) else np.zeros((0, len(classes)))
            ctx = replace(ctx, labeled_proba=lab_p, labeled_y=y_lab)
        out: list[Query] = []
        while len(out) < n and len(avail):
            want = n - len(out)
            ids = cache.ids[avail]
            pred = cache.predicted[avail]
            if cache.cold:
                scores = cache.base[avail]
                pos = top_n(scores, want)
            else:
                scores = self.strategy_.rescore(cache.base[avail], pred, ctx)
                fetch: Callable[[np.ndarray], np.ndarray] = lambda p, ids=ids: pool.features(ids[p])
                rows = ctx.with_rows(ids=ids, fetch_features=fetch)
                if cache.orders is not None:
                    rows = replace(rows, margins=cache.margins[avail],
                                   orders=restrict_orders(cache.orders, avail, len(cache.ids)))
                pos = np.asarray(self.strategy_.select(scores, pred, want, rows))
                pos = pos[:want]
            if len(pos) == 0:
                break
            got = set(pool.lease(ids[pos], annotator=annotator, strategy=self._label(cache),
                                 scores=scores[pos], ttl=self.lease_ttl))
            for p in pos:
                if int(ids[p]) in got:
                    out.append(self._make_query(cache, avail[p], float(scores[p]), classes, counts))
            avail = np.delete(avail, pos)  # leased now, or taken by someone else meanwhile
        if not out:
            raise PoolExhaustedError.of(pool.name, 0, n, annotator=annotator)
        return out

    def sample_eval(self, pool: Any, n: int, annotator: str = "default") -> list[Query]:
        """A uniform random draw of unlabeled eval-split examples, leased to ``annotator``; never by strategy."""
        self._eval_draws += 1
        rng = np.random.default_rng((self._seed, 7, self._eval_draws))
        return sample_eval(pool, n, annotator=annotator, rng=rng, lease_ttl=self.lease_ttl)

    # ------------------------------------------------------------------ scoring
    def _label(self, cache: _Cache) -> str:
        return "cold-start" if cache.cold else repr(self.strategy_)

    def _key(self, pool: Any, fitted: bool) -> tuple:
        rnd = pool.latest_round()
        return (pool.url, pool.project_id, None if rnd is None else rnd.number, id(self.model), fitted,
                repr(self.strategy_))

    def _ensure_cache(self, pool: Any, classes: list[str], counts: np.ndarray, fitted: bool) -> _Cache:
        key = self._key(pool, fitted)
        c = self._cache
        if c is not None and c.key == key:
            if c.cold or c.probe_X is None or len(c.probe_X) == 0:
                return c
            again = self._proba(c.probe_X, classes)
            if again.shape == c.probe_proba.shape and np.allclose(again, c.probe_proba, rtol=0, atol=1e-6):
                return c
        self._cache = self._score(pool, classes, counts, key) if fitted else self._cold(pool, classes, key)
        return self._cache

    def _proba(self, X: np.ndarray, classes: list[str]) -> np.ndarray:
        """Model probabilities with one column per pool class (zeros for classes the model lacks)."""
        self.n_scored_ += len(X)
        return proba_by_class(self.model, X, classes)

    def _score(self, pool: Any, classes: list[str], counts: np.ndarray, key: tuple) -> _Cache:
        keep_proba = self.strategy_.needs_orders
        if self.client is not None:
            from activeloop.query.distributed import score_on_cluster

            scored = score_on_cluster(self.client, pool, self.model, self.strategy_, counts=counts, seed=self._seed,
                                      chunk_size=self.chunk_size, keep_proba=keep_proba)
        else:
            chunks = prefetched(lambda: pool.iter_features(split="pool", unlabeled=True, chunk_size=self.chunk_size))
            scored = score_chunks(self.model, self.strategy_, chunks, classes, counts, self._seed, keep_proba=keep_proba)
        self.n_scored_ += scored.n
        cache = _Cache(key, False, scored.ids, scored.base, scored.predicted, scored.confidence, scored.probe_X,
                       scored.probe_proba)
        if keep_proba and scored.proba is not None:  # once per round: every query of the round reuses them
            cache.margins, cache.orders = class_orders(scored.proba)
        return cache

    def _cold(self, pool: Any, classes: list[str], key: tuple) -> _Cache:
        k = cold_start_clusters(10**12, len(classes), self.batch_size)
        sampler = ColdStartSampler(k, seed=self._seed)
        ids, scores = sampler.run(pool.iter_features(split="pool", unlabeled=True, chunk_size=self.chunk_size))
        return _Cache(key, True, ids, scores, np.full(len(ids), -1, np.int16), np.full(len(ids), np.nan, np.float32))

    def _make_query(self, cache: _Cache, i: int, score: float, classes: list[str], counts: np.ndarray) -> Query:
        eid = int(cache.ids[i])
        if cache.cold:
            base = float(cache.base[i])
            reason = "cold start: k-means representative" if base >= 1.0 else "cold start: random draw"
            return Query(eid, score, "cold-start", None, None, reason)
        c = int(cache.predicted[i])
        total = int(counts.sum())
        rare = counts[c] * len(classes) < total
        labels = f"{'rare: ' if rare else ''}{int(counts[c])} label{'s' if counts[c] != 1 else ''}"
        reason = f"{self.strategy_.describe(float(cache.base[i]))}, predicted {classes[c]!r} ({labels})"
        return Query(eid, score, repr(self.strategy_), classes[c], float(cache.confidence[i]), reason)

    def _check_available(self, pool: Any, available: int, n: int, annotator: str, partial: bool) -> None:
        if available == 0 or (available < n and not partial):
            raise PoolExhaustedError.of(pool.name, available, n, annotator=annotator)

    # ------------------------------------------------------------------ selectors
    def _query_selector(self, pool, n, annotator, partial, classes, counts) -> list[Query]:
        excluded = pool.excluded_ids(annotator, split="pool")
        ids_l, X_l = [], []
        for ids, X in pool.iter_features(split="pool", unlabeled=True, chunk_size=self.chunk_size):
            keep = _not_in(ids, excluded)
            ids_l.append(ids[keep])
            X_l.append(np.asarray(X[keep]))
        ids = np.concatenate(ids_l) if ids_l else np.empty(0, np.int64)
        self._check_available(pool, len(ids), n, annotator, partial)
        X = np.concatenate(X_l)
        self.n_scored_ += len(X)
        _, X_lab, y_lab = pool.labeled_xy("pool")
        pos, scores = self.strategy_.query(self.model, X, min(n, len(X)), X_training=X_lab, y_training=y_lab)
        got = set(pool.lease(ids[pos], annotator=annotator, strategy=repr(self.strategy_), scores=scores,
                             ttl=self.lease_ttl))
        proba = self._proba(X[pos], classes) if len(pos) else np.zeros((0, len(classes)))
        out = []
        for k, p in enumerate(pos):
            if int(ids[p]) not in got:
                continue
            c = int(proba[k].argmax())
            out.append(Query(int(ids[p]), float(scores[k]), repr(self.strategy_), classes[c], float(proba[k, c]),
                             f"{self.strategy_!r} pick {k + 1}, predicted {classes[c]!r}"))
        if not out:
            raise PoolExhaustedError.of(pool.name, 0, n, annotator=annotator)
        return out


def _not_in(sorted_ids: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Positions of ``sorted_ids`` (ascending) whose id is not in ``excluded``.

    Looks the (few) excluded ids up in the (many) cached ids, so the cost is one pass over the
    cache plus ``len(excluded) * log(len(sorted_ids))``.
    """
    keep = np.ones(len(sorted_ids), dtype=bool)
    if len(excluded) and len(sorted_ids):
        ex = np.asarray(excluded, dtype=sorted_ids.dtype)
        pos = np.searchsorted(sorted_ids, ex)
        inside = pos < len(sorted_ids)
        pos, ex = pos[inside], ex[inside]
        keep[pos[sorted_ids[pos] == ex]] = False
    return np.flatnonzero(keep)


def sample_eval(
    pool: Any, n: int, *, annotator: str = "default", rng: np.random.Generator | None = None, lease_ttl: float = 1800.0
) -> list[Query]:
    """Draw up to ``n`` unlabeled eval-split examples uniformly at random and lease them to ``annotator``.

    The eval split must stay a random sample of the pool's real distribution, so it is never
    chosen by a strategy. Raises :class:`~activeloop.errors.PoolExhaustedError` when none is left.
    """
    rng = np.random.default_rng() if rng is None else rng
    ids = pool.unlabeled_ids("eval")
    ids = ids[_not_in(ids, pool.excluded_ids(annotator, split="eval"))]
    if len(ids) == 0:
        raise PoolExhaustedError.of(pool.name, 0, n, annotator=annotator, split="eval")
    pick = rng.choice(ids, size=min(int(n), len(ids)), replace=False)
    got = pool.lease(pick, annotator=annotator, strategy="eval-random", ttl=lease_ttl)
    return [Query(int(i), 0.0, "eval-random", None, None, "random eval draw") for i in got]
