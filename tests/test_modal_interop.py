"""modAL interop both ways, with the real modAL package."""

from __future__ import annotations

import numpy as np
import pytest
from optional import skip_module_without_modal

skip_module_without_modal()

from modAL.disagreement import vote_entropy_sampling  # noqa: E402
from modAL.models import ActiveLearner, Committee  # noqa: E402
from modAL.uncertainty import entropy_sampling, margin_sampling, uncertainty_sampling  # noqa: E402
from sklearn.datasets import load_wine  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from activeloop.errors import StrategyError  # noqa: E402
from activeloop.query import ModalMeasure, ModalSelector, QueryEngine, as_modal, available, margin, resolve  # noqa: E402
from activeloop.query.strategies import top_n  # noqa: E402
from activeloop.store import Pool  # noqa: E402


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    return X[order], y[order]


def _initial(y, per_class=2):
    return np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)])


def test_an_activeloop_strategy_drives_a_modal_active_learner(wine):
    X, y = wine
    init = _initial(y)
    learner = ActiveLearner(
        estimator=LogisticRegression(max_iter=500),
        query_strategy=as_modal("margin"),
        X_training=X[init],
        y_training=y[init],
    )
    idx, rows = learner.query(X, n_instances=5)
    assert len(set(np.asarray(idx).tolist())) == 5
    np.testing.assert_array_equal(rows, X[idx])
    # the same picks as activeloop's margin over the learner's probabilities, best first
    expected = top_n(margin(learner.predict_proba(X)), 5)
    assert list(idx) == list(expected)
    learner.teach(X[idx], y[idx])
    assert len(learner.y_training) == len(init) + 5


@pytest.mark.parametrize("name", available())
def test_every_registered_strategy_works_as_a_modal_query_strategy(wine, name):
    X, y = wine
    init = _initial(y)
    learner = ActiveLearner(estimator=LogisticRegression(max_iter=500), query_strategy=as_modal(name, seed=1),
                            X_training=X[init], y_training=y[init])
    idx, _ = learner.query(X, n_instances=6)
    assert len(set(np.asarray(idx).tolist())) == 6
    assert repr(learner.query_strategy).startswith("as_modal(")


def test_minority_leaning_via_modal_reads_class_counts_from_the_learners_training_labels(wine):
    X, y = wine
    # many labels of classes 0 and 1, one label of class 2
    init = np.concatenate([np.flatnonzero(y == 0)[:20], np.flatnonzero(y == 1)[:20], np.flatnonzero(y == 2)[:1]])
    learner = ActiveLearner(estimator=LogisticRegression(max_iter=500), query_strategy=as_modal("minority-margin"),
                            X_training=X[init], y_training=y[init])
    pred = learner.predict(X)
    idx, _ = learner.query(X, n_instances=10)
    plain_idx, _ = ActiveLearner(estimator=LogisticRegression(max_iter=500), query_strategy=as_modal("margin"),
                                 X_training=X[init], y_training=y[init]).query(X, n_instances=10)
    assert (pred[idx] == 2).sum() >= (pred[plain_idx] == 2).sum()


def test_an_unfitted_modal_learner_gets_a_cold_start_batch(wine):
    X, _ = wine
    learner = ActiveLearner(estimator=LogisticRegression(), query_strategy=as_modal("default"))
    idx, _ = learner.query(X, n_instances=4)
    assert len(set(np.asarray(idx).tolist())) == 4


def test_focal_loss_classifier_is_a_modal_estimator_that_teaches_and_queries(wine):
    from activeloop.model import FocalLossClassifier

    X, y = wine
    init = _initial(y, per_class=4)
    clf = FocalLossClassifier(hidden=(16,), max_epochs=30, random_state=0)
    for strategy in (uncertainty_sampling, as_modal("minority-entropy")):
        learner = ActiveLearner(estimator=clf, query_strategy=strategy, X_training=X[init], y_training=y[init])
        idx, rows = learner.query(X, n_instances=3)
        idx = np.asarray(idx)
        assert len(set(idx.tolist())) == 3 and rows.shape == (3, X.shape[1])
        learner.teach(X[idx], y[idx])
        assert learner.predict_proba(X[:5]).shape == (5, 3)
        assert learner.score(X, y) > 0.5


# ------------------------------------------------------------------ modAL -> activeloop


@pytest.fixture
def wine_pool(tmp_path, wine):
    X, y = wine
    pool = Pool.create(tmp_path / "wine.db", "wine", ["a", "b", "c"])
    ids = pool.add(X)
    for i in _initial(y):
        pool.label(int(ids[i]), "abc"[y[i]], annotator="seed")
    _, Xl, yl = pool.labeled_xy()
    model = LogisticRegression(max_iter=500).fit(Xl, yl)
    return pool, model


