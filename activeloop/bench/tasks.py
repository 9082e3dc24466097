"""Named benchmark suites: imbalanced tasks made only from data shipped with scikit-learn or generated.

``activeloop bench --suite imbalanced`` runs every task of ``SUITES["imbalanced"]``: a data-set spec
(:func:`~activeloop.bench.datasets.load_dataset`; rare classes are cut with a fixed seed, so every run
sees the same rows) and the label budget that suits its pool. The tasks vary what the default must
be robust to: which class is rare, one or two rare classes, image-like vs tabular features, the
number of classes, class separation, dimension and minority share (1-8 %).
"""

from __future__ import annotations

from activeloop.errors import ActiveloopError

__all__ = ["SUITES", "suite_tasks"]

#: Suites by name: ``(data-set spec, label budget)`` per task; the tracked minority is the first rare class.
SUITES: dict[str, list[tuple[str, int]]] = {
    "imbalanced": [
        ("digits-imbalanced:minority=8,share=0.03", 150),
        ("digits-imbalanced:minority=3,share=0.02", 150),
        ("digits-imbalanced:minority=5,share=0.05", 150),
        ("digits-imbalanced:minority=1/7,share=0.03", 150),
        ("wine-imbalanced:minority=0,share=0.08", 60),
        ("breast-cancer-imbalanced:minority=0,share=0.04", 100),
        ("synthetic:n=2000,classes=2,weights=0.98,class_sep=1.0,features=20,seed=1", 150),
        ("synthetic:n=2000,classes=3,weights=0.75/0.2/0.05,class_sep=0.7,features=10,seed=2", 150),
        ("synthetic:n=3000,classes=5,weights=0.3/0.3/0.2/0.19/0.01,class_sep=1.5,features=30,seed=3", 150),
        ("synthetic:n=2000,classes=2,weights=0.97,class_sep=1.2,features=100,informative=10,seed=4", 150),
    ],
}


def suite_tasks(name: str) -> list[tuple[str, int]]:
    """The ``(spec, budget)`` tasks of a named suite; :class:`ActiveloopError` for an unknown name."""
    if name not in SUITES:
        raise ActiveloopError(f"unknown suite {name!r}; choose one of {', '.join(SUITES)}")
    return list(SUITES[name])
