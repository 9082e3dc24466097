"""The selector protocol: a strategy that picks its own batch from the candidate matrix with the real model."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Selector"]


@runtime_checkable
class Selector(Protocol):
    """Picks ``n`` candidates itself, given the fitted model and every candidate's features.

    Unlike a :class:`~activeloop.query.strategies.Strategy`, whose scores the engine streams and
    caches chunk by chunk, a selector sees the whole candidate matrix at once (modAL's batch and
    committee functions need that). :func:`~activeloop.query.registry.resolve` returns one for
    modAL-style functions (:class:`~activeloop.query.modal.ModalSelector`) and passes any object
    with this method through as is; the engine calls it once the model is fitted.
    """

    def query(
        self, classifier: Any, X: np.ndarray, n: int, X_training: np.ndarray | None = None, y_training: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(positions into X, scores)`` of at most ``n`` unique rows, best first."""
        ...
