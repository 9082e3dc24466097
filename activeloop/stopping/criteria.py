"""Stopping criteria: small objects that read one round at a time and say whether more labels still buy anything.

Each criterion takes its window and threshold in the constructor, keeps its history in plain
attributes, and answers ``stop(snapshot) -> bool``. ``value`` is the number it compares with its
threshold (``None`` until it has one) and ``explain()`` says, in a few words, why it stops or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "AllOf",
    "AnyOf",
    "Criterion",
    "KappaStability",
    "LabelBudget",
    "MinorityPlateau",
    "OverallUncertainty",
    "PredictionChange",
    "Snapshot",
    "kappa",
    "normalized_entropy",
]


@dataclass(frozen=True)
class Snapshot:
    """What one round tells the criteria; every field is storable in the round's metrics.

    Attributes
    ----------
    round : int
        The round's number.
    n_labels : int
        Pool-split labels the round was trained on.
    predictions : ndarray of shape (n_stop,) or None
        Predicted class indices on the stop set (a fixed sample of the pool).
    uncertainty : float or None
        Mean normalised entropy of the predicted probabilities on the stop set, in [0, 1].
    minority_found : int or None
        Pool-split labels of a minority class so far.
    stop_set : str
        Names the stop set; predictions on different stop sets are never compared.
    """

    round: int
    n_labels: int
    predictions: np.ndarray | None = None
    uncertainty: float | None = None
    minority_found: int | None = None
    stop_set: str = ""

    @classmethod
    def from_proba(
        cls, proba: np.ndarray, *, round: int, n_labels: int, minority_found: int | None = None, stop_set: str = ""
    ) -> Snapshot:
        """A snapshot from the stop set's predicted probabilities, shape (n_stop, n_classes)."""
        proba = np.asarray(proba, dtype=np.float64)
        return cls(
            round=round,
            n_labels=n_labels,
            predictions=proba.argmax(axis=1),
            uncertainty=float(normalized_entropy(proba).mean()) if len(proba) else None,
            minority_found=minority_found,
            stop_set=stop_set,
        )


def normalized_entropy(proba: np.ndarray) -> np.ndarray:
    """Entropy of each row divided by log(n_classes): 0 for a sure prediction, 1 for a uniform one."""
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1) / np.log(p.shape[1])


def kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's κ between two rounds' predictions; identical predictions agree fully (κ = 1).

    ``(p_o - p_e) / (1 - p_e)`` from the two label counts, equal to scikit-learn's
    ``cohen_kappa_score`` (``tests/test_stopping.py`` checks it against it); computed here so that a
    verdict (``activeloop status``, the labeling app's first screen) does not import scikit-learn.
    """
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if np.array_equal(a, b):
        return 1.0  # also covers one constant class on both sides, where κ is 0/0
    _, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    ca, cb = codes[: len(a)], codes[len(a) :]
    k = int(codes.max()) + 1
    observed = float(np.mean(ca == cb))
    expected = float(np.bincount(ca, minlength=k) @ np.bincount(cb, minlength=k)) / (len(a) * len(b))
    return 0.0 if expected >= 1.0 else (observed - expected) / (1.0 - expected)


def _shown(value: float, threshold: float, decimals: int, *, percent: bool = False) -> str:
    """``value`` with ``decimals`` decimals, or more where fewer would put it on the other side of ``threshold``.

    A verdict must not print "κ 1.00 (needs 0.999)" for a κ of 0.998 that does not stop.
    """
    scale = 100.0 if percent else 1.0
    side = np.sign(value - threshold)
    d = decimals
    while d < 9 and np.sign(round(value * scale, d) / scale - threshold) != side:
        d += 1
    return f"{value * scale:.{d}f}" + ("%" if percent else "")


class Criterion:
    """Base: ``stop`` feeds one snapshot to ``update`` and returns ``met``; ``fresh`` is an unfed copy."""

    name = "criterion"
    _params: tuple[str, ...] = ()

    def stop(self, snapshot: Snapshot) -> bool:
        self.update(snapshot)
        return self.met

    def update(self, snapshot: Snapshot) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def value(self) -> float | None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def met(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def explain(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def values(self) -> dict[str, float | None]:
        """``{name: value}`` of this criterion (and, for combinations, of every part)."""
        return {self.name: self.value}

    def fresh(self) -> Criterion:
        """An unfed criterion with the same parameters."""
        return type(self)(**{k: getattr(self, k) for k in self._params})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._params)
        return f"{type(self).__name__}({args})"


class _StopSetCriterion(Criterion):
    """Compares consecutive rounds' predictions on the same stop set; a new stop set starts over."""

    def __init__(self) -> None:
        self.last_predictions: np.ndarray | None = None
        self.last_stop_set: str | None = None
        self.history: list[float] = []

    def update(self, snapshot: Snapshot) -> None:
        pred = snapshot.predictions
        if pred is None:
            return
        pred = np.asarray(pred)
        same_set = (
            self.last_predictions is not None
            and snapshot.stop_set == self.last_stop_set
            and len(pred) == len(self.last_predictions)
        )
        if same_set:
            self.history.append(self._compare(self.last_predictions, pred))
        elif self.last_predictions is not None:
            self.history = []
        self.last_predictions, self.last_stop_set = pred, snapshot.stop_set

    def _compare(self, before: np.ndarray, after: np.ndarray) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _window(self) -> list[float]:
        return self.history[-self.window:]


class KappaStability(_StopSetCriterion):
    """Stop once Cohen's κ between consecutive rounds on the stop set averages ``threshold`` over ``window`` rounds.

    Bloodgood & Vijay-Shanker (2009), "A method for stopping active learning based on stabilizing
    predictions and the need for user-adjustable stopping". ``history`` holds one κ per pair of
    consecutive rounds.
    """

    name = "kappa"
    _params = ("window", "threshold")

    def __init__(self, *, window: int = 3, threshold: float = 0.99):
        super().__init__()
        self.window = window
        self.threshold = threshold

    def _compare(self, before: np.ndarray, after: np.ndarray) -> float:
        return kappa(before, after)

    @property
    def value(self) -> float | None:
        w = self._window()
        return float(np.mean(w)) if w else None

    @property
    def met(self) -> bool:
        return len(self.history) >= self.window and self.value >= self.threshold

    def explain(self) -> str:
        v = self.value
        if v is None:
            return "κ needs 2 rounds on the stop set"
        if self.met:
            return f"predictions stable (κ {_shown(v, self.threshold, 3)} over {self.window} rounds)"
        n = len(self._window())
        over = f"over the last {n} round{'s' if n != 1 else ''}"
        needs = f"needs {self.threshold:g}" + (f" over {self.window}" if n < self.window else "")
        return f"κ {_shown(v, self.threshold, 2)} {over} ({needs})"


class PredictionChange(_StopSetCriterion):
    """Stop once at most ``threshold`` of the stop set changed its predicted class in each of the last ``window`` rounds.

    The classification-change criterion of Zhu, Wang & Hovy (2008), with a tolerance. ``history``
    holds the changed share per pair of consecutive rounds.
    """

    name = "change"
    _params = ("window", "threshold")

    def __init__(self, *, window: int = 2, threshold: float = 0.01):
        super().__init__()
        self.window = window
        self.threshold = threshold

    def _compare(self, before: np.ndarray, after: np.ndarray) -> float:
        return float(np.mean(before != after)) if len(after) else 0.0

    @property
    def value(self) -> float | None:
        w = self._window()
        return float(max(w)) if w else None

    @property
    def met(self) -> bool:
        return len(self.history) >= self.window and self.value <= self.threshold

    def explain(self) -> str:
        v = self.value
        if v is None:
            return "prediction change needs 2 rounds on the stop set"
        if self.met:
            return f"predictions settled (≤ {_shown(v, self.threshold, 1, percent=True)} changed per round)"
        changed = _shown(v, self.threshold, 1, percent=True)
        return f"{changed} of stop-set predictions changed per round (needs ≤ {self.threshold * 100:g}% for {self.window})"


class OverallUncertainty(Criterion):
    """Stop once the mean normalised entropy on the stop set is at most ``threshold`` (Zhu, Wang & Hovy, 2008)."""

    name = "uncertainty"
    _params = ("threshold",)

    def __init__(self, *, threshold: float = 0.05):
        self.threshold = threshold
        self.history: list[float] = []

    def update(self, snapshot: Snapshot) -> None:
        if snapshot.uncertainty is not None:
            self.history.append(float(snapshot.uncertainty))

    @property
    def value(self) -> float | None:
        return self.history[-1] if self.history else None

    @property
    def met(self) -> bool:
        return self.value is not None and self.value <= self.threshold

    def explain(self) -> str:
        v = self.value
        if v is None:
            return "no uncertainty measured yet"
        if self.met:
            return f"model sure of the stop set (uncertainty {_shown(v, self.threshold, 3)})"
        return f"uncertainty {_shown(v, self.threshold, 2)} on the stop set (needs ≤ {self.threshold:g})"


class MinorityPlateau(Criterion):
    """Stop once no new minority example came in the last ``patience`` labels (and ``min_found`` were found).

    Counts at round granularity: a new minority label is dated to the round that first shows it,
    so ``value`` (labels since) never overstates the plateau.
    """

    name = "minority_plateau"
    _params = ("patience", "min_found")

    def __init__(self, *, patience: int = 100, min_found: int = 1):
        self.patience = patience
        self.min_found = min_found
        self.found = 0
        self.n_labels = 0
        self.labels_at_last_new: int | None = None

    def update(self, snapshot: Snapshot) -> None:
        self.n_labels = snapshot.n_labels
        if snapshot.minority_found is None:
            return
        if self.labels_at_last_new is None or snapshot.minority_found > self.found:
            self.labels_at_last_new = snapshot.n_labels
        self.found = snapshot.minority_found

    @property
    def value(self) -> float | None:
        return None if self.labels_at_last_new is None else float(self.n_labels - self.labels_at_last_new)

    @property
    def met(self) -> bool:
        return self.value is not None and self.found >= self.min_found and self.value >= self.patience

    def explain(self) -> str:
        v = self.value
        if v is None:
            return "minority labels not counted yet"
        if self.found < self.min_found:
            return f"{self.found} minority example{'s' if self.found != 1 else ''} found (needs {self.min_found})"
        if self.met:
            return f"no new minority in {v:.0f} labels"
        if v == 0:
            return f"a new minority example in the latest round (needs {self.patience} labels without one)"
        return f"last new minority {v:.0f} labels ago (needs {self.patience})"


class LabelBudget(Criterion):
    """Stop once ``budget`` pool labels are used."""

    name = "budget"
    _params = ("budget",)

    def __init__(self, *, budget: int):
        self.budget = budget
        self.n_labels: int | None = None

    def update(self, snapshot: Snapshot) -> None:
        self.n_labels = snapshot.n_labels

    @property
    def value(self) -> float | None:
        return None if self.n_labels is None else float(self.n_labels)

    @property
    def met(self) -> bool:
        return self.n_labels is not None and self.n_labels >= self.budget

    def explain(self) -> str:
        if self.met:
            return f"label budget of {self.budget} reached"
        return f"{self.n_labels or 0} of {self.budget} labels used"


class _Combination(Criterion):
    """Feeds every part each snapshot (no short-circuit, so every history stays complete)."""

    def __init__(self, *criteria: Criterion):
        if not criteria:
            raise ValueError(f"{type(self).__name__} needs at least one criterion")
        self.criteria = tuple(criteria)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{type(self).__name__.lower()}({', '.join(c.name for c in self.criteria)})"

    def update(self, snapshot: Snapshot) -> None:
        for c in self.criteria:
            c.update(snapshot)

    @property
    def value(self) -> float | None:
        return float(self.met)

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in self.criteria:
            out.update(c.values())
        return out

    def fresh(self) -> Criterion:
        return type(self)(*(c.fresh() for c in self.criteria))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.criteria))})"


class AllOf(_Combination):
    """Stops when every part stops; explains the parts still missing."""

    @property
    def met(self) -> bool:
        return all(c.met for c in self.criteria)

    def explain(self) -> str:
        if self.met:
            return ", ".join(c.explain() for c in self.criteria)
        return "; ".join(c.explain() for c in self.criteria if not c.met)


class AnyOf(_Combination):
    """Stops when any part stops; explains the parts that stop (or, until then, every part)."""

    @property
    def met(self) -> bool:
        return any(c.met for c in self.criteria)

    def explain(self) -> str:
        if self.met:
            return ", ".join(c.explain() for c in self.criteria if c.met)
        return "; ".join(c.explain() for c in self.criteria)
