"""Focal loss, class-balanced weights, the sklearn-compatible torch classifier and its metrics."""

from activeloop.model.classifier import FocalLossClassifier
from activeloop.model.focal import class_alpha, focal_loss
from activeloop.model.metrics import evaluate

__all__ = ["FocalLossClassifier", "class_alpha", "evaluate", "focal_loss"]
