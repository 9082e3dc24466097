"""Import CSV / JSONL / NumPy files into a Pool: validate, featurize, split, write in one transaction.

Every file of one :func:`import_files` call goes in through a single
:meth:`Pool.transaction`, the fitted featurizer included: an error at any row of any file
leaves the database exactly as it was. Errors name the file, the row (see
:mod:`activeloop.ingest.readers` for the numbering) and the field.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from activeloop.errors import ActiveloopError, IngestError, RowError
from activeloop.ingest import readers, validate
from activeloop.ingest.featurize import DEFAULT_DIM, TextFeaturizer
from activeloop.ingest.text import TEXT_KINDS, check_same, parse_featurizer, stored_featurizer

Progress = Callable[[str, int, "int | None"], None]
"""``progress(path, rows_done, rows_total_or_None)``, called as rows are written."""

CHUNK_ROWS = 200_000
ARRAY_FIELDS = {"external_id": "ids", "label": "y", "features": "X"}


@dataclass
class FileReport:
    """What one file added; ``recognised`` maps a role (id, label, text) to the column taken by its name."""

    path: str
    n_rows: int
    n_eval: int
    n_labeled: int
    recognised: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportReport:
    """What an import added, per file and in total.

    Attributes
    ----------
    files : list of FileReport
    dim : int or None
        The project's feature dimension after the import.
    featurizer : str or None
        The featurizer kind used (``tfidf-svd``, ``embed``, ``numeric`` or ``array``).
    fitted_featurizer : bool
        True when this import fitted (and saved) the text featurizer.
    seconds : float
    """

    files: list[FileReport] = field(default_factory=list)
    dim: int | None = None
    featurizer: str | None = None
    fitted_featurizer: bool = False
    seconds: float = 0.0

    @property
    def n_rows(self) -> int:
        return sum(f.n_rows for f in self.files)

    @property
    def n_eval(self) -> int:
        return sum(f.n_eval for f in self.files)

    @property
    def n_pool(self) -> int:
        return self.n_rows - self.n_eval

    @property
    def n_labeled(self) -> int:
        return sum(f.n_labeled for f in self.files)


@dataclass
class _Options:
    features: list[str] | None
    text_column: str | None
    label_column: str | None
    id_column: str | None
    eval_fraction: float
    split: str
    seed: int
    text_dim: int
    chunk_rows: int
    progress: Progress | None
    featurizer: tuple[str | None, str | None] = (None, None)


def import_file(pool: Any, path: str | Path, **options: Any) -> ImportReport:
    """Import one file; see :func:`import_files` for the options."""
    return import_files(pool, [path], **options)


def import_files(
    pool: Any,
    paths: Sequence[str | Path],
    *,
    features: Sequence[str] | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    eval_fraction: float = 0.0,
    split: str = "pool",
    seed: int = 0,
    text_dim: int = DEFAULT_DIM,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
    featurizer: str | None = None,
) -> ImportReport:
    """Import files into ``pool`` in one transaction.

    Parameters
    ----------
    pool : Pool
    paths : sequence of path
        ``.csv``/``.tsv`` (header row), ``.jsonl`` (one object per line), ``.npy`` (a 2-D or
        higher array of features; higher ones are flattened per row) or ``.npz`` (arrays ``X``,
        optional ``y`` labels and ``ids``).
    features : sequence of str, optional
        Numeric feature columns (CSV/JSONL); default every column but the id, label and text ones.
    text_column : str, optional
        Featurize this column (with ``featurizer``; the project stores it on its first text
        import and later imports reuse it). Used automatically when the project already has a
        text featurizer and the file has its column. Every row needs the field: JSON null is
        empty text, a missing field or a JSON list or object is an error.
    featurizer : {"tfidf", "embed", "embed:MODEL"}, optional
        ``tfidf`` (default): TF-IDF + SVD fitted on the first text import. ``embed``: sentence
        embeddings (the ``embed`` extra; default model all-MiniLM-L6-v2, 384 dimensions, offline).
        Default: the project's own, else ``tfidf``; another one than the project's is an error.
    label_column, id_column : str, optional
        Class names (empty = unlabeled; recorded with ``source='import'``) and unique external ids
        (default ``<file name>:<row>``; for ``.npz`` an ``ids`` array).
    eval_fraction : float in [0, 1)
        Reserve this share of each file's rows as the eval split (stratified by label when every
        label, and the unlabeled group, has at least 2 rows).
    split : {"pool", "eval"}
        Where the rows go when ``eval_fraction`` is 0.
    seed : int
        Seeds the eval split and the SVD.
    progress : callable(path, rows_done, rows_total or None), optional

    Returns
    -------
    ImportReport

    Raises
    ------
    IngestError
        Naming file, row and field; nothing is written.

    Notes
    -----
    Row numbers in errors are the file's own: CSV counts lines with the header as line 1, so
    the first data row is row 2 (a quoted field spanning lines is numbered by its last line);
    JSONL rows are line numbers from 1; ``.npy``/``.npz`` rows are 0-based array indices, and
    their fields are ``X[:, j]``, ``y`` and ``ids``. The import holds the database's write lock
    until it commits.
    """
    if not 0.0 <= eval_fraction < 1.0:
        raise ActiveloopError(f"--eval-fraction must be in [0, 1), got {eval_fraction}")
    if split not in ("pool", "eval"):
        raise ActiveloopError(f"--split must be 'pool' or 'eval', got {split!r}")
    if eval_fraction > 0 and split == "eval":
        raise ActiveloopError("--eval-fraction splits rows between pool and eval; do not combine it with --split eval")
    if features and text_column:
        raise ActiveloopError("give either feature columns or a text column, not both")
    if not paths:
        raise ActiveloopError("no files to import")
    opts = _Options(
        list(features) if features else None, text_column, label_column, id_column, eval_fraction, split, seed,
        text_dim, chunk_rows, progress, parse_featurizer(featurizer),
    )
    started = time.perf_counter()
    report = ImportReport()
    paths = [Path(p) for p in paths]
    kinds = [readers.file_kind(p) for p in paths]  # fail fast on a missing file, before any work
    seen: dict[str, tuple[Path, int]] = {}
    with pool.transaction():
        for path, kind in zip(paths, kinds):
            if kind in ("csv", "jsonl"):
                rep = _import_tabular(pool, path, kind, opts, seen, report)
            else:
                rep = _import_arrays(pool, path, kind, opts, seen, report)
            report.files.append(rep)
    report.dim = pool.dim
    report.featurizer = (pool.featurizer[0] or {}).get("kind")
    report.seconds = time.perf_counter() - started
    return report


# ---------------------------------------------------------------- tabular files
def _import_tabular(pool, path: Path, kind: str, opts: _Options, seen, report: ImportReport) -> FileReport:
    cols = readers.columns(path, kind)
    header_row = 1 if kind == "csv" else None
    spec, _ = pool.featurizer
    text_col = opts.text_column
    if text_col is None and not opts.features and spec and spec.get("kind") in TEXT_KINDS and spec.get("text_column") in cols:
        text_col = spec["text_column"]
    opts, text_col, recognised = _by_name(cols, opts, text_col, numeric_project=pool.dim is not None and text_col is None)
    for name in (opts.id_column, opts.label_column, text_col, *(opts.features or [])):
        if name is not None and name not in cols:
            raise IngestError(path, f"no column {name!r} (columns: {', '.join(cols)})", row=header_row, field=name)
    featurizer = None
    feat_cols: list[str] = []
    widths: dict[str, int] = {}
    if text_col is not None:
        featurizer = _text_featurizer(pool, path, text_col, opts)
    else:
        if opts.featurizer[0] is not None:
            raise IngestError(path, "--featurizer applies to a text column; name it with --text-column", row=header_row)
        _refuse_text_project(pool, path)
        skip = {opts.id_column, opts.label_column}
        feat_cols = opts.features or [c for c in cols if c not in skip]
        if not feat_cols:
            raise IngestError(path, "no feature columns (name them with --features, or use --text-column)", row=header_row)
        widths = _vector_widths(path, kind, feat_cols)

    need_scan = opts.eval_fraction > 0 or (text_col is not None and featurizer is None)
    is_eval = None
    total = None
    if need_scan:
        labels_all: list[str | None] = []
        texts_all: list[str] = []
        for chunk in readers.iter_records(path, kind, opts.chunk_rows):
            labels_all.extend(_label(rec.get(opts.label_column)) if opts.label_column else None for _, rec in chunk)
            if featurizer is None and text_col is not None:
                texts_all.extend(_texts(path, chunk, text_col))
        total = len(labels_all)
        if total == 0:
            raise IngestError(path, "no data rows")
        if opts.eval_fraction > 0:
            is_eval = _eval_mask(labels_all, opts.eval_fraction, opts.seed)
        if featurizer is None and text_col is not None:
            featurizer = _fit_text(pool, path, texts_all, text_col, opts)
            report.fitted_featurizer = True
        del labels_all, texts_all
    if text_col is None and pool.featurizer[0] is None and pool.dim is None:
        pool.set_featurizer({"kind": "numeric", "columns": feat_cols}, None)

    names = {"external_id": opts.id_column or "id", "label": opts.label_column}
    n_rows = n_eval = n_labeled = 0
    for chunk in readers.iter_records(path, kind, opts.chunk_rows):
        rows = np.fromiter((r for r, _ in chunk), dtype=np.int64, count=len(chunk))
        recs = [rec for _, rec in chunk]
        if featurizer is not None:
            X = featurizer.transform(_texts(path, chunk, text_col), on_batch=_embed_progress(path, n_rows, opts))
        else:
            X = _numeric(path, rows, recs, feat_cols, widths)
        labels = [_label(rec.get(opts.label_column)) for rec in recs] if opts.label_column else None
        ext = [_ext_id(path, int(r), rec.get(opts.id_column), opts.id_column) for r, rec in zip(rows, recs)] if opts.id_column else None
        if ext is not None:
            _check_seen(path, rows, ext, seen, opts.id_column)
        else:
            ext = _default_ids(path, rows)
        mask = is_eval[n_rows : n_rows + len(recs)] if is_eval is not None else None
        done = n_rows
        for split, sel in _parts(mask, opts.split, len(recs)):
            _add(pool, path, X, recs, ext, labels, split, rows, sel, fields=names)
            done += len(sel) if sel is not None else len(recs)
            if opts.progress is not None:
                opts.progress(str(path), done, total)
        n_rows += len(recs)
        n_eval += int(mask.sum()) if mask is not None else (len(recs) if opts.split == "eval" else 0)
        n_labeled += sum(lab is not None for lab in labels) if labels is not None else 0
    if n_rows == 0:
        raise IngestError(path, "no data rows")
    return FileReport(str(path), n_rows, n_eval, n_labeled, recognised)


def _by_name(cols: list[str], opts: _Options, text_col: str | None, numeric_project: bool):
    """Columns named ``id``, ``label`` and ``text`` play those roles unless a flag (or ``--features``) says otherwise.

    ``text`` is taken only where no ``--features`` are given and the project does not hold numeric
    features already. Returns the options for this file, its text column and ``{role: column}``.
    """
    listed = set(opts.features or [])
    found: dict[str, str] = {}
    for role, attr in (("id", "id_column"), ("label", "label_column")):
        if getattr(opts, attr) is None and role in cols and role not in listed:
            found[role] = role
    if text_col is None and "text" in cols and not opts.features and not numeric_project:
        text_col = found["text"] = "text"
    if not found:
        return opts, text_col, found
    return replace(opts, id_column=opts.id_column or found.get("id"), label_column=opts.label_column or found.get("label")), text_col, found


def _vector_widths(path: Path, kind: str, cols: list[str]) -> dict[str, int]:
    """JSONL feature fields holding a list of numbers (an embedding), by the first record: name -> length."""
    if kind != "jsonl":
        return {}
    first = next(iter(readers.iter_records(path, kind, 1)))[0][1]
    return {c: len(first[c]) for c in cols if isinstance(first.get(c), list)}


def _numeric(path: Path, rows: np.ndarray, recs: list[dict], cols: list[str], widths: dict[str, int]) -> np.ndarray:
    """Feature columns as float32 (list-valued JSONL fields spread over several); the slow path names the bad cell."""
    try:
        if widths:
            flat = [[x for c in cols for x in (rec[c] if c in widths else (rec[c],))] for rec in recs]
        else:
            flat = [[rec[c] for c in cols] for rec in recs]
        X = np.array(flat, dtype=np.float64)
    except (KeyError, ValueError, TypeError):
        X = None
    width = sum(widths.get(c, 1) for c in cols)
    if X is None or X.shape != (len(recs), width):
        for row, rec in zip(rows, recs):
            for c in cols:
                if c not in rec:
                    raise IngestError(path, "missing", row=int(row), field=c)
                values = rec[c] if c in widths else [rec[c]]
                if c in widths and (not isinstance(values, list) or len(values) != widths[c]):
                    got = f"{len(values)} numbers" if isinstance(values, list) else repr(values)
                    raise IngestError(path, f"expected a list of {widths[c]} numbers, got {got}", row=int(row), field=c)
                for v in values:
                    try:
                        if v is None or isinstance(v, (list, dict)) or (c in widths and isinstance(v, str)):
                            raise TypeError  # inside a list only real numbers count
                        float(v)
                    except (TypeError, ValueError):
                        raise IngestError(path, f"{v!r} is not a number", row=int(row), field=c) from None
        raise IngestError(path, "unreadable feature values", row=int(rows[0]))  # pragma: no cover
    with np.errstate(over="ignore"):
        X32 = X.astype(np.float32)
    bad = readers.first_nonfinite(X32)
    if bad is not None:
        r, j = bad
        c, k = _column_of(cols, widths, j)
        value = recs[r][c][k] if c in widths else recs[r][c]
        what = "is too large for float32" if np.isfinite(X[r, j]) else "is not a finite number"
        raise IngestError(path, f"{value!r} {what}", row=int(rows[r]), field=c if c not in widths else f"{c}[{k}]")
    return X32


def _column_of(cols: list[str], widths: dict[str, int], j: int) -> tuple[str, int]:
    """Which field (and position inside a list field) feature column ``j`` came from."""
    for c in cols:
        w = widths.get(c, 1)
        if j < w:
            return c, j
        j -= w
    raise IndexError(j)  # pragma: no cover


def _texts(path: Path, chunk: list[readers.Record], column: str) -> list[str]:
    """The text field of each record. JSON null is empty text; a missing field or a JSON list or object is an error."""
    texts = []
    for row, rec in chunk:
        if column not in rec:
            raise IngestError(path, "missing", row=row, field=column)
        value = rec[column]
        if isinstance(value, (list, dict)):
            raise IngestError(path, f"expected text, got a JSON {'list' if isinstance(value, list) else 'object'}",
                              row=row, field=column)
        texts.append("" if value is None else str(value))
    return texts


def _label(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _ext_id(path: Path, row: int, value: Any, column: str) -> str:
    text = "" if value is None else str(value)
    if not text.strip():
        raise IngestError(path, "empty id", row=row, field=column)
    return text


def _default_ids(path: Path, rows: np.ndarray) -> list[str]:
    """``<file name>:<row>`` for files without ids: traceable to the source row, and a second
    import of the same file is caught as duplicate ids instead of silently doubling the pool."""
    prefix = f"{path.name}:"
    return [prefix + str(r) for r in rows.tolist()]


def _check_seen(path: Path, rows: np.ndarray, ext: list[str], seen: dict[str, tuple[Path, int]], column: str) -> None:
    """Duplicate external ids within this import (all files), with both rows in the message."""
    for row, e in zip(rows, ext):
        prev = seen.get(e)
        if prev is not None:
            where = f"row {prev[1]}" if prev[0] == path else f"{prev[0]} row {prev[1]}"
            raise IngestError(path, f"id {e!r} repeats {where}", row=int(row), field=column)
        seen[e] = (path, int(row))


# ---------------------------------------------------------------- text featurizer
def _text_featurizer(pool, path: Path, column: str, opts: _Options):
    """The project's saved text featurizer; a new embedder (saved now); None for TF-IDF still to be fitted."""
    spec, state = pool.featurizer
    kind, model = opts.featurizer
    stored = stored_featurizer(spec, state)
    if stored is not None:
        check_same(pool.name, spec, kind, model)
        return stored
    if pool.dim is not None:
        raise IngestError(
            path, f"project {pool.name!r} already holds numeric features ({pool.dim} per example); it cannot take text"
        )
    if kind == "embed":
        from activeloop.ingest.embed import SentenceEmbedder

        embedder = SentenceEmbedder(model, text_column=column)
        pool.set_featurizer(embedder.spec(), None)  # inside the import's transaction
        return embedder
    return None


