"""modAL interop, both ways: activeloop's strategy and model inside a modAL ActiveLearner,
and a modAL query function inside activeloop's engine.

Run: ``pip install "activeloop[modal]" && python examples/modal_interop.py``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from modAL.models import ActiveLearner
from modAL.uncertainty import entropy_sampling
from sklearn.datasets import load_wine

import activeloop as al
from activeloop.query import as_modal


def main() -> None:
    X, y = load_wine(return_X_y=True)
    rng = np.random.default_rng(0)
    seed = np.concatenate([rng.choice(np.flatnonzero(y == c), 2, replace=False) for c in np.unique(y)])

    # 1. activeloop's focal-loss model and default strategy driving a modAL learner.
    learner = ActiveLearner(
        estimator=al.FocalLossClassifier(random_state=0),
        query_strategy=as_modal("default"),
        X_training=X[seed],
        y_training=y[seed],
    )
    asked, _ = learner.query(X, n_instances=5)
    learner.teach(X[asked], y[asked])
    print("modAL learner with activeloop's strategy asked for rows", list(map(int, asked)))

    # 2. modAL's entropy_sampling as the strategy of activeloop's engine over a SQLite pool.
    with tempfile.TemporaryDirectory() as tmp:
        pool = al.Pool.create(Path(tmp) / "wine.db", name="wine", classes=["0", "1", "2"])
        pool.add(X, labels=[str(v) if i in set(seed.tolist()) else None for i, v in enumerate(y)])
        loop = al.Loop(pool, strategy=entropy_sampling)
        loop.retrain()
        for q in loop.query(5, annotator="example"):
            print(f"engine with modAL entropy_sampling: example {q.example_id} ({q.reason})")
        pool.close()


if __name__ == "__main__":
    main()
