"""The query engine over real SQLite pools: contract, leases, cache, cold start, eval draws."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from optional import needs_modal
from sklearn.linear_model import LogisticRegression

from activeloop.errors import PoolExhaustedError, StrategyError
from activeloop.query import Query, QueryEngine, available
from activeloop.store import Pool

CLASSES = ["ok", "spam", "fraud"]
MODAL_NAMES = [pytest.param(n, marks=needs_modal) for n in
               ("modal:margin_sampling", "modal:entropy_sampling", "modal:uncertainty_batch_sampling")]


def _data(n=240, seed=0):
    """Three overlapping Gaussian classes in 4-D at 80 / 15 / 5 %."""
    rng = np.random.default_rng(seed)
    sizes = [int(n * 0.80), int(n * 0.15), n - int(n * 0.80) - int(n * 0.15)]
    centers = np.array([[0, 0, 0, 0], [2, 0, 1, 0], [0, 2.5, 0, 1]], dtype=float)
    X = np.vstack([rng.normal(c, 1.0, size=(k, 4)) for c, k in zip(centers, sizes)]).astype(np.float32)
    y = np.concatenate([np.full(k, i) for i, k in enumerate(sizes)])
    return X, y


X_ALL, Y_ALL = _data()
X_TRAIN, Y_TRAIN = _data(150, seed=1)


class CountingLR(LogisticRegression):
    """LogisticRegression that counts the rows it is asked to score."""

    rows = 0

    def predict_proba(self, X):
        type(self).rows += len(X)
        return super().predict_proba(X)


def _model(cls=LogisticRegression):
    return cls(max_iter=500).fit(X_TRAIN, Y_TRAIN)


_TEMPLATES: dict[tuple, Path] = {}


def _pool(tmp_path, name="p", shuffle=None, n_eval=30, n_labeled=12):
    """A pool of X_ALL (rows shuffled by seed ``shuffle``; external ids keep the original index) plus an eval split.

    Each variant is built once (migrations take a while) and copied into ``tmp_path``.
    """
    key = (shuffle, n_eval, n_labeled)
    if key not in _TEMPLATES:
        src = Path(tempfile.mkdtemp(prefix="al-template-")) / "t.db"
        order = np.arange(len(X_ALL)) if shuffle is None else np.random.default_rng(shuffle).permutation(len(X_ALL))
        pool = Pool.create(src, "p", CLASSES)
        ids = pool.add(X_ALL[order], external_ids=[f"x{i}" for i in order])
        Xe, _ = _data(n_eval, seed=9)
        pool.add(Xe, external_ids=[f"e{i}" for i in range(n_eval)], split="eval")
        by_ext = {int(o): int(i) for o, i in zip(order, ids)}
        for k in range(n_labeled):  # the same examples are labeled, whatever the order
            pool.label(by_ext[k * 17 % len(X_ALL)], CLASSES[Y_ALL[k * 17 % len(X_ALL)]], annotator="seed")
        pool.close()
        _TEMPLATES[key] = src
    dst = tmp_path / f"{name}.db"
    for suffix in ("", "-wal"):
        if Path(str(_TEMPLATES[key]) + suffix).exists():
            shutil.copy(str(_TEMPLATES[key]) + suffix, str(dst) + suffix)
    return Pool.open(dst)


def _ext(pool, queries):
    return [pool.example(q.example_id)["external_id"] for q in queries]


@pytest.fixture
def pool(tmp_path):
    return _pool(tmp_path)


# ------------------------------------------------------------------ the shared contract


@pytest.mark.parametrize("name", available() + MODAL_NAMES)
def test_every_strategy_returns_n_unique_unlabeled_pool_ids_unchanged_by_shuffling(tmp_path, name):
    pool = _pool(tmp_path, "a")
    engine = QueryEngine(_model(), strategy=name, random_state=0)
    batch = engine.query(pool, 7, annotator="ana")
    ids = [q.example_id for q in batch]
    assert len(ids) == 7 == len(set(ids))
    labeled, _ = pool.labeled()
    assert not set(ids) & set(labeled.tolist())
    assert set(ids) <= set(pool.unlabeled_ids("pool").tolist())
    assert all(isinstance(q, Query) and q.reason for q in batch)

    shuffled = _pool(tmp_path, "b", shuffle=5)
    again = QueryEngine(_model(), strategy=name, random_state=0).query(shuffled, 7, annotator="ana")
    assert _ext(shuffled, again) == _ext(pool, batch)


class NaNLR(LogisticRegression):
    """LogisticRegression that outputs NaN for the rows with a positive first feature (a model gone bad)."""

    def predict_proba(self, X):
        p = super().predict_proba(X)
        p[np.asarray(X)[:, 0] > 0] = np.nan
        return p


@pytest.mark.parametrize("name", available() + MODAL_NAMES[:1])
def test_a_model_that_outputs_nan_for_some_rows_still_gets_every_available_example(tmp_path, name):
    pool = _pool(tmp_path, n_labeled=12)
    engine = QueryEngine(_model(NaNLR), strategy=name, random_state=0)
    n_free = len(pool.unlabeled_ids("pool"))
    first = [q.example_id for q in engine.query(pool, 150, annotator="ana")]
    rest = [q.example_id for q in engine.query(pool, 150, annotator="ana")]
    assert len(first) == 150 and len(rest) == n_free - 150
    assert len(set(first + rest)) == n_free
    assert not set(first + rest) & set(pool.labeled()[0].tolist())


def test_query_is_a_frozen_record_with_a_readable_reason(pool):
    q = QueryEngine(_model(), strategy="minority-margin", random_state=0).query(pool, 3, "ana")[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.score = 0.0  # type: ignore[misc]
    assert q.predicted in CLASSES and 0.0 < q.confidence <= 1.0
    assert q.reason.startswith("margin ") and f"predicted {q.predicted!r}" in q.reason
    assert "label" in q.reason


def test_reason_marks_a_rare_predicted_class(pool):
    batch = QueryEngine(_model(), strategy="minority-margin", random_state=0).query(pool, 20, "ana")
    rare = [q for q in batch if q.predicted == "fraud"]
    assert rare and all("(rare: " in q.reason for q in rare)


def test_query_never_returns_eval_examples_even_when_draining_the_pool(pool):
    engine = QueryEngine(_model(), strategy="margin", random_state=0)
    eval_ids = set(pool.unlabeled_ids("eval").tolist())
    seen: list[int] = []
    while True:
        try:
            seen += [q.example_id for q in engine.query(pool, 50, annotator="ana")]
        except PoolExhaustedError as exc:
            assert "has 0 unlabeled examples available to 'ana', 50 requested" in str(exc)
            break
    assert not set(seen) & eval_ids
    assert len(seen) == len(set(seen)) == len(X_ALL) - 12


def test_fewer_available_than_requested_returns_the_rest_or_raises_with_both_counts(tmp_path):
    pool = _pool(tmp_path, n_labeled=0)
    engine = QueryEngine(_model(), strategy="margin", random_state=0)
    engine.query(pool, len(X_ALL) - 4, "ana")
    with pytest.raises(PoolExhaustedError, match="has 4 unlabeled examples available to 'bob', 10 requested"):
        engine.query(pool, 10, "bob", partial=False)
    assert len(engine.query(pool, 10, "bob")) == 4


def test_two_annotators_never_get_the_same_example(pool):
    model = _model()
    ana, bob = QueryEngine(model, random_state=0), QueryEngine(model, random_state=0)  # two processes
    got_a, got_b = [], []
    for _ in range(4):
        got_a += [q.example_id for q in ana.query(pool, 10, "ana")]
        got_b += [q.example_id for q in bob.query(pool, 10, "bob")]
    assert len(set(got_a)) == len(got_a) == 40 and len(set(got_b)) == 40
    assert not set(got_a) & set(got_b)


def test_a_skipped_example_is_not_asked_of_that_annotator_again_but_of_others(pool):
    engine = QueryEngine(_model(), strategy="margin", random_state=0)
    first = engine.query(pool, 1, "ana")[0].example_id
    pool.skip(first, annotator="ana")
    assert first not in [q.example_id for q in engine.query(pool, 5, "ana")]
    assert engine.query(pool, 1, "bob")[0].example_id == first


def test_labeled_examples_drop_out_of_the_cached_ranking(pool):
    engine = QueryEngine(_model(), strategy="margin", random_state=0)
    top = [q.example_id for q in engine.query(pool, 3, "ana")]
    for i in top:
        pool.label(i, "ok", annotator="ana")
    nxt = [q.example_id for q in engine.query(pool, 3, "ana")]
    assert not set(top) & set(nxt)


# ------------------------------------------------------------------ cache


def test_the_second_query_of_a_round_does_not_rescore_the_pool(pool):
    CountingLR.rows = 0
    engine = QueryEngine(_model(CountingLR), strategy="default", random_state=0)
    n_unlabeled = len(pool.unlabeled_ids("pool"))
    engine.query(pool, 5, "ana")
    assert CountingLR.rows == n_unlabeled
    CountingLR.rows = 0
    engine.query(pool, 5, "bob")
    engine.query(pool, 5, "ana")
    assert CountingLR.rows <= 2 * 8  # only the probe rows that check the model is unchanged


def test_a_new_round_or_a_refit_model_or_invalidate_rescores(pool):
    model = _model(CountingLR)
    engine = QueryEngine(model, strategy="margin", random_state=0)
    engine.query(pool, 5, "ana")

    pool.record_round(n_labels=12, strategy="margin", checkpoint=None, metrics={}, config={},
                      started_at=datetime.now(timezone.utc))
    CountingLR.rows = 0
    engine.query(pool, 5, "ana")
    assert CountingLR.rows > 100

    model.fit(X_TRAIN[::2], Y_TRAIN[::2])  # refit without recording a round
    CountingLR.rows = 0
    engine.query(pool, 5, "ana")
    assert CountingLR.rows > 100

    CountingLR.rows = 0
    engine.invalidate()
    engine.query(pool, 5, "ana")
    assert CountingLR.rows > 100


def test_a_model_of_ones_own_fitted_after_a_cold_start_is_used_at_the_next_query(pool):
    model = LogisticRegression(max_iter=500)
    engine = QueryEngine(model, strategy="margin", random_state=0)
    assert {q.strategy for q in engine.query(pool, 4, "ana")} == {"cold-start"}
    model.fit(X_TRAIN, Y_TRAIN)  # the script fits the model itself; no round is recorded
    batch = engine.query(pool, 4, "ana")
    assert engine.scores_from_ == "scored" and {q.strategy for q in batch} == {"margin"}
    expect = QueryEngine(_model(), strategy="margin", random_state=0).query(pool, 4, "bob")
    assert [q.example_id for q in batch] != [q.example_id for q in expect]  # bob's are the next best
    pool.release([q.example_id for q in expect], annotator="bob")
    pool.release([q.example_id for q in batch], annotator="ana")
    again = QueryEngine(_model(), strategy="margin", random_state=0).query(pool, 4, "cy")
    assert [q.example_id for q in again] == [q.example_id for q in batch]


def test_scores_do_not_depend_on_chunk_size(tmp_path):
    for name in ["margin", "default", "random", "class-balanced"]:
        pools = [_pool(tmp_path, f"{name}{k}") for k in (1, 2)]
        small = QueryEngine(_model(), strategy=name, chunk_size=7, random_state=3).query(pools[0], 9, "ana")
        big = QueryEngine(_model(), strategy=name, chunk_size=10_000, random_state=3).query(pools[1], 9, "ana")
        assert [(q.example_id, q.score) for q in small] == [(q.example_id, q.score) for q in big], name


# ------------------------------------------------------------------ cold start, classes, eval


def test_an_unfitted_model_gets_a_cold_start_that_reaches_the_rare_class_quickly(pool):
    engine = QueryEngine(LogisticRegression(), strategy="default", batch_size=12, random_state=0)
    batch = engine.query(pool)
    assert len(batch) == 12
    assert all(q.strategy == "cold-start" and q.predicted is None for q in batch)
    assert batch[0].reason == "cold start: k-means representative"
    truth = {f"x{i}": CLASSES[y] for i, y in enumerate(Y_ALL)}
    assert {truth[e] for e in _ext(pool, batch)} == set(CLASSES)


def test_model_classes_may_be_names_and_a_subset_of_the_pool_classes(pool):
    names = np.array(CLASSES)[Y_TRAIN]
    keep = names != "fraud"
    model = LogisticRegression(max_iter=500).fit(X_TRAIN[keep], names[keep])
    batch = QueryEngine(model, strategy="minority-entropy", random_state=0).query(pool, 5, "ana")
    X = pool.features(np.array([q.example_id for q in batch]))
    # each name maps to its own pool column: the engine reports the model's own prediction and confidence
    assert [q.predicted for q in batch] == list(model.predict(X))
    assert [q.confidence for q in batch] == pytest.approx(model.predict_proba(X).max(axis=1), abs=1e-6)
    assert {q.predicted for q in batch} <= {"ok", "spam"}


def test_unknown_diversity_or_strategy_fails_at_construction():
    with pytest.raises(StrategyError, match="unknown diversity"):
        QueryEngine(_model(), diversity="dpp")
    with pytest.raises(StrategyError, match="unknown strategy"):
        QueryEngine(_model(), strategy="most-fun")


def test_diversity_option_wraps_the_strategy(pool):
    engine = QueryEngine(_model(), strategy="entropy", diversity="coreset", candidates=3)
    assert repr(engine.strategy_) == "diverse(entropy, method='coreset', factor=3)"
    assert repr(QueryEngine(_model(), diversity="none").strategy_) == "margin"
    assert len(engine.query(pool, 6, "ana")) == 6


def test_sample_eval_draws_only_unlabeled_eval_examples_and_leases_them(pool):
    engine = QueryEngine(_model(), random_state=0)
    eval_ids = set(pool.unlabeled_ids("eval").tolist())
    a = [q.example_id for q in engine.sample_eval(pool, 10, "ana")]
    b = [q.example_id for q in engine.sample_eval(pool, 30, "bob")]
    assert set(a) <= eval_ids and set(b) <= eval_ids
    assert len(a) == 10 and len(b) == 20 and not set(a) & set(b)
    with pytest.raises(PoolExhaustedError, match="0 unlabeled eval examples"):
        engine.sample_eval(pool, 1, "cy")


def test_a_strategy_that_needs_the_labeled_rows_gets_their_features_read_once_per_round(pool, monkeypatch):
    from activeloop.query import Diverse
    from activeloop.query.strategies import MARGIN

    seen = []

    class Spy(Diverse):
        def select(self, scores, predicted, n, ctx):
            seen.append(ctx.labeled_features)
            return super().select(scores, predicted, n, ctx)

    reads = []
    labeled_xy = pool.labeled_xy
    monkeypatch.setattr(pool, "labeled_xy", lambda split="pool": reads.append(split) or labeled_xy(split))
    engine = QueryEngine(_model(), strategy=Spy(MARGIN, labeled=True), random_state=0)
    engine.query(pool, 3, "ana")
    engine.query(pool, 3, "bob")
    ids, y = pool.labeled("pool")
    assert reads == ["pool"] and len(seen) == 2
    assert np.array_equal(seen[0], pool.features(ids)) and seen[1] is seen[0]
    assert len(seen[0]) == 12
