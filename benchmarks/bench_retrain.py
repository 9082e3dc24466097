"""Retrain time of FocalLossClassifier, cold and warm-started, against scikit-learn peers.

Synthetic imbalanced data (make_classification, 64 features, ~5 % minority). "cold" fits from
scratch on all n labels; "warm" first fits on n - 10 labels, then adds 10 and refits with
``warm_start=True`` (only the refit is timed): the active-learning round. The same data
is fitted by sklearn's MLPClassifier(hidden_layer_sizes=(64,)) and LogisticRegression.

    python benchmarks/bench_retrain.py [--sizes 500 2000 20000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import torch

from activeloop.model import FocalLossClassifier, focal_loss


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cpu_timed(fn) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def train_loss(model: FocalLossClassifier, X: np.ndarray, y: np.ndarray) -> float:
    """The fit's own objective (focal loss with its alpha) on all n labels, full batch."""
    z = torch.as_tensor(model._logits(X))
    alpha = None if model.alpha_ is None else torch.as_tensor(model.alpha_)
    t = torch.as_tensor(np.searchsorted(model.classes_, y))
    return float(focal_loss(z, t, alpha=alpha, gamma=model.gamma))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 20000])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)  # MLPClassifier at max_iter=200, its default

    FocalLossClassifier(max_epochs=2, random_state=0).fit(*make_classification(100, 64, random_state=0))
    print(f"{'n':>6} {'cold s':>7} {'ep':>4} {'loss':>7} {'warm s':>7} {'ep':>4} {'loss':>7} "
          f"{'cold/warm':>9} {'warm@loss s':>11} {'cold/warm@loss':>14} "
          f"{'MLP s':>7} {'LogReg s':>8} {'MLP/warm':>8} {'LR/warm':>8} {'cold cpu s':>10} {'warm cpu s':>10}")
    for n in args.sizes:
        X, y = make_classification(
            n_samples=n, n_features=64, n_informative=16, n_redundant=8, n_classes=3,
            weights=[0.75, 0.2, 0.05], class_sep=1.0, flip_y=0.01, random_state=n,
        )
        rows = []
        for r in range(args.repeats):
            cold = FocalLossClassifier(random_state=r)
            t_cold = timed(lambda: cold.fit(X, y))
            target = cold.loss_curve_[cold.best_epoch_ - 1]  # training loss of the kept weights
            warm = FocalLossClassifier(random_state=r, warm_start=True).fit(X[:-10], y[:-10])
            reached: list[float] = []
            t0 = time.perf_counter()
            warm.fit(X, y, on_epoch=lambda e, m, loss: reached.append(time.perf_counter() - t0)
                     if loss <= target and not reached else None)
            t_warm = time.perf_counter() - t0
            t_reach = reached[0] if reached else t_warm
            mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=200, random_state=r)
            t_mlp = timed(lambda: make_pipeline(StandardScaler(), mlp).fit(X, y))
            t_lr = timed(lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y))
            cpu_cold = cpu_timed(lambda: FocalLossClassifier(random_state=r).fit(X, y))
            again = FocalLossClassifier(random_state=r, warm_start=True).fit(X[:-10], y[:-10])
            cpu_warm = cpu_timed(lambda: again.fit(X, y))
            rows.append((t_cold, cold.n_epochs_, train_loss(cold, X, y),
                         t_warm, warm.n_epochs_, train_loss(warm, X, y), t_mlp, t_lr, t_reach, cpu_cold, cpu_warm))
        a = np.median(np.asarray(rows), axis=0)
        print(f"{n:>6} {a[0]:7.2f} {a[1]:4.0f} {a[2]:7.4f} {a[3]:7.2f} {a[4]:4.0f} {a[5]:7.4f} "
              f"{a[0] / a[3]:9.1f} {a[8]:11.3f} {a[0] / a[8]:14.1f} {a[6]:7.2f} {a[7]:8.2f} {a[6] / a[3]:8.1f} {a[7] / a[3]:8.1f} {a[9]:10.2f} {a[10]:10.2f}", flush=True)
    print(f"\nmedian of {args.repeats} repeats. loss: the fit's focal objective on all n labels after the fit "
          "(lower is better). warm@loss: seconds until the warm fit's epoch training loss first reaches "
          "the cold fit's (at its kept epoch); warm s is the whole warm fit, early-stopping patience included. "
          "Times are wall seconds; cpu s repeats the two fits timed in CPU seconds (FocalLossClassifier "
          "trains on one thread), steadier when the machine is shared.")


if __name__ == "__main__":
    main()
