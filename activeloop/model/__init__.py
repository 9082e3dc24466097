"""Focal loss, class-balanced weights, the sklearn-compatible torch classifier, its metrics, and the model-output adapter."""

from activeloop.model.adapter import class_columns, is_fitted, proba_by_class
from activeloop.model.capacity import BudgetSizedClassifier, load_checkpoint
from activeloop.model.classifier import FocalLossClassifier
from activeloop.model.focal import class_alpha, focal_loss
from activeloop.model.metrics import classification_metrics

__all__ = ["BudgetSizedClassifier", "FocalLossClassifier", "class_alpha", "class_columns", "classification_metrics",
           "focal_loss", "is_fitted", "load_checkpoint", "proba_by_class"]