def _embed_progress(path: Path, rows_before: int, opts: _Options):
    """``on_batch`` for a featurizer: reports ``<path> (featurizing)`` texts done in this chunk."""
    if opts.progress is None:
        return None
    return lambda done, total: opts.progress(f"{path} (featurizing)", rows_before + done, rows_before + total)


def _refuse_text_project(pool, path: Path) -> None:
    spec, _ = pool.featurizer
    if spec and spec.get("kind") in TEXT_KINDS:
        raise IngestError(
            path, f"project {pool.name!r} featurizes the text column {spec.get('text_column')!r}; "
            "the file needs a text column (--text-column)"
        )


def _fit_text(pool, path: Path, texts: list[str], column: str, opts: _Options) -> TextFeaturizer:
    try:
        feat = TextFeaturizer.fit(texts, dim=opts.text_dim, seed=opts.seed, text_column=column)
    except ActiveloopError as exc:
        raise IngestError(path, str(exc), field=column) from None
    pool.set_featurizer(feat.spec(), feat.to_bytes())  # inside the import's transaction
    return feat


# ---------------------------------------------------------------- NumPy files
def _import_arrays(pool, path: Path, kind: str, opts: _Options, seen, report: ImportReport) -> FileReport:
    if opts.text_column or opts.features or opts.featurizer[0] is not None:
        raise IngestError(path, "--text-column, --featurizer and --features apply to CSV/JSONL files, not NumPy arrays")
    _refuse_text_project(pool, path)
    X, y, ids = readers.load_arrays(path, kind)
    row_shape = list(X.shape[1:])
    if X.ndim > 2:
        X = X.reshape(len(X), -1)
    n = len(X)
    bad = readers.first_nonfinite(X)
    if bad is not None:
        r, c = bad
        raise IngestError(path, f"{X[r, c]} is not a finite number", row=r, field=f"X[:, {c}]")
    labels = [readers.array_label(v) for v in y.tolist()] if y is not None else None
    ext = [str(v) for v in ids.tolist()] if ids is not None else None
    rows = np.arange(n, dtype=np.int64)
    if ext is not None:
        for i, e in enumerate(ext):
            if not e.strip():
                raise IngestError(path, "empty id", row=i, field="ids")
        _check_seen(path, rows, ext, seen, "ids")
    else:
        ext = _default_ids(path, rows)
    if pool.featurizer[0] is None and pool.dim is None:
        pool.set_featurizer({"kind": "array", "row_shape": row_shape}, None)
    mask = _eval_mask(labels if labels is not None else [None] * n, opts.eval_fraction, opts.seed) if opts.eval_fraction > 0 else None
    done = 0
    for split, sel in _parts(mask, opts.split, n):
        part_rows = rows if sel is None else sel
        for lo in range(0, len(part_rows), opts.chunk_rows):  # a progress tick per chunk
            part = part_rows[lo : lo + opts.chunk_rows]
            _add(pool, path, X, None, ext, labels, split, rows, part, fields=ARRAY_FIELDS)
            done += len(part)
            if opts.progress is not None:
                opts.progress(str(path), done, n)
    n_eval = int(mask.sum()) if mask is not None else (n if opts.split == "eval" else 0)
    n_labeled = sum(lab is not None for lab in labels) if labels is not None else 0
    return FileReport(str(path), n, n_eval, n_labeled)


