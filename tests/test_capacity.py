"""BudgetSizedClassifier: capacity chosen per fit from the training labels, sklearn contract, checkpoints, round config."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_dtype_object, check_estimator_sparse_array, check_fit1d

from activeloop.errors import CheckpointError, NotFittedError
from activeloop.loop import Loop, model_summary
from activeloop.model import BudgetSizedClassifier, FocalLossClassifier, load_checkpoint
from activeloop.model.capacity import n_parameters, one_standard_error_choice
from activeloop.store import Pool


def _linear(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0.5).astype(int)


def _xor(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)
    return X, ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)


def test_one_standard_error_rule_prefers_the_simpler_model_within_noise():
    assert one_standard_error_choice(np.array([[0.82, 0.80, 0.84], [0.83, 0.81, 0.85]])) == 0
    assert one_standard_error_choice(np.array([[0.70, 0.72, 0.68], [0.83, 0.85, 0.81]])) == 1
    assert one_standard_error_choice(np.array([[0.5, 0.5], [0.5, 0.5]])) == 0  # exact tie: the simpler


def test_equal_cv_scores_go_to_the_simpler_candidate():
    X, y = _linear(40)
    same = FocalLossClassifier(hidden=(), max_epochs=20)
    m = BudgetSizedClassifier(candidates=(same, clone(same)), random_state=0).fit(X, y)
    np.testing.assert_array_equal(m.cv_scores_[0], m.cv_scores_[1])
    assert m.choice_ == 0 and m.capacity_["folds"] == 3


def test_the_choice_follows_the_one_standard_error_rule_on_its_own_cv_scores():
    X, y = _linear(60, seed=4)
    m = BudgetSizedClassifier(random_state=0).fit(X, y)
    assert m.cv_scores_.shape == (2, 3)
    assert m.hidden_ == ((), (64,))[one_standard_error_choice(m.cv_scores_)]


def test_an_xor_pool_with_many_labels_chooses_the_mlp():
    X, y = _xor(400)
    m = BudgetSizedClassifier(random_state=0).fit(X, y)
    assert m.hidden_ == (64,)
    assert m.capacity_["cv_macro_f1"]["mlp(64)"] > m.capacity_["cv_macro_f1"]["linear(gamma=0)"]
    assert (m.predict(X) == y).mean() > 0.9


def test_too_few_rows_for_cv_take_the_simplest_without_cv():
    X, y = _linear(5)
    y[:2] = [0, 1]
    m = BudgetSizedClassifier(random_state=0).fit(X, y)
    assert m.hidden_ == () and m.cv_scores_ is None and m.capacity_["folds"] == 0


def test_parameter_counts_are_weights_and_biases():
    assert n_parameters(FocalLossClassifier(hidden=()), 4, 3) == 5 * 3
    assert n_parameters(FocalLossClassifier(hidden=(64,)), 4, 3) == 5 * 64 + 65 * 3
    assert n_parameters(FocalLossClassifier(hidden=(8, 2)), 4, 2) == 5 * 8 + 9 * 2 + 3 * 2


def test_below_the_linear_models_parameter_count_the_mlp_is_not_tried():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 20)).astype(np.float32)  # linear model: 21 * 2 = 42 parameters > 30 labels
    y = (X[:, 0] > 0).astype(int)
    m = BudgetSizedClassifier(floor="parameters", random_state=0).fit(X, y)
    assert m.capacity_["tried"] == ["linear(gamma=0)"] and m.cv_scores_ is None and m.hidden_ == ()
    both = BudgetSizedClassifier(floor=None, random_state=0).fit(X, y)
    assert both.capacity_["tried"] == ["linear(gamma=0)", "mlp(64)"] and both.cv_scores_.shape == (2, 3)
    more = BudgetSizedClassifier(floor="parameters", random_state=0).fit(np.vstack([X, X[:12] + 0.01]), np.concatenate([y, y[:12]]))
    assert more.capacity_["tried"] == ["linear(gamma=0)", "mlp(64)"]  # 42 labels reach the floor


def test_the_class_floor_waits_until_the_rarest_class_has_the_linear_models_weights_per_class():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 4)).astype(np.float32)  # linear model: 5 weights per class, 10 in all
    y = np.zeros(64, dtype=int)
    y[:4] = 1  # 4 rare labels: fewer than the rare class's 5 weights
    X[:5, 0] += 3.0
    rare4 = BudgetSizedClassifier(floor="class_parameters", random_state=0).fit(X, y)
    assert rare4.capacity_["tried"] == ["linear(gamma=0)"] and rare4.cv_scores_ is None
    assert BudgetSizedClassifier(floor="parameters", random_state=0).fit(X, y).capacity_["tried"] == [
        "linear(gamma=0)", "mlp(64)"]  # 64 labels pass the total count's floor of 10
    y[4] = 1  # a fifth rare label reaches it
    rare5 = BudgetSizedClassifier(floor="class_parameters", random_state=0).fit(X, y)
    assert rare5.capacity_["tried"] == ["linear(gamma=0)", "mlp(64)"] and rare5.cv_scores_.shape == (2, 3)


def test_the_default_linear_candidate_is_solved_by_lbfgs():
    lin = BudgetSizedClassifier(random_state=0)._candidate(0)
    assert lin.solver == "lbfgs" and lin.hidden == () and lin.gamma == 0.0 and lin.C == 1.0


def test_clone_is_unfitted_with_equal_params_and_predict_before_fit_fails():
    m = BudgetSizedClassifier(cv=4, random_state=3)
    c = clone(m)
    assert c.get_params() == m.get_params()
    with pytest.raises(NotFittedError):
        c.predict(np.zeros((1, 4)))


def test_given_candidates_are_used_and_left_untouched():
    tpl = FocalLossClassifier(hidden=(), gamma=1.0, max_epochs=30)
    X, y = _linear(60)
    m = BudgetSizedClassifier(candidates=(tpl,), random_state=0).fit(X, y)
    assert m.estimator_.gamma == 1.0 and m.estimator_.max_epochs == 30 and m.choice_ == 0
    assert m.cv_scores_ is None  # one candidate: nothing to choose
    assert not hasattr(tpl, "net_")


def test_checkpoint_round_trip_keeps_predictions_and_the_choice():
    X, y = _linear(60)
    m = BudgetSizedClassifier(random_state=0).fit(X, y)
    data = m.to_checkpoint()
    back = load_checkpoint(data)
    assert isinstance(back, BudgetSizedClassifier)
    np.testing.assert_allclose(back.predict_proba(X), m.predict_proba(X))
    assert back.capacity_ == m.capacity_ and back.hidden_ == m.hidden_
    assert back.get_params()["floor"] == "class_parameters"
    assert back.estimator_.get_params() == m.estimator_.get_params()
    np.testing.assert_array_equal(back.classes_, m.classes_)
    assert isinstance(load_checkpoint(m.estimator_.to_checkpoint()), FocalLossClassifier)
    with pytest.raises(CheckpointError, match="corrupt"):
        BudgetSizedClassifier.from_checkpoint(data[:-10] + b"0123456789")


def test_a_loop_round_records_the_capacity_choice_and_restores_the_model(tmp_path):
    X, y = _linear(120, seed=2)
    pool = Pool.create(tmp_path / "p.db", "p", ["a", "b"])
    ids = pool.add(X[:100])
    pool.add(X[100:], labels=[["a", "b"][c] for c in y[100:]], split="eval")
    for i in range(30):
        pool.label(int(ids[i]), ["a", "b"][y[i]])
    loop = Loop(pool, BudgetSizedClassifier(random_state=0))
    rnd = loop.retrain()
    assert rnd.config["model"] == "BudgetSizedClassifier"
    assert rnd.config["capacity"]["chosen"] in ("linear(gamma=0)", "mlp(64)")
    assert rnd.config["capacity"]["rule"] == "one-standard-error"
    assert model_summary(rnd.config).startswith(f"BudgetSizedClassifier: {rnd.config['capacity']['chosen']} (3-fold CV ")
    assert model_summary({"model": "LogisticRegression", "params": {}}) == "LogisticRegression"
    again = Loop(pool)  # restored from the round's checkpoint
    assert isinstance(again.model_, BudgetSizedClassifier)
    np.testing.assert_allclose(again.model_.predict_proba(X[:5]), loop.model_.predict_proba(X[:5]))
    pool.close()


@pytest.mark.parametrize("check", [check_fit1d, check_estimator_sparse_array, check_dtype_object])
def test_bad_training_input_gets_scikit_learns_clear_error(check):
    # 1-D X used to end in IndexError, sparse X in a numpy error, object labels in no "Unknown label type".
    check("BudgetSizedClassifier", BudgetSizedClassifier(random_state=0))


@pytest.mark.parametrize("data", ["not bytes", None, 7])
def test_a_checkpoint_that_is_not_bytes_is_a_checkpoint_error(data):
    with pytest.raises(CheckpointError, match="must be bytes"):
        load_checkpoint(data)
    with pytest.raises(CheckpointError, match="must be bytes"):
        BudgetSizedClassifier.from_checkpoint(data)


def test_a_numpy_integer_seed_survives_the_checkpoint():
    X, y = _linear(40)
    m = BudgetSizedClassifier(random_state=np.int64(5)).fit(X, y)
    back = load_checkpoint(m.to_checkpoint())
    assert back.random_state == 5  # was None: the restored template refitted unseeded
    assert clone(back).get_params()["random_state"] == 5


def test_candidates_alike_in_name_are_told_apart_in_the_record():
    # Two linear candidates differing only in solver: both were "linear", and the CV means collapsed into one entry.
    cands = (FocalLossClassifier(hidden=(), solver="lbfgs", max_epochs=50),
             FocalLossClassifier(hidden=(), solver="adam", max_epochs=20))
    X, y = _linear(90)
    m = BudgetSizedClassifier(candidates=cands, floor=None, random_state=0).fit(X, y)
    assert m.capacity_["tried"] == ["linear#0", "linear#1"]
    assert list(m.capacity_["cv_macro_f1"]) == ["linear#0", "linear#1"]
    assert m.capacity_["chosen"] == f"linear#{m.choice_}"
    assert m.estimator_.solver == cands[m.choice_].solver
