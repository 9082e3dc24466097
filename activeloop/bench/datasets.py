"""Labeled data sets for simulated-oracle benchmarks, and the per-seed pool/test split.

Names: ``digits-imbalanced`` (sklearn digits, one class cut to ~3 %; ``minority=1/7`` cuts two),
``wine-imbalanced`` (class 0 cut to 8 %), ``breast-cancer-imbalanced`` (malignant cut to 4 %),
``synthetic`` (``make_classification`` with a rare class), or a path to a labeled ``.csv`` / ``.npz``
file. Options ride on the name: ``digits-imbalanced:minority=3,share=0.02``,
``synthetic:n=3000,classes=3,weights=0.9/0.07/0.03,class_sep=0.8,features=20``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from activeloop.errors import ActiveloopError, IngestError
from activeloop.ingest import readers

__all__ = ["Dataset", "load_dataset", "split_dataset", "DATASETS"]

#: Rows of digits' class 8 are cut with this fixed seed, once, so every run sees the same data.
_DIGITS_SEED = 0


@dataclass(frozen=True)
class Dataset:
    """A labeled data set: features, class indices, class names and the class that is rare.

    Attributes
    ----------
    name : str
    X : ndarray of shape (n, d), float32
    y : ndarray of shape (n,), int64 indices into ``classes``
    classes : list of str
    minority : int
        Index of the class whose recall and discovery the benchmark tracks (the rarest by default).
    info : dict
        How it was made (options, source path).
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    classes: list[str]
    minority: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def minority_share(self) -> float:
        """Share of rows in the minority class."""
        return float(np.mean(self.y == self.minority))


def _parse_options(spec: str) -> tuple[str, dict[str, str]]:
    name, _, rest = spec.partition(":")
    opts: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq:
            raise ActiveloopError(f"data set option {part!r} in {spec!r} must look like key=value")
        opts[key.strip().replace("-", "_")] = value.strip()
    return name.strip().lower(), opts


def _cut(loader: str, name: str, minority: str, share: float, names: list[str] | None = None):
    """A builder for a scikit-learn data set with each ``minority`` class (``a/b`` for several) cut to ``share``.

    The rows kept are drawn once with a fixed seed, so every run sees the same data set.
    """

    def build(opts: dict[str, str]) -> Dataset:
        import sklearn.datasets

        rare = [int(c) for c in str(opts.pop("minority", minority)).split("/")]
        sh = float(opts.pop("share", share))
        _no_more(opts, name)
        X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
        k = int(y.max()) + 1
        if not 0 < sh * len(rare) < 1 or len(set(rare)) != len(rare) or not all(0 <= c < k for c in rare):
            raise ActiveloopError(f"{name} needs distinct minority classes in 0..{k - 1} and 0 < share < 1, "
                                  f"got {'/'.join(map(str, rare))}, {sh}")
        rng = np.random.default_rng(_DIGITS_SEED)
        others = np.flatnonzero(~np.isin(y, rare))
        keep = int(round(sh * len(others) / (1 - sh * len(rare))))
        parts = [others] + [rng.choice(np.flatnonzero(y == c), min(keep, int((y == c).sum())), replace=False)
                            for c in rare]
        idx = np.sort(np.concatenate(parts))
        return Dataset(name, X[idx].astype(np.float32), y[idx].astype(np.int64),
                       list(names) if names else [str(c) for c in range(k)], rare[0],
                       {"minority": rare[0] if len(rare) == 1 else rare, "share": sh})

    return build


