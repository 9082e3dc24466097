"""Focal loss, class weights, the torch classifiers and their checkpoints, metrics, and the model-output adapter.

Names load on first use: ``activeloop.model.adapter`` (which a query needs) must not pull in torch
(``classifier``, ``focal``) or scikit-learn's metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from activeloop.lazy import lazy_exports

_EXPORTS = {
    "BudgetSizedClassifier": "activeloop.model.capacity",
    "load_checkpoint": "activeloop.model.capacity",
    "FocalLossClassifier": "activeloop.model.classifier",
    "class_alpha": "activeloop.model.focal",
    "focal_loss": "activeloop.model.focal",
    "classification_metrics": "activeloop.model.metrics",
    "class_columns": "activeloop.model.adapter",
    "is_fitted": "activeloop.model.adapter",
    "proba_by_class": "activeloop.model.adapter",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from activeloop.model.adapter import class_columns, is_fitted, proba_by_class  # noqa: F401
    from activeloop.model.capacity import BudgetSizedClassifier, load_checkpoint  # noqa: F401
    from activeloop.model.classifier import FocalLossClassifier  # noqa: F401
    from activeloop.model.focal import class_alpha, focal_loss  # noqa: F401
    from activeloop.model.metrics import classification_metrics  # noqa: F401

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
