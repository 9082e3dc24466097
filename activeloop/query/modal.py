"""modAL -> activeloop: modAL query functions as activeloop strategies.

:func:`from_modal` turns a modAL strategy function into an activeloop strategy. The
``modAL.uncertainty`` functions become streamed, cached scorers (modAL's own measure is called on
each chunk through a stand-in classifier that returns the probabilities the engine already has,
so the model runs once per chunk). Any other function ``(classifier, X, n_instances)`` — committee
disagreement, ranked batch mode, your own — becomes a :class:`ModalSelector`, a
:class:`~activeloop.query.selector.Selector` that the engine calls on the full candidate matrix with
the real model. The other direction, :func:`~activeloop.query.to_modal.as_modal`, lives above the registry.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

import numpy as np

from activeloop.errors import StrategyError
from activeloop.extras import require_modal
from activeloop.query.strategies import Context, Strategy, top_n

__all__ = ["from_modal", "modal_function", "ModalMeasure", "ModalSelector", "MODAL_MODULES"]

#: The modAL modules whose query functions ``modal:NAME`` can name, searched in this order.
MODAL_MODULES = ("uncertainty", "disagreement", "batch", "density", "expected_error")


class _FixedProba:
    """A stand-in classifier whose predict_proba returns probabilities computed already."""

    def __init__(self, proba: np.ndarray):
        self._proba = proba
        self.classes_ = np.arange(proba.shape[1])

    def predict_proba(self, X: Any, **kwargs: Any) -> np.ndarray:
        return self._proba

    def fit(self, *a: Any, **k: Any) -> "_FixedProba":  # pragma: no cover - sklearn duck typing
        return self


class ModalMeasure(Strategy):
    """A modAL uncertainty measure (``classifier_margin`` ...) run on each chunk's probabilities.

    ``sign`` turns modAL's direction into ours (``-1`` for the margin, where smaller = ask first;
    ``1 - margin`` is stored so scores stay in ``[0, 1]``).
    """

    def __init__(self, name: str, measure_fn: Callable, sign: int):
        self.name = name
        self.measure_fn = measure_fn
        self.sign = sign
        self.measure = measure_fn.__name__.replace("classifier_", "")

    def score(self, proba: np.ndarray, ctx: Context) -> np.ndarray:
        dummy = ctx.features if ctx.features is not None else np.empty((len(proba), 0))
        vals = np.asarray(self.measure_fn(_FixedProba(proba), dummy), dtype=np.float64)
        return vals if self.sign > 0 else 1.0 - vals

    def describe(self, score: float) -> str:
        return f"{self.measure} {score if self.sign > 0 else 1.0 - score:.2g}"

    def score_key(self, seed: int) -> str | None:
        return repr(self)

    def __repr__(self) -> str:
        return f"modal:{self.name}"


class _LearnerView:
    """What modAL strategy functions read from an ActiveLearner, over a bare fitted estimator."""

    on_transformed = False

    def __init__(self, estimator: Any, X_training: np.ndarray | None, y_training: Any):
        self.estimator = estimator
        self.X_training = X_training if X_training is not None and len(X_training) else None
        self.y_training = y_training

    def predict_proba(self, X: Any, **kwargs: Any) -> np.ndarray:
        return self.estimator.predict_proba(X, **kwargs)

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        return self.estimator.predict(X, **kwargs)

    def transform_without_estimating(self, X: Any) -> Any:
        return X


class ModalSelector(Strategy):
    """A modAL-style function ``(classifier, X, n_instances) -> indices | (indices, values)``.

    It needs the real model and all candidate features at once, so the engine calls
    :meth:`query` with the candidate matrix instead of streaming and caching scores. Scores are the
    returned values when the function gives them, else ``n, n-1, ..., 1`` by returned order.
    """

    needs_classifier = True

    def __init__(self, fn: Callable, label: str | None = None):
        self.fn = fn
        self.label = label or f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
        self.measure = getattr(fn, "__name__", "rank")

    def score(self, proba, ctx):
        raise StrategyError(f"{self!r} selects from the candidate matrix; use ModalSelector.query")

    def query(
        self, classifier: Any, X: np.ndarray, n: int, X_training: np.ndarray | None = None, y_training: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Call the function; validate and return ``(positions, scores)``.

        A bare estimator is wrapped in a minimal learner view (``estimator``, ``X_training``,
        ``y_training``, ``on_transformed``) because modAL's batch functions read those attributes.
        """
        base = require_modal("modAL.models.base", "modAL strategies")
        BaseCommittee, BaseLearner = base.BaseCommittee, base.BaseLearner
        if not isinstance(classifier, (BaseLearner, BaseCommittee)):
            classifier = _LearnerView(classifier, X_training, y_training)
        result = self.fn(classifier, X, n_instances=n)
        values = None
        if isinstance(result, tuple) and len(result) == 2:
            result, values = result
        try:
            pos = np.asarray(result).astype(np.int64, casting="safe").ravel()
        except TypeError as exc:
            raise StrategyError(f"{self!r} must return integer row indices, got {np.asarray(result).dtype}") from exc
        if pos.size and (pos.min() < 0 or pos.max() >= len(X)):
            raise StrategyError(f"{self!r} returned indices outside 0..{len(X) - 1}")
        if len(np.unique(pos)) != len(pos):
            raise StrategyError(f"{self!r} returned duplicate indices")
        pos = pos[:n]
        scores = None
        if values is not None:
            v = np.asarray(values)
            if v.shape[:1] == (len(pos),) and v.ndim == 1 and np.issubdtype(v.dtype, np.number):
                scores = v.astype(np.float64)
        if scores is None:
            scores = np.arange(len(pos), 0, -1, dtype=np.float64)
        return pos, scores

    def select(self, scores, predicted, n, ctx):
        return top_n(scores, n)

    def describe(self, score: float) -> str:
        return f"{self.measure} {score:.3g}"

    def __repr__(self) -> str:
        return self.label


