"""One round of the loop: read the labels, fit a copy of the model, evaluate honestly, score the pool, record it all at once.

torch and scikit-learn load only when a model is fitted, evaluated or restored from a checkpoint:
a process that queries from a round's stored scores never imports them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from activeloop.defaults import RANDOM_STATE
from activeloop.errors import ActiveloopError
from activeloop.model.adapter import proba_by_class
from activeloop.query import Query, QueryEngine
from activeloop.stopping import Criterion, Snapshot, Verdict, choose_stop_set, minority_classes, snapshots, stop_set_key
from activeloop.stopping import to_record as stopping_record
from activeloop.stopping import verdict as stop_verdict
from activeloop.store import Pool, RoundInfo
from activeloop.store.tables import utcnow

if TYPE_CHECKING:  # pragma: no cover
    from activeloop.model.capacity import BudgetSizedClassifier

EpochCallback = Callable[[int, int, float], None]


def default_model(random_state: int | None = RANDOM_STATE) -> BudgetSizedClassifier:
    """activeloop's recommended model: a focal-loss model sized to the label budget, refitted each round.

    :class:`~activeloop.model.BudgetSizedClassifier` with its default candidates: a linear model
    (weighted cross-entropy, balanced class weights, solved by L-BFGS with ``LogisticRegression``'s
    C=1 penalty) and the focal MLP, chosen at every fit by 3-fold stratified CV macro-F1 on the pool
    split's labels with the one-standard-error rule; the MLP enters the CV only once the labels
    number at least the linear model's parameters. Chosen on the whole imbalanced suite
    (``activeloop bench --suite imbalanced``, 10 tasks, 10 seeds; ``benchmarks/README.md``) with the
    default strategy, against ``peer:modal-margin``: mean delta AULC macro-F1 +0.012 (worst
    -0.010) and AULC minority recall +0.022 (worst -0.055). With 3 seeds: +0.010 / +0.021; the
    previous default (Adam-trained linear candidate, CV every round): +0.002 (worst -0.046) and
    +0.040 (worst -0.039); the L-BFGS linear model alone: +0.008 (worst -0.020) and +0.025.

    Not warm-started. Warm-starting a network on a growing label set tends to end in a worse
    optimum than a fresh fit (Ash & Adams, "On Warm-Starting Neural Network Training", 2020);
    measured on digits-imbalanced, AULC macro-F1 0.918 refitted against 0.905 warm-started.
    ``FocalLossClassifier(warm_start=True)`` is there for large label sets, where it reaches the
    same training loss 5-10x sooner (``benchmarks/bench_retrain.py``).
    """
    from activeloop.model.capacity import BudgetSizedClassifier

    return BudgetSizedClassifier(random_state=random_state)


class Loop:
    """Drives rounds over a :class:`~activeloop.store.Pool`: query, retrain, evaluate, record.

    Follows scikit-learn's meta-estimators (``GridSearchCV.best_estimator_``): the model passed in
    stays as given, each round fits a copy, and the fitted one is :attr:`model_`, which
    :attr:`engine` queries with. The copy replaces :attr:`model_` only once its round is recorded.

    Parameters
    ----------
    pool : Pool
    model : sklearn-compatible classifier, optional
        The template each round fits a copy of; never fitted itself. Default:
        :func:`default_model`; and when the pool has a recorded round, :attr:`model_` starts as
        that round's checkpoint (with an unfitted clone of it as the template).
    engine : QueryEngine, optional
        Default: ``QueryEngine(model, strategy, batch_size, random_state)``.
    strategy : str, default "default"
    batch_size : int, default 10
    random_state : int or None, default 0
        activeloop's one seeding default (:data:`activeloop.defaults.RANDOM_STATE`), for the
        default model and engine.
    client : distributed.Client, optional
        Score the pool on this dask cluster (see :class:`~activeloop.query.QueryEngine`).

    Attributes
    ----------
    model : the template, as given
    model_ : the fitted classifier, whose ``classes_`` are the project's class names (so
        ``loop.model_.predict(X)`` returns names); scikit-learn's ``NotFittedError`` before the
        first round (or restored checkpoint)
    engine : QueryEngine, using :attr:`model_` once there is one (before: :attr:`model`, which
        means a cold start unless the model given was fitted already). Without a ``model``
        argument it follows the pool's rounds: their stored scores, so the round's checkpoint (and
        torch) is loaded only when :attr:`model`, :attr:`model_` or a retrain needs it.

    Examples
    --------
    >>> loop = Loop(pool, LogisticRegression())          # doctest: +SKIP
    >>> loop.retrain()                                   # doctest: +SKIP
    >>> loop.model_.predict(X)                           # doctest: +SKIP
    array(['ok', 'fraud', ...], dtype='<U5')
    """

    def __init__(
        self,
        pool: Pool,
        model: Any = None,
        engine: QueryEngine | None = None,
        *,
        strategy: Any = "default",
        batch_size: int = 10,
        random_state: int | None = RANDOM_STATE,
        client: Any = None,
    ):
        self.pool = pool
        self.random_state = random_state
        self._fitted: Any = None
        self._template = model  # None: restored from the latest round (or the default) on first use
        self.engine = engine if engine is not None else QueryEngine(
            model, strategy=strategy, batch_size=batch_size, random_state=random_state, client=client
        )
        self.engine.model, self.engine.model_round = model, None  # None: the engine follows the rounds

    @property
    def model(self) -> Any:
        """The template each round fits a copy of (restored on first use when none was given)."""
        if self._template is None:
            self._restore()
        return self._template

    @model.setter
    def model(self, value: Any) -> None:
        self._template = value

    @property
    def model_(self) -> Any:
        """The fitted classifier the engine uses (see the class docstring)."""
        if self._fitted is None and self._template is None:
            self._restore()
        if self._fitted is None:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                f"this Loop has no fitted model yet: call retrain() once project {self.pool.name!r} has labels of 2 classes"
            )
        return self._fitted

    def _restore(self) -> None:
        """The latest round's model (the engine's, when it loaded it already; else the checkpoint), else the default."""
        from sklearn.base import clone

        from activeloop.model.capacity import load_checkpoint

        number = self.pool.latest_round_number()
        if self.engine.model is not None and number is not None and self.engine.model_round == number:
            self._fitted = self.engine.model
        else:
            latest = self.pool.load_checkpoint(number) if number is not None else None
            data = latest if latest is not None else self.pool.load_checkpoint()  # else an older round's
            if data is not None:
                self._fitted = load_checkpoint(data)
                if latest is not None:
                    self.engine.adopt(self.pool, number, self._fitted)
        self._template = clone(self._fitted) if self._fitted is not None else default_model(self.random_state)
        if self.engine.model is None and self._fitted is not None and self.engine.model_round is None:
            self.engine.model = self._fitted  # an older round's checkpoint: the engine scores with it

    def _current(self) -> Any:
        if self._fitted is None and self._template is None:
            self._restore()
        return self._fitted if self._fitted is not None else self._template

    def query(self, n: int | None = None, annotator: str = "default") -> list[Query]:
        """The next examples to label, leased to ``annotator``."""
        return self.engine.query(self.pool, n, annotator)

    def retrain(self, *, on_epoch: EpochCallback | None = None) -> RoundInfo:
        """Fit a copy on the pool split's labels (as class names), evaluate it, score the pool, record the round.

        The copy is of :attr:`model` (of :attr:`model_` for a ``warm_start`` model, to continue its
        training); it becomes :attr:`model_` only once the round, its checkpoint, its metrics and its
        scores of the pool (for the engine's strategy, when they can be stored) are committed in one
        transaction, so a failure keeps the previous one and a crash never leaves scores that
        disagree with their round. The engine then queries from those scores without rescoring.
        """
        from activeloop.model.capacity import BudgetSizedClassifier
        from activeloop.model.classifier import FocalLossClassifier

        started = utcnow()
        t0 = time.perf_counter()
        _, X, y = self.pool.labeled_xy("pool")
        seen = np.unique(y)
        if len(seen) < 2:
            counts = self.pool.class_counts("pool")
            raise ActiveloopError(
                f"project {self.pool.name!r}: a round needs labels of at least 2 classes in the pool split, have {counts}"
            )
        candidate = copy.deepcopy(self._fit_base())
        names = np.asarray(self.pool.classes, dtype=str)[y]
        if isinstance(candidate, (FocalLossClassifier, BudgetSizedClassifier)):
            candidate.fit(X, names, on_epoch=on_epoch)
        else:
            candidate.fit(X, names)
        fit_seconds = time.perf_counter() - t0
        metrics = self.evaluate(candidate)
        metrics["fit_seconds"] = round(fit_seconds, 4)
        metrics["train_counts"] = {c: int(k) for c, k in zip(self.pool.classes, np.bincount(y, minlength=len(self.pool.classes)))}
        metrics["stopping"] = self._stopping(candidate, y, metrics)
        t1 = time.perf_counter()
        scores = self.engine.score(self.pool, candidate)
        config = _config(candidate)
        if scores is not None:
            config["scoring"] = {"rows": len(scores), "seconds": round(time.perf_counter() - t1, 4),
                                 "stored": self.engine.score_key is not None}
        checkpoint = candidate.to_checkpoint() if hasattr(candidate, "to_checkpoint") else None
        info = self.pool.record_round(
            n_labels=len(y),
            strategy=repr(self.engine.strategy_),
            checkpoint=checkpoint,
            metrics=metrics,
            config=config,
            started_at=started,
            scores=scores if self.engine.score_key is not None else None,
        )
        self._fitted = candidate
        self.engine.adopt(self.pool, info.number, candidate, scores)
        return info

    def stop_verdict(self, criterion: Criterion | None = None) -> Verdict:
        """Whether more labels still buy anything, over the recorded rounds (see :mod:`activeloop.stopping`)."""
        return stop_verdict(self.pool.rounds(), criterion)

    def _stopping(self, model: Any, y: np.ndarray, metrics: dict[str, Any]) -> dict[str, Any]:
        """``metrics["stopping"]``: the model's predictions on the stop set and every criterion's value.

        The stop set is a seeded sample of up to 1000 pool examples still unlabeled when the first
        round that measured stopping was recorded; that round stores its ids (``stop_set_ids``) and
        every later round reads them back, so all rounds predict the same examples.
        """
        rounds = self.pool.rounds()
        stored = [(r.metrics.get("stopping") or {}).get("stop_set_ids") for r in rounds]
        ids = next((np.asarray(i, dtype=np.int64) for i in stored if i is not None), None)
        first = ids is None
        if first:
            unlabeled = self.pool.unlabeled_ids("pool")
            ids = choose_stop_set(unlabeled if len(unlabeled) else self.pool.labeled("pool")[0])
        classes = self.pool.classes
        proba = proba_by_class(model, self.pool.features(ids), classes)
        predicted = np.bincount(proba.argmax(axis=1), minlength=len(classes)) / max(len(ids), 1)
        minority = metrics.get("minority") or minority_classes(classes, predicted)
        found = int(np.isin(y, [classes.index(c) for c in minority]).sum())
        snap = Snapshot.from_proba(
            proba, round=(rounds[-1].number if rounds else 0) + 1, n_labels=len(y), minority_found=found,
            stop_set=stop_set_key(ids),
        )
        extra: dict[str, Any] = {"minority": list(minority)}
        if first:
            extra["stop_set_ids"] = ids.tolist()
        return stopping_record(snap, snapshots(rounds), **extra)

    def _fit_base(self) -> Any:
        """What a round copies: the fitted model for a warm start on class names, else the template."""
        self._current()  # restores the latest round's model first when no model was given
        fitted = self._fitted
        if (fitted is not None and getattr(self.model, "warm_start", False)
                and np.asarray(getattr(fitted, "classes_", [0])).dtype.kind in "USO"):
            return fitted
        return self.model

    def evaluate(self, model: Any = None) -> dict[str, Any]:
        """Metrics of ``model`` (default: :attr:`model_`) on the eval split's labeled examples.

        The eval split keeps the pool's real class mix: it is never resampled, reweighted or
        queried. With no eval labels the result says so (``n_eval == 0``) and holds no score.
        (:func:`activeloop.classification_metrics` computes the same metrics from any labels
        and probabilities.)
        """
        model = self._current() if model is None else model
        _, X, y = self.pool.labeled_xy("eval")
        if len(y) == 0:
            return {"n_eval": 0}
        from activeloop.model.metrics import classification_metrics

        proba = proba_by_class(model, X, self.pool.classes)
        return {"n_eval": int(len(y)), **classification_metrics(y, proba, self.pool.classes)}


def _config(model: Any) -> dict[str, Any]:
    """The round's model config: class, plain parameters and, for a budget-sized model, its capacity choice."""
    config: dict[str, Any] = {"model": type(model).__name__, "params": _plain_params(model)}
    if getattr(model, "capacity_", None) is not None:
        config["capacity"] = model.capacity_
    return config


def model_summary(config: dict[str, Any]) -> str:
    """One line on a round's model: its class, and for a budget-sized model the capacity it chose and why.

    e.g. ``BudgetSizedClassifier: linear(gamma=0) (3-fold CV macro-F1 linear(gamma=0) 0.81, mlp(64) 0.78;
    one-standard-error rule)``.
    """
    name = str(config.get("model", "?"))
    cap = config.get("capacity")
    if not cap:
        return name
    scores = cap.get("cv_macro_f1")
    why = (f"{cap['folds']}-fold CV macro-F1 " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items())
           + f"; {cap['rule']} rule") if scores else "too few labels to compare capacities: the simplest"
    return f"{name}: {cap['chosen']} ({why})"


def _plain_params(model: Any) -> dict[str, Any]:
    """JSON-safe view of ``get_params()`` for the round's config."""
    out: dict[str, Any] = {}
    for key, value in getattr(model, "get_params", dict)().items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float, bool)) for v in value):
            out[key] = list(value)
        else:
            out[key] = repr(value)
    return out
