"""Passive fits: the linear L-BFGS model against ``LogisticRegression(class_weight="balanced")`` on the same labels.

    python benchmarks/bench_linear_vs_logreg.py --seeds 5 --labels 30,60,100

For each suite task (binary ones by default) and label count, draws a stratified random label set
(at least one row of every class), fits both and prints test macro-F1 side by side, plus the
Adam-trained linear model the default used before (``solver="adam"``). The peer is the bench's
own (StandardScaler + LogisticRegression, C=1, balanced).
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from activeloop.bench.datasets import load_dataset
from activeloop.bench.models import logreg_balanced
from activeloop.bench.tasks import suite_tasks
from activeloop.model import FocalLossClassifier


def _labels(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    first = [rng.choice(np.flatnonzero(y == c)) for c in np.unique(y)]
    rest = rng.permutation(np.setdiff1d(np.arange(len(y)), first))[: n - len(first)]
    return np.concatenate([first, rest])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--labels", default="30,60,100")
    ap.add_argument("--all", action="store_true", help="every suite task, not only the binary ones")
    args = ap.parse_args()
    models = {
        "lbfgs": lambda s: FocalLossClassifier(hidden=(), gamma=0.0, alpha="balanced", solver="lbfgs", random_state=s),
        "adam": lambda s: FocalLossClassifier(hidden=(), gamma=0.0, alpha="balanced", random_state=s),
        "logreg": lambda s: logreg_balanced(),
    }
    print(f"{'task':58s} {'labels':>6s} " + " ".join(f"{m:>7s}" for m in models) + "  lbfgs-logreg")
    for spec, _ in suite_tasks("imbalanced"):
        ds = load_dataset(spec)
        if not args.all and len(np.unique(ds.y)) != 2:
            continue
        for n in (int(v) for v in args.labels.split(",")):
            scores = {m: [] for m in models}
            for seed in range(args.seeds):
                Xp, Xt, yp, yt = train_test_split(ds.X, ds.y, test_size=0.3, stratify=ds.y, random_state=seed)
                idx = _labels(yp, n, np.random.default_rng(seed))
                for m, make in models.items():
                    pred = make(seed).fit(Xp[idx], yp[idx]).predict(Xt)
                    scores[m].append(f1_score(yt, pred, average="macro"))
            means = {m: float(np.mean(v)) for m, v in scores.items()}
            print(f"{spec[:58]:58s} {n:6d} " + " ".join(f"{means[m]:7.3f}" for m in models)
                  + f"  {means['lbfgs'] - means['logreg']:+.3f}", flush=True)


if __name__ == "__main__":
    main()
