"""Imbalance-aware evaluation of predicted probabilities, as plain JSON-ready numbers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

__all__ = ["classification_metrics", "expected_calibration_error"]


def expected_calibration_error(y_true_idx: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> float:
    """Top-label ECE: sum over equal-width confidence bins of |accuracy - confidence| * share."""
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true_idx).astype(np.float64)
    bins = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    n = len(conf)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += abs(correct[m].mean() - conf[m].mean()) * m.sum() / n
    return float(ece)


def classification_metrics(y_true: Sequence[Any] | np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    """Metrics that stay honest on imbalanced data.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True classes, either labels from ``classes`` or integer indices into it. Integers
        are read as labels when every one of them is in ``classes``, else as indices.
    proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, columns in ``classes`` order.
    classes : sequence of length n_classes
        Class names (or labels).

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``balanced_accuracy``, ``macro_f1`` (over the classes in ``y_true``
        or predicted: a class with neither has no F1 to average, so it is left out; one that is
        only predicted counts as 0),
        ``per_class`` ``{name: {precision, recall, f1, support}}``, ``minority`` (names of
        classes whose prevalence in ``y_true`` is below half of 1/C, at least the rarest
        present one), ``pr_auc`` ``{minority name: average precision}`` (only classes
        present in ``y_true``), ``minority_recall`` (recall of the rarest present class),
        ``ece`` (10-bin expected calibration error) and ``confusion`` (rows true, columns
        predicted, ``classes`` order). Every value is a plain python int/float/str/list/dict.
    """
    classes = list(classes)
    names = [str(c) for c in classes]
    c = len(classes)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != c:
        raise ValueError(f"proba must have shape (n_samples, {c}), got {proba.shape}")
    y_idx = _to_indices(y_true, classes)
    if len(y_idx) != len(proba):
        raise ValueError(f"y_true has {len(y_idx)} rows but proba has {len(proba)}")
    n = len(y_idx)
    if n == 0:
        raise ValueError("classification_metrics needs at least one example")
    labels = np.arange(c)
    pred = proba.argmax(axis=1)
    support = np.bincount(y_idx, minlength=c)
    prec, rec, f1, _ = precision_recall_fscore_support(y_idx, pred, labels=labels, zero_division=0)
    present = np.flatnonzero(support > 0)
    prevalence = support / n
    minority = [int(i) for i in present if prevalence[i] < 0.5 / c]
    rarest = int(present[np.argmin(support[present])])
    if rarest not in minority:
        minority.append(rarest)
    minority.sort(key=lambda i: (support[i], i))
    pr_auc = {
        names[i]: float(average_precision_score(y_idx == i, proba[:, i])) for i in minority
    }
    return {
        "n": int(n),
        "accuracy": float(accuracy_score(y_idx, pred)),
        "balanced_accuracy": float(_balanced_accuracy(y_idx, pred)),
        "macro_f1": float(np.mean(f1[np.union1d(present, pred)])),
        "per_class": {
            names[i]: {
                "precision": float(prec[i]),
                "recall": float(rec[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i in range(c)
        },
        "minority": [names[i] for i in minority],
        "pr_auc": pr_auc,
        "minority_recall": float(rec[rarest]),
        "ece": expected_calibration_error(y_idx, proba),
        "confusion": confusion_matrix(y_idx, pred, labels=labels).tolist(),
    }


def _balanced_accuracy(y_idx: np.ndarray, pred: np.ndarray) -> float:
    """sklearn's balanced accuracy over the classes present in y_true, without its warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return balanced_accuracy_score(y_idx, pred)


def _to_indices(y_true: Any, classes: list[Any]) -> np.ndarray:
    """Map labels (or pass through indices) to int64 indices into ``classes``."""
    y = np.asarray(y_true)
    lookup = {c: i for i, c in enumerate(classes)}
    lookup.update({str(c): i for i, c in enumerate(classes)})
    items = y.tolist()
    if all(v in lookup for v in items):
        return np.asarray([lookup[v] for v in items], dtype=np.int64)
    if np.issubdtype(y.dtype, np.integer) and (y.size == 0 or (y.min() >= 0 and y.max() < len(classes))):
        return y.astype(np.int64)
    unknown = sorted({repr(v) for v in items if v not in lookup})[:5]
    raise ValueError(f"y_true holds values that are neither classes nor indices: {', '.join(unknown)}")
