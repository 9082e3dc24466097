"""Candidates screened against the default in the eighth pass (2026-11-26) and not adopted.

Kept so that every figure in ``benchmarks/README.md`` ("Eighth pass") can be rerun, e.g.::

    python benchmarks/bench_suite_candidates.py --seeds 10 --no-peers --candidates sized/screened_candidates:BADGE

Strategies (``--candidates sized/screened_candidates:NAME``):

* ``BADGE``: BADGE (Ash, Zhang, Krishnamurthy, Langford, Agarwal, ICLR 2020): k-means++ seeding over the
  whole pool on the gradient embeddings ``g = (p - e_yhat) (x) x`` of the last layer; ``BADGE_W`` runs the
  same seeding over the default's window (``min(classes, 4)`` margin candidates per slot) instead.
* ``PERCLASS``: the default's core-set, its window split evenly over the predicted classes (BASE's
  per-class quota, Emam et al. 2021, applied to the window instead of the batch).
* ``EXPLORE``: the default's core-set over the whole pool while some project class has no label yet.

Models (``--candidates blend/default`` etc., see ``bench_suite_candidates._model``):

* :class:`Blend`: the equal-weight average of the default's two candidates' probabilities (the linear
  weighted cross-entropy model and the focal MLP), both fitted every round; ``mlp_loss="ce"`` trains
  the MLP with the linear model's loss (``gamma=0``, balanced weights) instead of focal loss;
* :class:`CVBlend`: the linear model or that blend, chosen per fit by 3-fold stratified CV log-loss
  (the better mean, no one-standard-error rule).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from activeloop.model.capacity import default_candidates
from activeloop.query.diversity import Diverse, coreset_select
from activeloop.query.strategies import MARGIN, Strategy, top_n


def proba_from_margins(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and predicted class back from per-class margins ``q_k = p_k - max_{j != k} p_j``.

    For ``k`` other than the predicted ``t``, ``p_k = p_t + q_k``; the rows sum to one, so
    ``p_t = (1 - sum_{k != t} q_k) / K``.
    """
    m, k = q.shape
    top = q.argmax(axis=1)
    rows = np.arange(m)
    p_top = (1.0 - (q.sum(axis=1) - q[rows, top])) / k
    p = q + p_top[:, None]
    p[rows, top] = p_top
    return np.clip(p, 0.0, 1.0), top


