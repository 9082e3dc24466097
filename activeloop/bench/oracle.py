"""A simulated oracle: answers queries with the true labels, through the pool like a person would."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

__all__ = ["SimulatedOracle"]


class SimulatedOracle:
    """Labels pool examples with their known class via ``pool.label(..., source="oracle")``.

    Parameters
    ----------
    pool : Pool
    truth : dict of int to str
        Example id -> true class name.
    annotator : str, default "oracle"

    Attributes
    ----------
    history : list of int
        Example ids in the order they were labeled.
    """

    def __init__(self, pool: Any, truth: dict[int, str], annotator: str = "oracle"):
        self.pool = pool
        self.truth = truth
        self.annotator = annotator
        self.history: list[int] = []

    def label(self, ids: Iterable[int]) -> list[str]:
        """Label ``ids`` in order; returns the class names given."""
        out = []
        for i in ids:
            cls = self.truth[int(i)]
            self.pool.label(int(i), cls, annotator=self.annotator, source="oracle")
            self.history.append(int(i))
            out.append(cls)
        return out

    def labeled_classes(self) -> np.ndarray:
        """Class names of every label given so far, in order."""
        return np.asarray([self.truth[i] for i in self.history], dtype=object)