_MEASURES = {
    "uncertainty_sampling": ("classifier_uncertainty", 1),
    "classifier_uncertainty": ("classifier_uncertainty", 1),
    "margin_sampling": ("classifier_margin", -1),
    "classifier_margin": ("classifier_margin", -1),
    "entropy_sampling": ("classifier_entropy", 1),
    "classifier_entropy": ("classifier_entropy", 1),
}


def from_modal(fn_or_name: Callable | str) -> Strategy:
    """An activeloop strategy from a modAL function or its name (``"margin_sampling"``).

    Names are looked up in ``modAL.uncertainty``, ``modAL.disagreement``, ``modAL.batch``,
    ``modAL.density`` and ``modAL.expected_error``, in that order.

    Raises
    ------
    StrategyError
        If the name is not a modAL function, or the callable cannot be called as a modAL strategy.
    """
    unc = require_modal("modAL.uncertainty", "modal:* strategies")
    if isinstance(fn_or_name, str):
        name = fn_or_name
        fn = modal_function(name)
    else:
        fn = fn_or_name
        name = getattr(fn, "__name__", repr(fn))
    if getattr(fn, "__module__", "") == "modAL.uncertainty" and name in _MEASURES:
        measure_name, sign = _MEASURES[name]
        return ModalMeasure(name, getattr(unc, measure_name), sign)
    if not callable(fn):
        raise StrategyError(f"{fn!r} is not callable")
    _check_modal_signature(fn, name)
    return ModalSelector(fn, f"modal:{name}" if getattr(fn, "__module__", "").startswith("modAL") else None)


def modal_function(name: str, modules: tuple[str, ...] = MODAL_MODULES) -> Callable:
    """The public query function ``name`` of the first of ``modules`` (under ``modAL.``) that has one.

    Raises
    ------
    StrategyError
        If none of them has a function of that name.
    """
    for mod in modules:
        try:
            m = importlib.import_module(f"modAL.{mod}")
        except Exception:  # noqa: BLE001 - modAL 0.4.2.1's expected_error uses np.float, gone in numpy 2
            continue
        cand = getattr(m, name, None)
        if callable(cand) and not inspect.isclass(cand) and not name.startswith("_"):
            return cand
    raise StrategyError(
        f"modAL has no query function {name!r}; try e.g. modal:margin_sampling, modal:entropy_sampling, "
        "modal:uncertainty_sampling, modal:uncertainty_batch_sampling"
    )


def _check_modal_signature(fn: Callable, name: str) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(object(), np.empty((1, 1)), n_instances=1)
    except TypeError as exc:
        raise StrategyError(
            f"{name!r} cannot be called as a modAL strategy (classifier, X, n_instances=...): {exc}"
        ) from exc
