"""A focal-loss model whose capacity suits the label budget: linear or MLP, chosen at every fit.

With tens of labels a linear model (no hidden layer) usually beats an MLP on the minority: it
needs fewer examples per parameter; with hundreds the MLP catches up and passes it. Which side of
that crossing a label set is on depends on the data, so :class:`BudgetSizedClassifier` measures it
on the training labels only (never an eval split): stratified k-fold cross-validated macro-F1 of
each candidate capacity, then the *one-standard-error rule* (Breiman et al., 1984; Hastie,
Tibshirani & Friedman, *Elements of Statistical Learning*, 7.10): the simplest candidate whose
mean score is within one standard error of the best. Ties therefore go to the simpler model.

A more complex candidate enters that comparison only once every class has at least as many labels
as the candidate before it has weights per class (``floor="class_parameters"``, the default). Below
that, the simpler model's weights for the rarest class are under-determined (they can fit its few
labels in many ways), more capacity only adds ways, and a 3-fold CV holding one or two rare labels
per fold cannot tell the candidates apart on the rare class, the one that decides macro-F1 and
minority recall. For the default pair this is the linear model's ``d + 1`` weights per class: a
binary task with 8 features tries the MLP once it holds 9 minority labels; digits (64 features)
once every digit has 65. ``floor="parameters"`` (the rule until the fifth pass) counts all labels
against all ``(d + 1) * K`` weights instead: a low-dimensional binary task then tried the MLP from
~20 labels, and on 18 KEEL imbalanced binary sets the MLP it chose there cost minority recall
(AULC -0.013 against modAL margin over 10 seeds, +0.003 with the class floor; ``benchmarks/README.md``).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from activeloop.defaults import RANDOM_STATE
from activeloop.errors import CheckpointError
from activeloop.model.classifier import FocalLossClassifier

__all__ = ["BudgetSizedClassifier", "default_candidates", "load_checkpoint", "n_parameters", "one_standard_error_choice"]

_MAGIC = b"ACTIVELOOP-SIZED-1\n"


def one_standard_error_choice(scores: np.ndarray) -> int:
    """Index of the simplest candidate within one standard error of the best mean score.

    Parameters
    ----------
    scores : ndarray of shape (n_candidates, n_folds)
        Per-fold scores (higher is better), candidates from the simplest to the most complex.
    """
    s = np.asarray(scores, dtype=np.float64)
    mean = s.mean(axis=1)
    se = s.std(axis=1, ddof=1) / np.sqrt(s.shape[1]) if s.shape[1] > 1 else np.zeros(len(s))
    best = int(np.argmax(mean))
    return int(np.flatnonzero(mean >= mean[best] - se[best])[0])


def n_parameters(model: FocalLossClassifier, n_features: int, n_classes: int) -> int:
    """Weights and biases of ``model``'s network for ``n_features`` inputs and ``n_classes`` outputs."""
    widths = [int(n_features), *(int(h) for h in model.hidden), int(n_classes)]
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


def default_candidates() -> tuple[FocalLossClassifier, FocalLossClassifier]:
    """The two capacities tried by default, simplest first.

    * linear (no hidden layer), weighted cross-entropy (``gamma=0``) with inverse-frequency
      ("balanced") class weights, solved to convergence by L-BFGS with scikit-learn's ``C=1`` L2
      penalty: ``LogisticRegression(class_weight="balanced")`` on the standardised inputs, the
      standard choice while labels are few;
    * the focal MLP (one hidden layer of 64, ``gamma=2``, effective-number alpha, AdamW), which
      catches up and passes it as labels accumulate.
    """
    return (FocalLossClassifier(hidden=(), gamma=0.0, alpha="balanced", solver="lbfgs", max_epochs=500),
            FocalLossClassifier())


