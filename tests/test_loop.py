"""One round of the loop on real temporary SQLite pools of sklearn digits: swap, restore, engine, eval split."""

from __future__ import annotations

import numpy as np
import pytest
from tui_helpers import digits_file, truth

from sklearn.exceptions import NotFittedError

from activeloop.errors import ActiveloopError
from activeloop.loop import Loop
from activeloop.model import FocalLossClassifier
from activeloop.store import Pool


def small_model(**params) -> FocalLossClassifier:
    return FocalLossClassifier(hidden=(16,), max_epochs=15, random_state=0, **params)


def label_pool(pool: Pool, n: int) -> list[int]:
    """Label the first ``n`` unlabeled pool-split examples (in id order) with their true digit."""
    ids = [int(i) for i in np.sort(pool.unlabeled_ids("pool"))[:n]]
    for eid in ids:
        pool.label(eid, truth(pool, eid), annotator="ana")
    return ids


def pool_features(pool: Pool) -> np.ndarray:
    return pool.features(np.sort(pool.unlabeled_ids("pool")))


@pytest.fixture
def path(tmp_path):
    return digits_file(tmp_path / "digits.db")


@pytest.fixture
def pool(path):
    with Pool.open(path) as p:
        yield p


def test_a_round_fits_a_copy_and_leaves_the_model_given_untouched(pool):
    given = small_model()
    loop = Loop(pool, model=given)
    label_pool(pool, 20)
    info = loop.retrain()
    assert info.number == 1
    assert loop.model is given and loop.model_ is not given and loop.engine.model is loop.model_
    assert not hasattr(given, "classes_")  # never fitted
    assert given.get_params() == small_model().get_params()
    first = loop.model_
    X = pool_features(pool)
    before = first.predict_proba(X)
    label_pool(pool, 10)
    loop.retrain()
    assert loop.model_ is not first and loop.model is given
    np.testing.assert_array_equal(first.predict_proba(X), before)  # the previous round's model is not refitted in place


def test_a_failing_fit_keeps_the_previous_model_and_records_nothing(pool):
    loop = Loop(pool, model=small_model())
    label_pool(pool, 20)
    loop.retrain()
    kept = loop.model_
    X = pool_features(pool)
    before = kept.predict_proba(X)
    label_pool(pool, 10)
    loop.model.set_params(hidden=(0,))  # the next fit (of a copy of the template) fails on its parameters
    with pytest.raises(ValueError, match="hidden layer widths"):
        loop.retrain()
    assert loop.model_ is kept and loop.engine.model is kept
    np.testing.assert_array_equal(kept.predict_proba(X), before)
    assert pool.latest_round().number == 1


def test_a_round_needs_two_classes_and_then_keeps_the_model(pool):
    given = small_model()
    loop = Loop(pool, model=given)
    eid = int(pool.unlabeled_ids("pool")[0])
    pool.label(eid, "3", annotator="ana")
    with pytest.raises(ActiveloopError, match="at least 2 classes"):
        loop.retrain()
    assert loop.model is given and loop.engine.model is given and pool.latest_round() is None
    with pytest.raises(NotFittedError, match="no fitted model yet"):
        loop.model_  # noqa: B018


def test_a_new_loop_restores_the_latest_rounds_checkpoint(path):
    pool = Pool.open(path)
    loop = Loop(pool, model=small_model())
    label_pool(pool, 20)
    loop.retrain()
    X = pool_features(pool)
    round1 = loop.model_.predict_proba(X)
    label_pool(pool, 20)
    loop.retrain()
    round2 = loop.model_.predict_proba(X)
    assert not np.allclose(round1, round2)  # the two rounds' models differ, so the restore can tell them apart
    pool.close()

    pool = Pool.open(path)
    try:
        restored = Loop(pool)
        assert isinstance(restored.model_, FocalLossClassifier) and restored.engine.model is restored.model_
        assert not hasattr(restored.model, "classes_")  # the template: an unfitted clone of the checkpoint
        assert restored.model.get_params() == restored.model_.get_params()
        np.testing.assert_allclose(restored.model_.predict_proba(X), round2, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(restored.model_.classes_, loop.model_.classes_)
    finally:
        pool.close()


def test_the_engine_queries_with_the_new_model_after_a_round(pool):
    loop = Loop(pool, model=small_model())
    cold = loop.query(5, annotator="ana")
    assert {q.strategy for q in cold} == {"cold-start"} and {q.predicted for q in cold} == {None}
    pool.release([q.example_id for q in cold], annotator="ana")
    label_pool(pool, 30)
    loop.retrain()
    warm = loop.query(5, annotator="ana")
    assert "cold-start" not in {q.strategy for q in warm}
    ids = [q.example_id for q in warm]
    X = pool.features(ids)
    proba = loop.model_.predict_proba(X)
    assert [q.predicted for q in warm] == loop.model_.predict(X).tolist()
    assert [q.predicted for q in warm] == [loop.model_.classes_[k] for k in proba.argmax(axis=1)]
    np.testing.assert_allclose([q.confidence for q in warm], proba.max(axis=1), rtol=1e-5)


def test_metrics_come_from_the_eval_split_only(pool):
    loop = Loop(pool, model=small_model())
    label_pool(pool, 30)
    info = loop.retrain()
    assert info.metrics["n_eval"] == 30 and info.metrics["n"] == 30
    assert sum(info.metrics["train_counts"].values()) == 30
    before = loop.evaluate()
    assert before == {k: v for k, v in info.metrics.items() if k not in ("fit_seconds", "train_counts", "stopping")}

    label_pool(pool, 20)  # more pool labels: the same model scores the same on the eval split
    assert loop.evaluate() == before

    eval_ids = [int(i) for i in pool.labeled("eval")[0][:6]]
    for eid in eval_ids:  # relabel some eval examples with a wrong digit: the metrics must move
        pool.label(eid, str((int(truth(pool, eid)) + 1) % 10), annotator="ana")
    after = loop.evaluate()
    assert after["n_eval"] == 30
    assert after["accuracy"] < before["accuracy"]
    assert after["confusion"] != before["confusion"]
