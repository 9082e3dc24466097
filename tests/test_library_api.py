"""The library API without traps: scikit-learn's meta-estimator convention, class names, one seed default."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError as SkNotFittedError
from sklearn.linear_model import LogisticRegression

import activeloop as al
from activeloop import errors
from activeloop.defaults import RANDOM_STATE
from activeloop.errors import StrategyError
from activeloop.loop import Loop, default_model
from activeloop.query import QueryEngine
from activeloop.store import Pool

CLASSES = ["ok", "fraud", "spam"]


@pytest.fixture
def pool(tmp_path):
    """Three Gaussian classes in 4-D; 30 pool labels (10 each), 15 labeled eval examples, 60 unlabeled."""
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 0, 0], [5, 0, 0, 0], [0, 5, 0, 0]], dtype=float)
    y = np.repeat([0, 1, 2], 35)
    X = (centers[y] + rng.normal(size=(len(y), 4))).astype(np.float32)
    with Pool.create(tmp_path / "p.db", "p", CLASSES) as p:
        labels = [CLASSES[c] if i % 35 < 10 else None for i, c in enumerate(y)]
        p.add(X, labels=labels)
        ev = np.repeat([0, 1, 2], 5)
        p.add((centers[ev] + rng.normal(size=(15, 4))).astype(np.float32), labels=[CLASSES[c] for c in ev], split="eval")
        yield p


@pytest.mark.parametrize("make", [lambda: LogisticRegression(max_iter=500), lambda: al.FocalLossClassifier(max_epochs=20)])
def test_the_model_given_stays_as_given_and_the_fitted_copy_is_model_(pool, make):
    given = make()
    loop = Loop(pool, given)
    with pytest.raises(SkNotFittedError):
        loop.model_  # noqa: B018  # scikit-learn's convention: no trailing-underscore state before a fit
    loop.retrain()
    assert loop.model is given and not hasattr(given, "classes_")
    assert loop.model_ is not given and loop.engine.model is loop.model_
    assert loop.model_.get_params() == given.get_params()


@pytest.mark.parametrize("make", [lambda: LogisticRegression(max_iter=500), lambda: al.FocalLossClassifier(max_epochs=20)])
def test_models_trained_by_the_loop_predict_the_projects_class_names(pool, make):
    loop = Loop(pool, make())
    loop.retrain()
    assert sorted(loop.model_.classes_.tolist()) == sorted(CLASSES)
    _, X, y = pool.labeled_xy("eval")
    predicted = loop.model_.predict(X)
    assert set(predicted.tolist()) <= set(CLASSES)
    assert np.mean(predicted == np.asarray(CLASSES)[y]) > 0.8  # names, and the right ones


def test_assigning_the_engines_strategy_takes_effect(pool):
    loop = Loop(pool, LogisticRegression(max_iter=500), strategy="margin")
    loop.retrain()
    first = loop.query(3, annotator="ana")
    assert {q.strategy for q in first} == {"margin"}
    loop.engine.strategy = "entropy"
    assert loop.engine.strategy == "entropy" and repr(loop.engine.strategy_) == "entropy"
    assert {q.strategy for q in loop.query(3, annotator="ana")} == {"entropy"}
    loop.engine.diversity = "coreset"
    assert repr(loop.engine.strategy_).startswith("diverse(entropy, method='coreset'")


def test_assigning_an_unknown_strategy_raises_and_keeps_the_old_one(pool):
    engine = QueryEngine(LogisticRegression(), strategy="margin")
    with pytest.raises(StrategyError, match="unknown strategy 'nope'"):
        engine.strategy = "nope"
    assert engine.strategy == "margin" and repr(engine.strategy_) == "margin"


def test_one_seeding_default_across_loop_engine_and_model():
    defaults = {
        "Loop": inspect.signature(Loop).parameters["random_state"].default,
        "QueryEngine": inspect.signature(QueryEngine).parameters["random_state"].default,
        "FocalLossClassifier": al.FocalLossClassifier().get_params()["random_state"],
        "default_model": default_model().random_state,
    }
    assert defaults == dict.fromkeys(defaults, RANDOM_STATE)


def test_every_activeloop_exception_is_exported_from_activeloop():
    ours = [obj for obj in vars(errors).values()
            if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == "activeloop.errors"]
    assert len(ours) >= 10
    for cls in ours:
        assert getattr(al, cls.__name__) is cls, cls.__name__
        assert cls.__name__ in al.__all__


def test_every_public_name_is_visible_to_type_checkers():
    """``activeloop`` loads its names lazily; its ``if TYPE_CHECKING:`` imports are what mypy and IDEs see."""
    import ast

    tree = ast.parse(Path(al.__file__).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING")
    seen = {alias.asname or alias.name for node in ast.walk(block) if isinstance(node, ast.ImportFrom)
            for alias in node.names}
    assert set(al.__all__) - seen == set()


def test_the_not_fitted_error_is_scikit_learns():
    assert al.NotFittedError is SkNotFittedError
    assert errors.NotFittedError is SkNotFittedError
    with pytest.raises(SkNotFittedError):
        al.FocalLossClassifier().predict(np.zeros((2, 3)))


def test_metrics_of_any_labels_and_the_loops_eval_split_metrics_have_different_names(pool):
    proba = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    direct = al.classification_metrics([0, 1, 2], proba, CLASSES)
    assert direct["macro_f1"] == 1.0
    with pytest.warns(FutureWarning, match="activeloop.evaluate is now activeloop.classification_metrics"):
        assert al.evaluate is al.classification_metrics
    loop = Loop(pool, LogisticRegression(max_iter=500))
    loop.retrain()
    on_eval = loop.evaluate()
    assert on_eval["n_eval"] == 15 and "macro_f1" in on_eval
    assert "evaluate" not in al.__all__ and "classification_metrics" in al.__all__
