"""The model-output adapter: a fitted classifier's probabilities as one column per pool class."""

from __future__ import annotations

from typing import Any

import numpy as np

from activeloop.errors import ActiveloopError

__all__ = ["class_columns", "is_fitted", "proba_by_class"]


def is_fitted(estimator: Any) -> bool:
    """Whether sklearn's ``check_is_fitted`` passes; an object that is not an sklearn estimator counts as fitted."""
    from sklearn.exceptions import NotFittedError as SkNotFitted  # here: a query from stored scores never needs it
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
    except SkNotFitted:
        return False
    except TypeError:  # not an sklearn estimator: assume it knows what it is doing
        return True
    return True


def proba_by_class(model: Any, X: np.ndarray, classes: list[str]) -> np.ndarray:
    """``model.predict_proba(X)`` with one column per pool class (zeros for classes the model lacks)."""
    p = np.asarray(model.predict_proba(X), dtype=np.float64)
    cols = class_columns(model, classes)
    if p.shape[1] != len(cols):
        raise ActiveloopError(f"model gave {p.shape[1]} probability columns for {len(cols)} classes_")
    if len(cols) == len(classes) and np.array_equal(cols, np.arange(len(classes))):
        return p
    full = np.zeros((len(p), len(classes)))
    full[:, cols] = p
    return full


def class_columns(model: Any, classes: list[str]) -> np.ndarray:
    """Pool class index of each model probability column (model ``classes_`` are indices or names)."""
    mc = np.asarray(getattr(model, "classes_", np.arange(len(classes))))
    if mc.dtype.kind in "iu":
        if mc.size and (mc.min() < 0 or mc.max() >= len(classes)):
            raise ActiveloopError(f"model classes_ {mc.tolist()} are not indices into the pool's {len(classes)} classes")
        return mc.astype(np.int64)
    index = {c: i for i, c in enumerate(classes)}
    try:
        return np.array([index[str(c)] for c in mc], dtype=np.int64)
    except KeyError as exc:
        raise ActiveloopError(f"model class {exc.args[0]!r} is not one of the pool's classes {classes}") from exc