def badge_select(X: np.ndarray, q: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """BADGE's k-means++ seeding on ``g = (p - e_yhat) (x) x``: the largest ``|g|`` first, then draws by ``D^2``.

    ``|g_i - g_j|^2 = |a_i|^2 |x_i|^2 + |a_j|^2 |x_j|^2 - 2 (a_i . a_j)(x_i . x_j)`` with ``a = p - e_yhat``, so
    the ``K * d`` embeddings are never formed.
    """
    p, top = proba_from_margins(np.asarray(q, dtype=np.float64))
    a = p.copy()
    a[np.arange(len(a)), top] -= 1.0
    X = np.asarray(X, dtype=np.float64)
    norm = np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", X, X)

    def dist(c: int) -> np.ndarray:
        return np.maximum(norm + norm[c] - 2.0 * (a @ a[c]) * (X @ X[c]), 0.0)

    picked = [int(np.argmax(norm))]
    d2 = dist(picked[0])
    d2[picked[0]] = 0.0
    while len(picked) < min(n, len(X)):
        total = d2.sum()
        if total <= 0:  # only duplicates of picked rows left
            taken = set(picked)
            picked += [int(i) for i in np.argsort(-norm, kind="stable") if i not in taken][: n - len(picked)]
            break
        cdf = np.cumsum(d2 / total)
        c = int(min(cdf.searchsorted(rng.random() * cdf[-1], side="right"), len(X) - 1))
        picked.append(c)
        np.minimum(d2, dist(c), out=d2)
        d2[c] = 0.0
    return np.asarray(picked, dtype=np.int64)


class Badge(Strategy):
    """BADGE over the whole pool (``window=None``) or over ``min(classes, window)`` margin candidates per slot."""

    needs_orders = True  # the engine then hands select() the candidates' per-class margins

    def __init__(self, window: int | None = None):
        self.window = window

    def score(self, proba, ctx):
        return MARGIN.score(proba, ctx)

    def select(self, scores, predicted, n, ctx):
        n = int(min(n, len(scores)))
        if ctx.margins is None or ctx.fetch_features is None:
            return top_n(scores, n)
        if self.window is None:
            pos = np.arange(len(scores))
        else:
            pos = top_n(scores, max(min(len(ctx.class_counts), self.window), 2) * n)
        chosen = pos[badge_select(ctx.fetch_features(pos), ctx.margins[pos], n, ctx.rng)]
        return chosen[top_n(scores[chosen], len(chosen))]

    def heads(self, n):
        return None

    def __repr__(self):
        return f"badge(window={self.window})"


class PerClassWindow(Diverse):
    """The default's core-set over a window of ``window * n`` margin candidates split evenly over predicted classes."""

    def heads(self, n):
        return None

    def select(self, scores, predicted, n, ctx):
        n = int(min(n, len(scores)))
        total = self.window(ctx) * n
        classes = np.unique(predicted)
        quota = -(-total // max(len(classes), 1))
        pos = np.concatenate([rows[top_n(scores[rows], quota)] for rows in
                              (np.flatnonzero(predicted == c) for c in classes)]) if len(classes) else np.empty(0, int)
        if len(pos) < total:  # a class ran short: fill from the global order
            taken = set(pos.tolist())
            rest = [i for i in top_n(scores, total + len(pos)) if i not in taken]
            pos = np.concatenate([pos, np.asarray(rest[: total - len(pos)], dtype=np.int64)])
        if len(pos) <= n or ctx.fetch_features is None:
            return pos[top_n(scores[pos], n)]
        chosen = pos[coreset_select(ctx.fetch_features(pos), scores[pos], n, ctx.labeled_features)]
        return chosen[top_n(scores[chosen], len(chosen))]


class ExploreUnseen(Diverse):
    """The default's core-set, its window the whole pool while some project class has no label."""

    def window(self, ctx):
        return 10**12 if (np.asarray(ctx.class_counts) == 0).any() else super().window(ctx)

    def heads(self, n):
        return None


BADGE = Badge()
BADGE_W = Badge(window=4)
PERCLASS = PerClassWindow(MARGIN, method="coreset", factor=4, labeled=True, by_classes=True)
EXPLORE = ExploreUnseen(MARGIN, method="coreset", factor=4, labeled=True, by_classes=True)


class Blend(ClassifierMixin, BaseEstimator):
    """The equal-weight average of the default's linear and MLP candidates' probabilities."""

    def __init__(self, mlp_loss: str = "focal", random_state: int = 0):
        self.mlp_loss = mlp_loss
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None, on_epoch=None):
        lin, mlp = (clone(c).set_params(random_state=self.random_state) for c in default_candidates())
        if self.mlp_loss == "ce":
            mlp.set_params(gamma=0.0, alpha="balanced")
        X = np.asarray(X, dtype=np.float32)
        self.members_ = (lin.fit(X, y), mlp.fit(X, y))
        self.classes_ = lin.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype=np.float32)
        return np.mean([m.predict_proba(X) for m in self.members_], axis=0)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class CVBlend(ClassifierMixin, BaseEstimator):
    """The linear candidate or :class:`Blend`, whichever has the better 3-fold stratified CV log-loss."""

    def __init__(self, random_state: int = 0):
        self.random_state = random_state

    def _make(self, i: int):
        return clone(default_candidates()[0]).set_params(random_state=self.random_state) if i == 0 else \
            Blend(random_state=self.random_state)

    def fit(self, X, y, sample_weight=None, on_epoch=None):
        from sklearn.metrics import log_loss
        from sklearn.model_selection import StratifiedKFold

        X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
        labels, counts = np.unique(y, return_counts=True)
        k = int(min(3, counts.max()))
        self.choice_ = 0
        if len(counts) >= 2 and k >= 2 and len(y) >= 2 * k:
            with warnings.catch_warnings():  # a class with fewer rows than folds is expected
                warnings.simplefilter("ignore", UserWarning)
                folds = list(StratifiedKFold(k, shuffle=True, random_state=self.random_state).split(X, y))
            loss = np.zeros((2, k))
            for i in range(2):
                for f, (tr, te) in enumerate(folds):
                    if len(np.unique(y[tr])) < 2:
                        loss[i, f] = np.inf
                        continue
                    m = self._make(i).fit(X[tr], y[tr])
                    P = np.full((len(te), len(labels)), 1e-7)
                    P[:, np.searchsorted(labels, m.classes_)] = np.maximum(m.predict_proba(X[te]), 1e-7)
                    loss[i, f] = log_loss(y[te], P / P.sum(axis=1, keepdims=True), labels=labels)
            self.choice_ = int(np.argmin(loss.mean(axis=1)))
        self.estimator_ = self._make(self.choice_).fit(X, y)
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        return self.estimator_.predict_proba(np.asarray(X, dtype=np.float32))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
