"""The query engine: score the pool once per round, then hand out batches in milliseconds.

Scoring keeps, per candidate, only its id, base score, predicted class and confidence, plus the
candidates of each predicted class in base-score order (a :class:`~activeloop.store.scores.Scores`);
payloads are never read. A round recorded by :meth:`activeloop.loop.Loop.retrain` stores these
scores with it, so any process (the CLI, a reopened app, another annotator) that follows the
pool's rounds queries without rescoring, and without importing torch or scikit-learn. A query is
then a merge of the per-class heads, minus what is labeled, leased to anyone or skipped by this
annotator, re-weighted with the current labeled counts.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from activeloop.defaults import RANDOM_STATE
from activeloop.errors import ActiveloopError, PoolExhaustedError, StrategyError
from activeloop.query.coldstart import ColdStartSampler, cold_start_clusters
from activeloop.query.diversity import DIVERSITY_METHODS, CandidateDistances, Diverse
from activeloop.model.adapter import is_fitted, proba_by_class
from activeloop.query.orders import restrict_orders
from activeloop.query.registry import resolve
from activeloop.query.scoring import ExcludedRows, Scored, class_heads, not_in, score_pool
from activeloop.query.selector import Selector
from activeloop.query.strategies import Context, Strategy, top_n
from activeloop.store.scores import Scores, ScoresError

__all__ = ["Query", "QueryEngine", "sample_eval"]

ROW_CACHE = 8192  # feature rows of head candidates kept per round (2 MiB at 64 float32 features)
READ_AHEAD = 8  # a miss reads the rows of this many times the heads per class too (capped to half of ROW_CACHE)


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
    scores: Scores  # ids ascending; cold start: base = cold-start scores, predicted = -1
    probe_X: np.ndarray | None = None
    probe_proba: np.ndarray | None = None
    margins: np.ndarray | None = None  # (n, C) per-class margins, kept when the strategy reads orders
    orders: np.ndarray | None = None  # (C, n) per-class orders over the cached rows
    queries: int = 0
    rows: dict = field(default_factory=dict)  # id -> row of ``block``, of the candidates a diversity step read
    block: np.ndarray | None = None  # their feature rows
    windows: dict = field(default_factory=dict)  # class -> head window that sufficed (see class_heads)
    labeled_X: np.ndarray | None = None  # feature rows of the labeled pool split, read once per round when asked for
    distances: CandidateDistances | None = None  # candidates' distances to the labeled rows and among themselves
    excluded: ExcludedRows | None = None  # which rows of ``scores`` the last query excluded, as a mask

    def features(self, pool: Any, ids: np.ndarray, ahead: Callable[[], np.ndarray] | None = None) -> np.ndarray:
        """Feature rows of ``ids``: the head candidates recur from query to query, so each is read once.

        On a miss, the rows of ``ahead()`` (the next candidates; given from the round's second query on)
        are read in the same statement, so the following queries read none until the heads move past them.
        """
        ids = np.asarray(ids, dtype=np.int64)
        missing = [i for i in ids.tolist() if i not in self.rows]
        if missing:
            if ahead is not None:
                missing = list(dict.fromkeys(missing + [int(i) for i in ahead() if int(i) not in self.rows]))
            if len(self.rows) + len(missing) > ROW_CACHE:  # start over: this query's rows first, then what fits
                self.rows.clear()
                missing = list(dict.fromkeys(ids.tolist() + missing))[: max(ROW_CACHE, len(ids))]
            X = pool.features(missing)
            self.block = X if not self.rows else np.concatenate((self.block, X))
            self.rows.update(zip(missing, range(len(self.block) - len(missing), len(self.block))))
        if not len(ids):
            return pool.features(ids)
        rows = self.rows
        return self.block[[rows[i] for i in ids.tolist()]]


class QueryEngine:
    """Chooses what to label next from a :class:`~activeloop.store.Pool`.

    Parameters
    ----------
    model : sklearn-compatible classifier or None
        Needs ``predict_proba`` and ``classes_`` (class indices into ``pool.classes``, or class
        names). While it is not fitted the engine uses a k-means cold start. None (the default)
        follows the pool's rounds: the latest round's stored scores, else its checkpoint, else a
        cold start; so does a model handed over with :meth:`adopt`.
    strategy : str, Strategy or callable, default "default"
        Anything :func:`activeloop.query.registry.resolve` accepts.
    batch_size : int, default 10
        Examples per query when ``n`` is not given; also sizes the cold start's clusters.
    diversity : {None, "none", "kmeans++", "coreset"}, default None
        None keeps the strategy's own diversity step (``default`` has a core-set); "none" removes
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
    scores_from_ : str or None
        Where the current scores came from: ``"stored"`` (a round's stored scores), ``"adopted"``
        (handed over by the retrain that recorded the round), ``"scored"`` (scored here) or ``"cold"``.

    Notes
    -----
    Following the rounds (``model=None``, and after :meth:`adopt`; ``model_round`` says whose): the scores of the latest round
    are used while it stays the latest; a newer round (recorded by any process) is picked up at the
    next query, from its stored scores when it has them for this strategy's
    :meth:`~activeloop.query.Strategy.score_key`, else by loading its checkpoint and rescoring (so are stored
    scores that fail their checks, with a ``RuntimeWarning`` naming why).
    With a model of your own, scores are reused while ``(pool, latest round number, id(model))`` is
    unchanged and the model still gives the same probabilities on a few probe rows kept from the
    last scoring (so a refit without a recorded round is noticed too). Either way, examples added
    to the pool after the scoring join the ranking at the next round (the round's retrain scores
    them); call :meth:`invalidate` to rescore now. When fewer examples are available than requested
    the engine returns what there is (``partial=True``, the default, convenient for a labeler at the
    end of a pool) and raises :class:`~activeloop.errors.PoolExhaustedError` only when none is left;
    with ``partial=False`` it raises whenever the request cannot be filled.
    """

    def __init__(
        self,
        model: Any = None,
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
        self._selector_checked: Any = None  # the strategy object _is_selector was found for
        self._is_selector = False
        self.model_round: int | None = None  # the round whose model ``model`` is (set by adopt / the Loop)
        self._eval_draws = 0
        self.n_scored_ = 0
        self.scores_from_: str | None = None

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
    @property
    def score_key(self) -> str | None:
        """The key this engine's base scores are stored under (None: its strategy's scores are not stored).

        Selectors, and strategies that read per-class orders or the labeled rows' probabilities
        (DIRECT, GALAXY, BASE), are not stored: they rescore from the round's model.
        """
        strat = self.strategy_
        if self._selects() or strat.needs_orders or strat.needs_labeled:
            return None
        return self.strategy_.score_key(self._seed)

    def _selects(self) -> bool:
        """Whether :attr:`strategy_` picks its own batch (a :class:`Selector`), checked once per strategy object:
        an ``isinstance`` against a runtime-checkable protocol costs ~13 µs, on every query."""
        strat = self.strategy_
        if self._selector_checked is not strat:
            self._selector_checked, self._is_selector = strat, isinstance(strat, Selector)
        return self._is_selector

    def invalidate(self) -> None:
        """Forget cached scores; the next query rescores the pool (or reloads the round's stored scores)."""
        self._cache = None

    def score(self, pool: Any, model: Any, *, round: int | None = None) -> Scores | None:
        """Score the pool split's unlabeled examples with ``model`` (what a round stores).

        None when the strategy's scores are not stored (:attr:`score_key` is None: a selector, a
        custom function, a strategy over per-class orders): those score at their first query of the
        round, as before stored scores.
        """
        if self.score_key is None:
            return None
        classes = list(pool.classes)
        counts = np.array([pool.class_counts("pool").get(c, 0) for c in classes], dtype=np.int64)
        scored = score_pool(model, pool, self.strategy_, key=self.score_key or repr(self.strategy_), round=round,
                            counts=counts, seed=self._seed, chunk_size=self.chunk_size, client=self.client)
        self.n_scored_ += scored.n_scored
        return scored.scores

    @property
    def follows_rounds(self) -> bool:
        """Whether the engine uses the pool's latest round (no model given, or ``model`` is a round's)."""
        return self.model is None or self.model_round is not None

    def adopt(self, pool: Any, number: int, model: Any, scores: Scores | None = None) -> None:
        """Use round ``number``'s ``model`` (and its ``scores``), and follow the pool's rounds from there.

        Called by :meth:`activeloop.loop.Loop.retrain` once the round is committed (with the
        scores: the next query uses them at once, no rescoring, no reading them back) and when a
        loop restores a round's checkpoint (without).
        """
        self.model = model
        self.model_round = int(number)
        if self._cache is not None and self._cache.key != self._key(pool, number):
            self._cache = None  # scores of that same round (stored ones, say) stay
        if scores is not None:
            self._cache = _Cache(self._key(pool, number), False, scores.tied_to(number))
            self.scores_from_ = "adopted"

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
        if self._selects():
            model = self._selector_model(pool)
            if model is not None:
                return self._query_selector(pool, model, n, annotator, partial, classes)
        number, excluded, counts = pool.query_state(annotator, "pool")
        cache = self._ensure_cache(pool, classes, counts, number)
        cache.queries += 1
        S = cache.scores
        rng = np.random.default_rng((self._seed, cache.queries))
        ctx = Context(class_counts=counts, classes=tuple(classes), rng=rng, seed=self._seed)
        if not cache.cold and self.strategy_.needs_labeled:  # never stored: the round's model scored the cache
            _, X_lab, y_lab = pool.labeled_xy("pool")
            model = self._round_model_for(pool, number) if self.follows_rounds else self.model
            lab_p = self._proba(X_lab, classes, model) if len(y_lab) else np.zeros((0, len(classes)))
            ctx = replace(ctx, labeled_proba=lab_p, labeled_y=y_lab)
        if not cache.cold and self.strategy_.needs_labeled_features:
            if cache.labeled_X is None:
                cache.labeled_X = pool.labeled_xy("pool")[1]
            ctx = replace(ctx, labeled_features=cache.labeled_X)
        if not cache.cold:
            if cache.distances is None:
                cache.distances = CandidateDistances(cache.labeled_X)
            ctx = replace(ctx, distances=cache.distances)
        out: list[Query] = []
        said: dict = {}  # texts shared by this query's examples
        first = True
        while len(out) < n:
            want = n - len(out)
            h = None if cache.cold else self.strategy_.heads(want)
            if h is None:
                avail = not_in(S.ids, excluded)
            else:
                if cache.excluded is None:
                    cache.excluded = ExcludedRows(S.ids)
                avail = class_heads(S, cache.excluded.update(excluded), max(h, want), cache.windows)
            if first:  # with heads >= n per class, fewer than n candidates means every class ran out
                self._check_available(pool, len(avail), n, annotator, partial)
                first = False
            if len(avail) == 0:
                break
            ids = S.ids[avail]
            pred = S.predicted[avail]
            if cache.cold:
                scores = S.base[avail]
                pos = top_n(scores, want)
            else:
                scores = self.strategy_.rescore(S.base[avail], pred, ctx)
                # a round's first query reads only its own candidates (a process that asks once, such as
                # `activeloop query`, reads no more); from the second on, a miss reads the next heads too
                ahead = None if h is None or cache.queries == 1 else self._ahead(S, cache.excluded, max(h, want))
                fetch: Callable[[np.ndarray], np.ndarray] = lambda p, ids=ids, ahead=ahead: cache.features(
                    pool, ids[p], ahead)
                rows = ctx.with_rows(ids=ids, fetch_features=fetch)
                if cache.orders is not None:
                    rows = replace(rows, margins=cache.margins[avail],
                                   orders=restrict_orders(cache.orders, avail, len(S.ids)))
                pos = np.asarray(self.strategy_.select(scores, pred, want, rows))
                pos = pos[:want]
            if len(pos) == 0:
                break
            got = set(pool.lease(ids[pos], annotator=annotator, strategy=self._label(cache),
                                 scores=scores[pos], ttl=self.lease_ttl, split="pool"))
            out.extend(self._make_queries(cache, avail[pos], scores[pos], got, classes, counts, said))
            # leased now, or taken by someone else meanwhile: either way not a candidate any more
            if cache.excluded is not None:  # the next query of the round then finds them excluded already
                excluded = cache.excluded.add(ids[pos], avail[pos])
            else:
                excluded = np.sort(np.concatenate((excluded, ids[pos])))  # not np.union1d: its unique imports numpy.ma
        if not out:
            raise self._exhausted(pool, 0, n, annotator)
        return out

    @staticmethod
    def _ahead(S: Scores, excluded: ExcludedRows, h: int) -> Callable[[], np.ndarray]:
        """The ids of the next head candidates, whose feature rows a miss reads too."""
        per_class = max(h, min(READ_AHEAD * h, ROW_CACHE // (2 * max(S.n_classes, 1))))
        return lambda: S.ids[class_heads(S, excluded, per_class)]

    def sample_eval(self, pool: Any, n: int, annotator: str = "default") -> list[Query]:
        """A uniform random draw of unlabeled eval-split examples, leased to ``annotator``; never by strategy."""
        self._eval_draws += 1
        rng = np.random.default_rng((self._seed, 7, self._eval_draws))
        return sample_eval(pool, n, annotator=annotator, rng=rng, lease_ttl=self.lease_ttl)

    # ------------------------------------------------------------------ scoring
    def _label(self, cache: _Cache) -> str:
        return "cold-start" if cache.cold else repr(self.strategy_)

    def _key(self, pool: Any, number: int | None) -> tuple:
        model = "rounds" if self.follows_rounds else id(self.model)
        return (pool.url, pool.project_id, number, model, repr(self.strategy_))

    def _ensure_cache(self, pool: Any, classes: list[str], counts: np.ndarray, number: int | None) -> _Cache:
        key = self._key(pool, number)
        c = self._cache
        if c is not None and c.key == key:
            if c.cold:  # a model of one's own that the caller has fitted since ends the cold start
                if self.follows_rounds or not is_fitted(self.model):
                    return c
            elif c.probe_X is None or len(c.probe_X) == 0:
                return c
            else:
                again = self._proba(c.probe_X, classes)
                if again.shape == c.probe_proba.shape and np.allclose(again, c.probe_proba, rtol=0, atol=1e-6,
                                                                      equal_nan=True):
                    return c
        self._cache = self._fresh_cache(pool, classes, counts, number, key)
        return self._cache

    def _fresh_cache(self, pool: Any, classes: list[str], counts: np.ndarray, number: int | None, key: tuple) -> _Cache:
        if not self.follows_rounds:  # a model of the caller's own
            if not is_fitted(self.model):
                return self._cold(pool, classes, key)
            return self._score(pool, self.model, counts, key, None, probe=True)
        if number is None:  # following rounds, and there is none yet
            return self._cold(pool, classes, key)
        if self.score_key is not None:
            try:
                stored = pool.load_scores(number, self.score_key)
            except ScoresError as err:  # damaged or not this round's: the checkpoint (sha256-checked) rescores
                warnings.warn(f"{err}; rescoring the pool with the round's checkpoint", RuntimeWarning, stacklevel=4)
                stored = None
            if stored is not None:
                self.scores_from_ = "stored"
                return _Cache(key, False, stored)
        model = self._round_model_for(pool, number)
        if model is None:
            return self._cold(pool, classes, key)
        return self._score(pool, model, counts, key, number, probe=False)

    def _round_model_for(self, pool: Any, number: int) -> Any:
        """Round ``number``'s model: the one held when it is that round's, else its checkpoint (imports torch)."""
        if self.model is not None and self.model_round == number:
            return self.model
        blob = pool.load_checkpoint(number)
        if blob is None:  # a round without a checkpoint (a model that cannot save one): keep the one held
            return self.model
        from activeloop.model.capacity import load_checkpoint

        self.model, self.model_round = load_checkpoint(blob), number
        return self.model

    def _selector_model(self, pool: Any) -> Any:
        """The fitted model a modAL-style selector runs with (None: cold start)."""
        if not self.follows_rounds:
            return self.model if is_fitted(self.model) else None
        number = pool.latest_round_number()
        return None if number is None else self._round_model_for(pool, number)

    def _proba(self, X: np.ndarray, classes: list[str], model: Any = None) -> np.ndarray:
        """Model probabilities with one column per pool class (zeros for classes the model lacks)."""
        self.n_scored_ += len(X)
        return proba_by_class(self.model if model is None else model, X, classes)

    def _score(self, pool: Any, model: Any, counts: np.ndarray, key: tuple, number: int | None, *, probe: bool) -> _Cache:
        keep_orders = self.strategy_.needs_orders  # once per round: every query of the round reuses them
        scored: Scored = score_pool(model, pool, self.strategy_, key=self.score_key or repr(self.strategy_),
                                    round=number, counts=counts, seed=self._seed, chunk_size=self.chunk_size,
                                    orders=keep_orders, client=self.client)
        self.n_scored_ += scored.n_scored
        self.scores_from_ = "scored"
        cache = _Cache(key, False, scored.scores, margins=scored.margins, orders=scored.orders)
        if probe:
            cache.probe_X, cache.probe_proba = scored.probe_X, scored.probe_proba
        return cache

    def _cold(self, pool: Any, classes: list[str], key: tuple) -> _Cache:
        k = cold_start_clusters(10**12, len(classes), self.batch_size)
        sampler = ColdStartSampler(k, seed=self._seed)
        ids, scores = sampler.run(pool.iter_features(split="pool", unlabeled=True, chunk_size=self.chunk_size))
        n = len(ids)
        self.scores_from_ = "cold"
        cold = Scores("cold-start", None, np.asarray(ids, np.int64), np.asarray(scores, np.float64),
                      np.full(n, -1, np.int16), np.full(n, np.nan, np.float32), np.empty(0, np.int32),
                      np.zeros(1, np.int64))
        return _Cache(key, True, cold)

    def _make_queries(self, cache: _Cache, rows: np.ndarray, scores: np.ndarray, got: set, classes: list[str],
                      counts: np.ndarray, said: dict) -> list[Query]:
        """The :class:`Query` of each cached row in ``rows`` whose id was leased (in ``got``), in that order;
        ``said`` keeps the strategy's repr and the per-class texts of one query (the same for all its examples)."""
        S = cache.scores
        ids, scores = S.ids[rows].tolist(), scores.tolist()
        if cache.cold:
            return [Query(eid, score, "cold-start", None, None,
                          "cold start: k-means representative" if base >= 1.0 else "cold start: random draw")
                    for eid, score, base in zip(ids, scores, S.base[rows].tolist()) if eid in got]
        if "strategy" not in said:
            said["strategy"] = repr(self.strategy_)
        strategy, describe = said["strategy"], self.strategy_.describe
        out = []
        for eid, score, c, base, conf in zip(ids, scores, S.predicted[rows].tolist(), S.base[rows].tolist(),
                                             S.confidence[rows].tolist()):
            if eid not in got:
                continue
            if c not in said:
                total = int(counts.sum())
                rare = counts[c] * len(classes) < total
                labels = f"{'rare: ' if rare else ''}{int(counts[c])} label{'s' if counts[c] != 1 else ''}"
                said[c] = f", predicted {classes[c]!r} ({labels})"
            out.append(Query(eid, score, strategy, classes[c], conf, describe(base) + said[c]))
        return out

    def _check_available(self, pool: Any, available: int, n: int, annotator: str, partial: bool) -> None:
        if available == 0 or (available < n and not partial):
            raise self._exhausted(pool, available, n, annotator)

    def _exhausted(self, pool: Any, available: int, n: int, annotator: str) -> PoolExhaustedError:
        """The error for too few examples, counting the pool-split ones already leased to ``annotator``."""
        mine = [lease.example_id for lease in pool.active_leases(annotator)]
        held = int(np.isin(mine, pool.excluded_ids(None, split="pool")).sum()) if mine else 0
        return PoolExhaustedError.of(pool.name, available, n, annotator=annotator, held=held, lease_ttl=self.lease_ttl)

    # ------------------------------------------------------------------ selectors
    def _query_selector(self, pool, model, n, annotator, partial, classes) -> list[Query]:
        excluded = pool.excluded_ids(annotator, split="pool")
        ids_l, X_l = [], []
        for ids, X in pool.iter_features(split="pool", unlabeled=True, chunk_size=self.chunk_size):
            keep = not_in(ids, excluded)
            ids_l.append(ids[keep])
            X_l.append(np.asarray(X[keep]))
        ids = np.concatenate(ids_l) if ids_l else np.empty(0, np.int64)
        self._check_available(pool, len(ids), n, annotator, partial)
        X = np.concatenate(X_l)
        self.n_scored_ += len(X)
        _, X_lab, y_lab = pool.labeled_xy("pool")
        pos, scores = self.strategy_.query(model, X, min(n, len(X)), X_training=X_lab, y_training=y_lab)
        got = set(pool.lease(ids[pos], annotator=annotator, strategy=repr(self.strategy_), scores=scores,
                             ttl=self.lease_ttl, split="pool"))
        proba = self._proba(X[pos], classes, model) if len(pos) else np.zeros((0, len(classes)))
        out = []
        for k, p in enumerate(pos):
            if int(ids[p]) not in got:
                continue
            c = int(proba[k].argmax())
            out.append(Query(int(ids[p]), float(scores[k]), repr(self.strategy_), classes[c], float(proba[k, c]),
                             f"{self.strategy_!r} pick {k + 1}, predicted {classes[c]!r}"))
        if not out:
            raise self._exhausted(pool, 0, n, annotator)
        return out


def sample_eval(
    pool: Any, n: int, *, annotator: str = "default", rng: np.random.Generator | None = None, lease_ttl: float = 1800.0
) -> list[Query]:
    """Draw up to ``n`` unlabeled eval-split examples uniformly at random and lease them to ``annotator``.

    The eval split must stay a random sample of the pool's real distribution, so it is never
    chosen by a strategy. Raises :class:`~activeloop.errors.PoolExhaustedError` when none is left.
    """
    rng = np.random.default_rng() if rng is None else rng
    ids = pool.unlabeled_ids("eval")
    ids = ids[not_in(ids, pool.excluded_ids(annotator, split="eval"))]
    if len(ids) == 0:
        raise PoolExhaustedError.of(pool.name, 0, n, annotator=annotator, split="eval")
    pick = rng.choice(ids, size=min(int(n), len(ids)), replace=False)
    got = pool.lease(pick, annotator=annotator, strategy="eval-random", ttl=lease_ttl, split="eval")
    return [Query(int(i), 0.0, "eval-random", None, None, "random eval draw") for i in got]
