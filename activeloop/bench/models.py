"""The benchmark's models: factories for a run's estimator, the peers' estimator, test metrics, the full-pool ceiling."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from activeloop.errors import ActiveloopError
from activeloop.model.adapter import proba_by_class

__all__ = ["MODEL_NAMES", "ceiling_score", "logreg_balanced", "make_model", "model_name", "pick_metrics", "test_metrics"]

#: The models a run can name (``--model``); an estimator can be passed instead.
MODEL_NAMES = ("default", "focal", "logreg")


def make_model(model: Any, seed: int) -> Any:
    """A fresh model for one run.

    ``None`` / ``"default"`` is the model a :class:`~activeloop.loop.Loop` builds by default;
    ``"focal"`` is the default :class:`~activeloop.model.FocalLossClassifier` (warm-started);
    ``"logreg"`` is ``LogisticRegression(class_weight="balanced")`` on standardised features; an
    estimator is cloned, with ``random_state=seed`` when it has that parameter.
    """
    from sklearn.base import clone

    if model is None or (isinstance(model, str) and model == "default"):
        return _default_model(seed)
    if isinstance(model, str):
        if model == "focal":
            from activeloop.model import FocalLossClassifier

            return FocalLossClassifier(warm_start=True, random_state=seed)
        if model == "logreg":
            return logreg_balanced()
        raise ActiveloopError(f"unknown model {model!r}; choose {', '.join(MODEL_NAMES)} (or pass an estimator)")
    est = clone(model)
    params = est.get_params()
    seeded = {k: seed for k in params if k == "random_state" or k.endswith("__random_state")}
    return est.set_params(**seeded) if seeded else est


def _default_model(seed: int) -> Any:
    from activeloop.loop import default_model  # the Loop's own choice

    return default_model(random_state=seed)


def logreg_balanced() -> Any:
    """``LogisticRegression(class_weight="balanced")`` after a StandardScaler: the peers' estimator."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))


def model_name(model: Any) -> str:
    """Short name of a model spec for tables."""
    if model is None:
        return "default"
    if isinstance(model, str):
        return model
    return type(model).__name__


def test_metrics(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str], minority: int) -> dict[str, float]:
    """The curve metrics from :func:`activeloop.model.classification_metrics` (minority = the tracked class)."""
    from activeloop.model import classification_metrics

    return pick_metrics(classification_metrics(y_true, proba, list(classes)), classes[minority])


def pick_metrics(ev: dict[str, Any], minority_name: str) -> dict[str, float]:
    """The curve metrics out of an :func:`activeloop.model.classification_metrics` result, for the class ``minority_name``."""
    pc = ev.get("per_class", {}).get(minority_name, {})
    pr = ev.get("pr_auc", {})
    return {
        "macro_f1": float(ev["macro_f1"]),
        "balanced_accuracy": float(ev["balanced_accuracy"]),
        "minority_recall": float(pc.get("recall", ev.get("minority_recall", np.nan))),
        "minority_pr_auc": float(pr.get(minority_name, np.nan)),
        "accuracy": float(ev.get("accuracy", np.nan)),
    }


def ceiling_score(X_pool, y_pool, X_test, y_test, classes: Sequence[str], minority: int, model: Any, seed: int) -> float:
    """Macro-F1 on the test set of ``model`` (fresh) trained on every pool example."""
    m = make_model(model, seed)
    m.fit(np.asarray(X_pool, np.float32), np.asarray(y_pool))
    return test_metrics(y_test, proba_by_class(m, np.asarray(X_test, np.float32), list(classes)), classes, minority)["macro_f1"]