class BudgetSizedClassifier(ClassifierMixin, BaseEstimator):
    """Focal-loss classifier that picks its capacity per fit by cross-validation on the labels.

    Parameters
    ----------
    candidates : tuple of FocalLossClassifier or None, default=None
        Candidate models, simplest first (cloned; ``random_state`` is set on each). None means
        :func:`default_candidates` (linear weighted cross-entropy, then the focal MLP).
    floor : {"class_parameters", "parameters"} or None, default="class_parameters"
        ``"class_parameters"``: candidate i > 0 is cross-validated only when every class has at least
        :func:`n_parameters` of candidate i - 1 divided by the classes in labels (see the module
        text); ``"parameters"``: when all labels together number at least :func:`n_parameters` of
        candidate i - 1. When only the simplest is left it is fitted without CV. None: every
        candidate is always cross-validated.
    cv : int, default=3
        Folds of the stratified cross-validation (fewer when the largest class has fewer rows;
        with fewer than two rows per fold the simplest candidate is taken without CV).
    random_state : int or None, default=0
        Seeds the folds and every candidate; activeloop's one seeding default
        (:data:`activeloop.defaults.RANDOM_STATE`).

    Attributes
    ----------
    estimator_ : FocalLossClassifier
        The chosen candidate, refitted on all training rows.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    choice_ : int
        Index of the chosen candidate.
    hidden_ : tuple of int
        Its hidden-layer widths (``()`` = linear).
    cv_scores_ : ndarray of shape (n_candidates, n_folds) or None
        Per-fold macro-F1 of each candidate (None when the CV was skipped).
    capacity_ : dict
        JSON-safe record of the choice (for the round's config): chosen name, hidden widths, mean
        CV macro-F1 per candidate, the candidates tried (see ``floor``) and the rule.
    """

    _parameter_constraints: dict = {
        "candidates": [tuple, list, None],
        "floor": [StrOptions({"parameters", "class_parameters"}), None],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, *, candidates=None, floor="class_parameters", cv=3, random_state=RANDOM_STATE):
        self.candidates = candidates
        self.floor = floor
        self.cv = cv
        self.random_state = random_state

    def _candidates(self) -> tuple:
        return default_candidates() if self.candidates is None else tuple(self.candidates)

    def _candidate(self, i: int) -> FocalLossClassifier:
        return clone(self._candidates()[i]).set_params(random_state=self.random_state)

    def _eligible(self, counts: np.ndarray, n_features: int) -> int:
        """How many candidates, simplest first, the labels can support (see ``floor``)."""
        cands = self._candidates()
        if self.floor is None:
            return len(cands)
        k = len(counts)
        have = int(counts.sum()) if self.floor == "parameters" else int(counts.min()) * k
        m = 1
        while m < len(cands) and have >= n_parameters(cands[m - 1], n_features, k):
            m += 1
        return m

    def _cv_scores(self, X: np.ndarray, y: np.ndarray, m: int) -> np.ndarray | None:
        _, counts = np.unique(y, return_counts=True)
        k = int(min(self.cv, counts.max()))
        if len(counts) < 2 or k < 2 or len(y) < 2 * k:
            return None
        seed = self.random_state if isinstance(self.random_state, (int, np.integer)) else 0
        with warnings.catch_warnings():  # a rare class with fewer rows than folds is expected here
            warnings.simplefilter("ignore", UserWarning)
            folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=int(seed)).split(X, y))
        scores = np.zeros((m, k))
        labels = np.unique(y)
        for c in range(len(scores)):
            for f, (tr, te) in enumerate(folds):
                if len(np.unique(y[tr])) < 2:  # one class left to train on: it is the only prediction
                    pred = np.full(len(te), y[tr][0])
                else:
                    pred = self._candidate(c).fit(X[tr], y[tr]).predict(X[te])
                scores[c, f] = f1_score(y[te], pred, labels=labels, average="macro", zero_division=0)
        return scores

    def fit(self, X, y, sample_weight=None, *, on_epoch: Callable[[int, int, float], None] | None = None):
        """Choose the capacity on ``X, y`` by cross-validation, then fit it on all of them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Passed to the final fit (the CV fits are unweighted).
        on_epoch : callable(epoch, max_epochs, loss), optional
            Progress of the final fit.
        """
        self._validate_params()
        cands = self._candidates()
        if not len(cands):
            raise ValueError("candidates must name at least one model")
        X, y = validate_data(self, X, y, dtype=np.float32)  # one clear error for 1-D, sparse or non-finite X
        check_classification_targets(y)
        m = self._eligible(np.unique(y, return_counts=True)[1], X.shape[1])
        scores = self._cv_scores(X, y, m) if m > 1 else None
        self.choice_ = 0 if scores is None else one_standard_error_choice(scores)
        self.cv_scores_ = scores
        self.estimator_ = self._candidate(self.choice_).fit(X, y, sample_weight, on_epoch=on_epoch)
        self._copy_fitted()
        names = [_name(c) for c in cands]
        if len(set(names)) < len(names):  # same widths and gamma: number them, or the record cannot say which
            names = [f"{n}#{i}" for i, n in enumerate(names)]
        means = None if scores is None else {n: round(float(v), 4) for n, v in zip(names, scores.mean(axis=1))}
        self.capacity_ = {"chosen": names[self.choice_], "hidden": list(self.hidden_), "cv_macro_f1": means,
                          "folds": 0 if scores is None else int(scores.shape[1]), "rule": "one-standard-error",
                          "tried": names[:m]}
        return self

    def _copy_fitted(self) -> None:
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = self.estimator_.n_features_in_
        self.hidden_ = tuple(int(h) for h in self.estimator_.hidden)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of the chosen model, shape (n_samples, n_classes)."""
        self._check()
        return self.estimator_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        """Most probable class of each row, by the chosen model."""
        self._check()
        return self.estimator_.predict(X)

    def _check(self) -> None:
        """scikit-learn's ``check_is_fitted``: raises ``sklearn.exceptions.NotFittedError``."""
        check_is_fitted(self, "estimator_")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "estimator_")

    # -------------------------------------------------------------- checkpoints

    def to_checkpoint(self) -> bytes:
        """A header line of JSON (parameters and the choice), then the chosen model's own checkpoint."""
        self._check()
        head = {"format": 1, "cv": int(self.cv), "floor": self.floor, "choice": int(self.choice_),
                "candidates": [{k: _plain(v) for k, v in c.get_params(deep=False).items() if k != "random_state"}
                               for c in self._candidates()],
                "random_state": _plain(self.random_state) if isinstance(self.random_state, (int, np.integer)) else None,
                "capacity": self.capacity_,
                "cv_scores": None if self.cv_scores_ is None else self.cv_scores_.tolist()}
        body = json.dumps(head).encode() + b"\n" + self.estimator_.to_checkpoint()
        return _MAGIC + hashlib.sha256(body).digest() + body

    @classmethod
    def from_checkpoint(cls, data: bytes) -> "BudgetSizedClassifier":
        """Rebuild a fitted model from :meth:`to_checkpoint` bytes; :class:`CheckpointError` when they are not that."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise CheckpointError(f"checkpoint must be bytes, got {type(data).__name__}")
        data = bytes(data)
        if not data.startswith(_MAGIC):
            raise CheckpointError("not a budget-sized activeloop model checkpoint (bad header)")
        digest, body = data[len(_MAGIC):len(_MAGIC) + 32], data[len(_MAGIC) + 32:]
        if hashlib.sha256(body).digest() != digest:
            raise CheckpointError("model checkpoint is corrupt: checksum mismatch")
        line, _, inner = body.partition(b"\n")
        try:
            head = json.loads(line)
            est = FocalLossClassifier.from_checkpoint(inner)
            cands = tuple(FocalLossClassifier(**{k: (tuple(v) if k == "hidden" else v) for k, v in c.items()})
                          for c in head["candidates"])
            model = cls(candidates=cands, floor=head.get("floor"), cv=head["cv"], random_state=head["random_state"])
            model.estimator_ = est
            model.choice_ = int(head["choice"])
            model.capacity_ = head["capacity"]
            model.cv_scores_ = None if head["cv_scores"] is None else np.asarray(head["cv_scores"])
            model._copy_fitted()
        except CheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - any malformed payload is a bad checkpoint
            raise CheckpointError(f"not a valid budget-sized model checkpoint: {exc}") from exc
        return model


def _name(model: FocalLossClassifier) -> str:
    """``linear`` or ``mlp(64)``, with the loss when it is not the focal default: ``linear(gamma=0)``."""
    hidden = tuple(int(h) for h in model.hidden)
    base = "linear" if not hidden else "mlp(" + ",".join(map(str, hidden)) + ")"
    return base if model.gamma == 2.0 else f"{base}(gamma={model.gamma:g})"


def _plain(v: Any) -> Any:
    if isinstance(v, (tuple, list, np.ndarray)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def load_checkpoint(data: bytes) -> Any:
    """The fitted model in checkpoint bytes, whichever activeloop model wrote them."""
    if isinstance(data, (bytes, bytearray, memoryview)) and bytes(data[: len(_MAGIC)]) == _MAGIC:
        return BudgetSizedClassifier.from_checkpoint(data)
    return FocalLossClassifier.from_checkpoint(data)