# ---------------------------------------------------------------- shared
def _eval_mask(labels: list[str | None], fraction: float, seed: int) -> np.ndarray:
    """A random eval subset of ``round(fraction * n)`` rows, stratified by label where possible.

    Each label, and the unlabeled rows as a group of their own, keeps its share
    (scikit-learn's ``train_test_split(stratify=...)``); when some group is too small to
    stratify, the draw is plain random.
    """
    from sklearn.model_selection import train_test_split

    n = len(labels)
    mask = np.zeros(n, dtype=bool)
    n_eval = min(int(round(n * fraction)), n - 1)
    if n_eval <= 0:
        return mask
    keys = np.array(["\x00unlabeled" if lab is None else lab for lab in labels])
    rows = np.arange(n)
    try:
        _, chosen = train_test_split(rows, test_size=n_eval, stratify=keys, random_state=seed)
    except ValueError:  # a group of one row, or fewer eval rows than groups
        _, chosen = train_test_split(rows, test_size=n_eval, random_state=seed)
    mask[chosen] = True
    return mask


def _parts(mask: np.ndarray | None, split: str, n: int):
    """``(split, row selection or None for all)`` pairs to write; empty parts are left out."""
    if mask is None:
        return [(split, None)]
    out = []
    for name, sel in (("pool", np.flatnonzero(~mask)), ("eval", np.flatnonzero(mask))):
        if len(sel):
            out.append((name, sel))
    return out


def _add(pool, path: Path, X, payloads, ext, labels, split: str, rows: np.ndarray, sel, fields) -> None:
    """Check the selected rows and ``pool.add`` them; every error names the file's own row and field."""
    if sel is not None:
        X = X[sel]
        payloads = None if payloads is None else [payloads[i] for i in sel]
        ext = [ext[i] for i in sel]
        labels = None if labels is None else [labels[i] for i in sel]
        rows = rows[sel]
    X = validate.check_batch(pool, path, X, ext, labels, rows, fields)
    try:
        pool.add(X, payloads=payloads, external_ids=ext, labels=labels, split=split)
    except RowError as exc:  # the checks that need the database, e.g. an id already in the pool
        raise validate.file_error(exc, path, rows, fields) from None
