"""`activeloop demo`: a real project from scikit-learn's digits (8s made rare), labeled by a simulated oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from activeloop.bench.datasets import load_dataset
from activeloop.errors import ActiveloopError
from activeloop.loop import Loop
from activeloop.store import Pool

ANNOTATOR = "oracle"
DEFAULT_PATH = "demo.db"
PROJECT = "digits"


def is_demo(path: str | Path) -> bool:
    """Whether ``path`` holds an activeloop demo: one project ``digits`` with the classes 0-9 (opened read-only, never upgraded)."""
    try:
        with Pool.open(path, auto_upgrade=False) as pool:  # the only project, or an error
            return pool.name == PROJECT and pool.classes == [str(d) for d in range(10)]
    except ActiveloopError:
        return False


def run(
    db: str | Path = DEFAULT_PATH,
    *,
    rounds: int = 5,
    batch: int = 10,
    eval_fraction: float = 0.25,
    seed: int = 0,
    force: bool = False,
    console: Console | None = None,
) -> Pool:
    """Build ``db`` from digits-imbalanced and run ``rounds`` query → oracle label → retrain rounds.

    An earlier demo at ``db`` is replaced; any other existing file is refused unless ``force``.
    The eval split is a stratified random slice whose labels are imported (the data set has them),
    so every round's metrics are measured on the real, imbalanced distribution.
    """
    if rounds < 0 or batch < 1:  # before any file is touched
        raise ActiveloopError(f"--rounds must be >= 0 and --batch >= 1, got {rounds} and {batch}")
    console = console or Console()
    path = Path(db)
    if path.exists():
        if not force and not is_demo(path):
            raise ActiveloopError(
                f"{path}: exists and is not an activeloop demo; not overwriting it (choose another path, or pass --force)"
            )
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    ds = load_dataset("digits-imbalanced")
    from sklearn.model_selection import train_test_split

    pool_idx, eval_idx = train_test_split(
        np.arange(len(ds.y)), test_size=eval_fraction, stratify=ds.y, random_state=seed
    )
    pool = Pool.create(path, PROJECT, ds.classes, hotkeys=ds.classes)
    truth: dict[int, str] = {}
    for split, idx in (("pool", pool_idx), ("eval", eval_idx)):
        ids = pool.add(
            ds.X[idx],
            payloads=[{"image": ds.X[i].reshape(8, 8).astype(int).tolist(), "source": f"sklearn digits #{i}"} for i in idx],
            external_ids=[f"digits-{i}" for i in idx],
            labels=[ds.classes[ds.y[i]] for i in idx] if split == "eval" else None,
            split=split,
        )
        truth.update((int(eid), ds.classes[ds.y[i]]) for eid, i in zip(ids, idx))
    minority = ds.classes[ds.minority]
    console.print(
        f"[bold]{path}[/]: {len(pool_idx)} pool + {len(eval_idx)} eval examples of digits, "
        f"class {minority!r} kept at {ds.minority_share:.1%}"
    )
    loop = Loop(pool, batch_size=batch, random_state=seed)
    table = Table(title=f"simulated oracle, {batch} labels per round")
    for col in ("round", "labels", f"{minority!r} found", "macro-F1", "balanced acc", f"recall {minority!r}", "fit s"):
        table.add_column(col, justify="right")
    for _ in range(rounds):
        for q in loop.query(batch, annotator=ANNOTATOR):
            pool.label(q.example_id, truth[q.example_id], annotator=ANNOTATOR, source="oracle")
        counts = pool.class_counts("pool")
        if sum(1 for v in counts.values() if v) < 2:
            continue
        info = loop.retrain()
        m = info.metrics
        table.add_row(
            str(info.number), str(info.n_labels), str(counts[minority]), f"{m['macro_f1']:.3f}",
            f"{m['balanced_accuracy']:.3f}", f"{m['per_class'][minority]['recall']:.3f}", f"{m['fit_seconds']:.2f}",
        )
    console.print(table)
    console.print(f"Label the rest yourself: [bold]activeloop label {path}[/]")
    return pool
