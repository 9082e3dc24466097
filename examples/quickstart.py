"""Quickstart: a pool in SQLite, a few query → label → retrain rounds from a script.

Uses scikit-learn's breast-cancer data with the malignant class cut to ~5 %; the "labeler" is the
known answer. Run: ``python examples/quickstart.py [--db quickstart.db]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import activeloop as al


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=Path("quickstart.db"))
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    X, y = load_breast_cancer(return_X_y=True)  # 0 = malignant, 1 = benign
    rng = np.random.default_rng(0)
    keep = np.concatenate([np.flatnonzero(y == 1), rng.choice(np.flatnonzero(y == 0), 19, replace=False)])
    X, y = X[keep], np.where(y[keep] == 0, "malignant", "benign")
    X_pool, X_eval, y_pool, y_eval = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)

    for suffix in ("", "-wal", "-shm"):
        Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    pool = al.Pool.create(args.db, name="cancer", classes=["benign", "malignant"])
    ids = pool.add(X_pool)
    pool.add(X_eval, labels=list(y_eval), split="eval")  # a random eval split, labeled once
    truth = dict(zip(ids.tolist(), y_pool))

    loop = al.Loop(pool, batch_size=10)
    for _ in range(args.rounds):
        for q in loop.query(annotator="script"):
            pool.label(q.example_id, truth[q.example_id], annotator="script")
        if min(pool.class_counts().values()) == 0:
            continue  # a round needs both classes
        rnd = loop.retrain()
        m = rnd.metrics
        print(f"round {rnd.number}: {rnd.n_labels} labels {pool.class_counts()}, "
              f"macro-F1 {m['macro_f1']:.3f}, malignant recall {m['per_class']['malignant']['recall']:.3f}")


if __name__ == "__main__":
    main()