def test_modal_uncertainty_functions_become_streamed_scorers_that_agree_with_ours(wine_pool):
    pool, model = wine_pool
    assert isinstance(resolve("modal:margin_sampling"), ModalMeasure)
    assert isinstance(resolve(entropy_sampling), ModalMeasure)  # the function object works too
    ours = QueryEngine(model, strategy="margin", random_state=0).query(pool, 8, "ana")
    pool.release([q.example_id for q in ours], annotator="ana")
    theirs = QueryEngine(model, strategy=margin_sampling, random_state=0).query(pool, 8, "ana")
    assert [q.example_id for q in theirs] == [q.example_id for q in ours]
    assert theirs[0].strategy == "modal:margin_sampling"


def test_a_modal_batch_function_runs_on_the_candidate_matrix_with_a_learner_view(wine_pool):
    pool, model = wine_pool
    engine = QueryEngine(model, strategy="modal:uncertainty_batch_sampling", random_state=0)
    assert isinstance(engine.strategy_, ModalSelector)
    batch = engine.query(pool, 5, "ana")
    ids = [q.example_id for q in batch]
    assert len(set(ids)) == 5
    assert not set(ids) & set(pool.labeled()[0].tolist())
    second = engine.query(pool, 5, "bob")
    assert not set(ids) & {q.example_id for q in second}


def test_a_modal_committee_with_a_disagreement_function_drives_the_engine(wine_pool):
    pool, _ = wine_pool
    _, Xl, yl = pool.labeled_xy()
    committee = Committee(
        learner_list=[ActiveLearner(estimator=LogisticRegression(C=c, max_iter=500), X_training=Xl, y_training=yl)
                      for c in (0.01, 1.0, 100.0)],
        query_strategy=vote_entropy_sampling,
    )
    batch = QueryEngine(committee, strategy="modal:vote_entropy_sampling", random_state=0).query(pool, 4, "ana")
    assert len({q.example_id for q in batch}) == 4
    assert all(q.predicted in {"a", "b", "c"} for q in batch)


def test_a_modal_style_function_that_returns_bad_indices_raises_strategy_error(wine_pool):
    pool, model = wine_pool

    def bad(classifier, X, n_instances=1):
        return np.full(n_instances, len(X) + 3)

    with pytest.raises(StrategyError, match="outside"):
        QueryEngine(model, strategy=bad).query(pool, 2, "ana")

    def duplicates(classifier, X, n_instances=1):
        return np.zeros(n_instances, dtype=int)

    with pytest.raises(StrategyError, match="duplicate"):
        QueryEngine(model, strategy=duplicates).query(pool, 2, "ana")


def test_as_modal_refuses_something_that_already_is_a_modal_function():
    with pytest.raises(StrategyError, match="already is a modAL strategy"):
        as_modal("modal:uncertainty_batch_sampling")


def test_any_object_with_a_query_method_is_a_selector_the_engine_calls(wine_pool):
    from activeloop.query import Selector

    class LastRows:
        """Picks the last n candidates; records what the engine handed it."""

        def __init__(self):
            self.calls = []

        def query(self, classifier, X, n, X_training=None, y_training=None):
            self.calls.append((len(X), n, len(X_training)))
            pos = np.arange(len(X) - n, len(X))[::-1]
            return pos, np.arange(n, 0, -1, dtype=float)

    pool, model = wine_pool
    picker = LastRows()
    assert isinstance(picker, Selector) and resolve(picker) is picker
    engine = QueryEngine(model, strategy=picker, random_state=0)
    batch = engine.query(pool, 3, "ana")
    ids = pool.unlabeled_ids("pool")
    assert [q.example_id for q in batch] == [int(i) for i in ids[::-1][:3]]
    assert picker.calls == [(len(ids), 3, len(pool.labeled()[0]))]
    with pytest.raises(StrategyError, match="selects its own batch"):
        QueryEngine(model, strategy=picker, diversity="kmeans++")


def test_a_diversity_step_over_labeled_centers_reads_the_learners_training_rows(wine):
    from activeloop.query import Diverse
    from activeloop.query.strategies import MARGIN

    X, y = wine
    init = _initial(y)
    strat = Diverse(MARGIN, method="coreset", factor=len(X), labeled=True)  # every row is a candidate
    learner = ActiveLearner(estimator=LogisticRegression(max_iter=500), query_strategy=as_modal(strat),
                            X_training=X[init], y_training=y[init])
    idx, _ = learner.query(X, n_instances=1)
    d2 = ((X[:, None, :].astype(np.float64) - X[init][None, :, :]) ** 2).sum(axis=2).min(axis=1)
    assert int(idx[0]) == int(np.argmax(d2))  # the row farthest from every labeled row
