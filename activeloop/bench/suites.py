"""Named benchmark suites: imbalanced tasks made only from data shipped with scikit-learn or generated.

``activeloop bench --suite imbalanced`` runs every task of :data:`SUITES` ``["imbalanced"]``; each
task is a data set (cut to a rare class with a fixed seed, so every run sees the same rows) and
the label budget that suits its pool size. They vary what the issue asks the default to be robust
to: which class is rare, one or two rare classes, image-like vs tabular features, the number of
classes, class separation, dimension and minority share (1-5 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from activeloop.bench.datasets import Dataset, load_dataset
from activeloop.errors import ActiveloopError

__all__ = ["Task", "SUITES", "suite_tasks", "cut_to_share"]

_CUT_SEED = 0


@dataclass(frozen=True)
class Task:
    """One suite task: a name, how to build its data set, and its label budget."""

    name: str
    build: Callable[[], Dataset]
    budget: int

    def dataset(self) -> Dataset:
        """The data set, named after the task."""
        ds = self.build()
        return Dataset(self.name, ds.X, ds.y, ds.classes, ds.minority, ds.info)


def cut_to_share(X: np.ndarray, y: np.ndarray, rare: list[int], share: float, seed: int = _CUT_SEED):
    """Keep every row of the other classes and ``share`` of the total for each class in ``rare``."""
    rng = np.random.default_rng(seed)
    others = np.flatnonzero(~np.isin(y, rare))
    keep = [others]
    n_each = int(round(share * len(others) / (1 - share * len(rare))))
    for c in rare:
        rows = np.flatnonzero(y == c)
        keep.append(rng.choice(rows, min(max(n_each, 2), len(rows)), replace=False))
    idx = np.sort(np.concatenate(keep))
    return X[idx].astype(np.float32), y[idx].astype(np.int64)


def _sklearn_cut(loader: str, rare: list[int], share: float, names: list[str] | None = None) -> Callable[[], Dataset]:
    def build() -> Dataset:
        import sklearn.datasets

        X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
        X, y = cut_to_share(X, y, rare, share)
        classes = names or [str(c) for c in range(int(y.max()) + 1)]
        return Dataset(loader, X, y, classes, rare[0], {"loader": loader, "rare": rare, "share": share})

    return build


def _spec(spec: str) -> Callable[[], Dataset]:
    return lambda: load_dataset(spec)


#: Suites by name; each task's minority (the tracked class) is its first rare class.
SUITES: dict[str, list[Task]] = {
    "imbalanced": [
        Task("digits-8-3pc", _spec("digits-imbalanced:minority=8,share=0.03"), 150),
        Task("digits-3-2pc", _spec("digits-imbalanced:minority=3,share=0.02"), 150),
        Task("digits-5-5pc", _spec("digits-imbalanced:minority=5,share=0.05"), 150),
        Task("digits-1+7-3pc", _sklearn_cut("load_digits", [1, 7], 0.03), 150),
        Task("wine-0-8pc", _sklearn_cut("load_wine", [0], 0.08), 60),
        Task("cancer-malignant-4pc", _sklearn_cut("load_breast_cancer", [0], 0.04, ["malignant", "benign"]), 100),
        Task("synth-2c-2pc", _spec("synthetic:n=2000,classes=2,weights=0.98,class_sep=1.0,features=20,seed=1"), 150),
        Task("synth-3c-5pc-overlap",
             _spec("synthetic:n=2000,classes=3,weights=0.75/0.2/0.05,class_sep=0.7,features=10,seed=2"), 150),
        Task("synth-5c-1pc",
             _spec("synthetic:n=3000,classes=5,weights=0.3/0.3/0.2/0.19/0.01,class_sep=1.5,features=30,seed=3"), 150),
        Task("synth-2c-3pc-100d",
             _spec("synthetic:n=2000,classes=2,weights=0.97,class_sep=1.2,features=100,informative=10,seed=4"), 150),
    ],
}


def suite_tasks(name: str) -> list[Task]:
    """The tasks of a named suite; :class:`ActiveloopError` for an unknown name."""
    if name not in SUITES:
        raise ActiveloopError(f"unknown suite {name!r}; choose one of {', '.join(SUITES)}")
    return list(SUITES[name])