def _synthetic(opts: dict[str, str]) -> Dataset:
    from sklearn.datasets import make_classification

    n = int(opts.pop("n", 3000))
    n_classes = int(opts.pop("classes", 2))
    weights_s = opts.pop("weights", None)
    if n_classes < 2:
        raise ActiveloopError(f"synthetic: classes={n_classes}; it needs at least 2")
    if weights_s is None:
        rare = 0.03
        weights = [(1 - rare) / (n_classes - 1)] * (n_classes - 1) + [rare]
    else:
        weights = [float(w) for w in weights_s.split("/")]
        if len(weights) == n_classes - 1:
            weights.append(1.0 - sum(weights))
    if len(weights) != n_classes or min(weights) <= 0:
        raise ActiveloopError(f"synthetic: weights {weights_s!r} must give {n_classes} positive shares (a/b/c)")
    class_sep = float(opts.pop("class_sep", 1.0))
    n_features = int(opts.pop("features", 20))
    informative = int(opts.pop("informative", min(n_features, max(2, n_features // 2))))
    seed = int(opts.pop("seed", 0))
    flip = float(opts.pop("flip_y", 0.0))
    _no_more(opts, "synthetic")
    X, y = make_classification(
        n_samples=n, n_features=n_features, n_informative=informative, n_redundant=0, n_classes=n_classes,
        n_clusters_per_class=1 if n_classes > 2 else 2, weights=weights, class_sep=class_sep, flip_y=flip,
        random_state=seed,
    )
    counts = np.bincount(y, minlength=n_classes)
    info = {"n": n, "classes": n_classes, "weights": weights, "class_sep": class_sep, "features": n_features}
    return Dataset("synthetic", X.astype(np.float32), y.astype(np.int64), [f"c{i}" for i in range(n_classes)],
                   int(np.argmin(counts)), info)


def _no_more(opts: dict[str, str], name: str) -> None:
    if opts:
        raise ActiveloopError(f"unknown option(s) for {name}: {', '.join(sorted(opts))}")


def _from_labels(name: str, X: np.ndarray, labels: np.ndarray, path: Path, minority: str | None,
                 label_field: str) -> Dataset:
    names, y = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    classes = [str(c) for c in names]
    if len(classes) < 2:
        raise IngestError(path, f"needs at least 2 classes, found {len(classes)}")
    thin = _thin_class(y, classes)
    if thin:
        raise IngestError(path, thin, field=label_field)
    if minority is None:
        m = int(np.argmin(np.bincount(y, minlength=len(classes))))
    elif minority in classes:
        m = classes.index(minority)
    else:
        raise IngestError(path, f"minority class {minority!r} is not one of {classes}")
    if X.ndim != 2 or len(X) != len(y):
        raise IngestError(path, f"features must be 2-D with one row per label, got {X.shape} for {len(y)} labels")
    return Dataset(name, X, y.astype(np.int64), classes, m, {"path": str(path)})


def _thin_class(y: np.ndarray, classes: list[str]) -> str | None:
    """Why the stratified pool/test split cannot be made (a class with under 2 rows), or None."""
    counts = np.bincount(y, minlength=len(classes))
    k = int(np.argmin(counts))
    return f"class {classes[k]!r} has {counts[k]} row(s); each class needs at least 2" if counts[k] < 2 else None


def _from_file(path: Path, opts: dict[str, str]) -> Dataset:
    """A labeled .csv or .npz, read by ingest's readers and held to ingest's rules (finite float32 features)."""
    minority = opts.pop("minority", None)
    label_col = opts.pop("label", None)
    _no_more(opts, str(path))
    kind = readers.file_kind(path)
    if kind == "npz":
        X, y, _ = readers.load_arrays(path, kind)
        if y is None:
            raise IngestError(path, "an .npz data set needs arrays 'X' and 'y'", field="y")
        if X.ndim != 2:
            raise IngestError(path, f"X must be 2-D (rows x features), got shape {X.shape}", field="X")
        rows, fields = np.arange(len(X)), [f"X[:, {j}]" for j in range(X.shape[1])]
        labels, label_field = y, "y"
    elif kind == "csv" and path.suffix.lower() == ".csv":
        header = readers.csv_columns(path)
        if label_col is None:
            label_col = next((h for h in ("label", "y", "class", "target") if h in header), header[-1])
        if label_col not in header:
            raise IngestError(path, f"no column {label_col!r}", field=label_col)
        recs = [rec for chunk in readers.iter_csv(path, 10_000) for rec in chunk]
        if len(recs) < 2:
            raise IngestError(path, "needs a header and at least two rows")
        fields = [h for h in header if h != label_col]
        if not fields:
            raise IngestError(path, f"no feature columns besides the label column {label_col!r}", row=1)
        label_field = label_col
        rows = np.array([row for row, _ in recs])
        labels = np.array([rec[label_col].strip() for _, rec in recs])
        X = _numbers(path, recs, fields)
    else:
        raise IngestError(path, "expected a .csv or .npz file")
    with np.errstate(over="ignore"):
        X32 = np.asarray(X, dtype=np.float32)
    bad = readers.first_nonfinite(X32)
    if bad is not None:
        r, j = bad
        what = "is too large for float32" if np.isfinite(X[r, j]) else "is not a finite number"
        raise IngestError(path, f"{X[r, j]!r} {what}", row=int(rows[r]), field=fields[j])
    blank = next((k for k, v in enumerate(labels) if not str(v).strip()), None)
    if blank is not None:  # import reads it as unlabeled; a benchmark's oracle needs every row's class
        raise IngestError(path, "empty label; every row of a benchmark data set needs its class",
                          row=int(rows[blank]), field=label_field)
    return _from_labels(path.stem, X32, labels, path, minority, label_field)


def _numbers(path: Path, recs: list[readers.Record], fields: list[str]) -> np.ndarray:
    """CSV feature cells as float64; a cell that is not a number is named by row and field."""
    X = np.empty((len(recs), len(fields)), dtype=np.float64)
    for k, (row, rec) in enumerate(recs):
        for j, f in enumerate(fields):
            try:
                X[k, j] = float(rec[f])
            except ValueError:
                raise IngestError(path, f"{rec[f]!r} is not a number", row=row, field=f) from None
    return X


DATASETS = {
    "digits-imbalanced": _cut("load_digits", "digits-imbalanced", "8", 0.03),
    "wine-imbalanced": _cut("load_wine", "wine-imbalanced", "0", 0.08, ["class_0", "class_1", "class_2"]),
    "breast-cancer-imbalanced": _cut("load_breast_cancer", "breast-cancer-imbalanced", "0", 0.04,
                                     ["malignant", "benign"]),
    "synthetic": _synthetic,
}


def load_dataset(spec: str | Path) -> Dataset:
    """A :class:`Dataset` from a built-in name (with ``:key=value,...`` options) or a file path.

    Parameters
    ----------
    spec : str or Path
        ``digits-imbalanced[:minority=8,share=0.03]`` (also ``wine-imbalanced``, ``breast-cancer-imbalanced``),
        ``synthetic[:n=3000,classes=2,weights=0.97,class_sep=1.0,features=20,seed=0]``, or a
        ``.csv`` (numeric feature columns plus a ``label``/``y``/``class``/``target`` column, else
        the last column; ``path.csv:label=col,minority=name``) / ``.npz`` (arrays ``X``, ``y``).

    Raises
    ------
    ActiveloopError
        Unknown name or option. :class:`~activeloop.errors.IngestError` for a bad file.
    """
    text = str(spec)
    low = text.lower()
    if isinstance(spec, Path) or low.endswith((".csv", ".npz")) or ".csv:" in low or ".npz:" in low or "/" in text.split(":")[0]:
        path_s, opts = text, {}
        for ext in (".csv:", ".npz:"):
            if ext in low:
                cut = low.index(ext) + 4
                path_s = text[:cut]
                opts = _parse_options("x:" + text[cut + 1:])[1]
        return _from_file(Path(path_s), opts)
    name, opts = _parse_options(text)
    if name not in DATASETS:
        raise ActiveloopError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)} or pass a .csv/.npz path")
    try:
        ds = DATASETS[name](opts)
    except (ValueError, ZeroDivisionError) as exc:  # share=x, n=abc, classes=1, features=0
        raise ActiveloopError(f"data set {text!r}: bad option value ({exc})") from None
    thin = _thin_class(ds.y, ds.classes)
    if thin:
        raise ActiveloopError(f"data set {text!r}: {thin}")
    return replace(ds, name=text.strip()) if ":" in text else ds


def split_dataset(ds: Dataset, seed: int, test_size: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``(pool_idx, test_idx)`` for one seed; the test part keeps the real class mix."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(ds.y))
    pool_idx, test_idx = train_test_split(idx, test_size=test_size, stratify=ds.y, random_state=seed)
    return np.sort(pool_idx), np.sort(test_idx)
