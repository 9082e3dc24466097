"""Label efficiency of the model's defaults on an imbalanced digits task.

sklearn's digits with class 8 cut to ~3 %, a stratified held-out test set with the same
distribution, and the same 300 random training labels for every model in a seed. Compares
the default FocalLossClassifier (focal loss, effective-number alpha) with plain
cross-entropy (gamma=0, alpha=None) and LogisticRegression(class_weight="balanced").

    python benchmarks/bench_model_quality.py [--seeds 5] [--labels 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from activeloop.model import FocalLossClassifier, classification_metrics

MINORITY = 8
MINORITY_SHARE = 0.03


def imbalanced_digits(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Digits with class 8 subsampled to MINORITY_SHARE of the rows."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    others = np.flatnonzero(y != MINORITY)
    eights = np.flatnonzero(y == MINORITY)
    keep = int(round(MINORITY_SHARE * len(others) / (1 - MINORITY_SHARE)))
    idx = np.sort(np.concatenate([others, rng.choice(eights, keep, replace=False)]))
    return X[idx], y[idx]


def models(seed: int, **overrides) -> dict:
    return {
        "focal+effnum (default)": FocalLossClassifier(random_state=seed, **overrides),
        "cross-entropy": FocalLossClassifier(gamma=0.0, alpha=None, random_state=seed, **overrides),
        "logreg balanced": make_pipeline(
            StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=5000)
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--labels", type=int, default=300)
    args = ap.parse_args()

    rows: dict[str, list[tuple[float, float, float, float]]] = {}
    for seed in range(args.seeds):
        X, y = imbalanced_digits(seed)
        X_pool, X_test, y_pool, y_test = train_test_split(
            X, y, test_size=0.4, stratify=y, random_state=seed
        )
        rng = np.random.default_rng(1000 + seed)
        take = rng.choice(len(y_pool), args.labels, replace=False)
        X_tr, y_tr = X_pool[take], y_pool[take]
        for name, model in models(seed).items():
            t0 = time.process_time()  # CPU seconds: steadier than wall time on a shared machine
            model.fit(X_tr, y_tr)
            fit_s = time.process_time() - t0
            classes = list(model.classes_)
            m = classification_metrics(y_test, model.predict_proba(X_test), classes)
            recall8 = m["per_class"][str(MINORITY)]["recall"] if MINORITY in classes else 0.0
            rows.setdefault(name, []).append((m["macro_f1"], recall8, m["ece"], fit_s))
        print(f"seed {seed}: {int((y_tr == MINORITY).sum())} of {args.labels} training labels are class {MINORITY}; "
              f"test n={len(y_test)} ({int((y_test == MINORITY).sum())} of class {MINORITY})")

    base = np.mean([r[0] for r in rows["cross-entropy"]])
    print()
    print(f"{'model':<24} {'macro-F1':>15} {'minority recall':>17} {'ECE':>7} {'fit cpu s':>9} {'F1 vs CE':>9}")
    for name, r in rows.items():
        a = np.asarray(r)
        print(f"{name:<24} {a[:, 0].mean():.3f} ± {a[:, 0].std():.3f}   {a[:, 1].mean():.3f} ± {a[:, 1].std():.3f}"
              f"   {a[:, 2].mean():.3f} {a[:, 3].mean():9.3f} {a[:, 0].mean() / base:9.3f}")


if __name__ == "__main__":
    main()
