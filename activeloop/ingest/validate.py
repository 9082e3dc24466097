"""Row checks of an import batch before it reaches the store: each error names file, row and field.

``rows`` holds each batch row's number in its file (see :mod:`activeloop.ingest.readers`) and
``fields`` maps the batch's parts (``features``, ``label``, ``external_id``) to the file's own
column names. The store keeps its own integrity checks; the ones that need the database (an id
already in the pool) come back as a :class:`~activeloop.errors.RowError`, renumbered by
:func:`file_error`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from activeloop.errors import IngestError, RowError
from activeloop.store.examples import EXTERNAL_ID_LEN, first_bad_value


def check_batch(
    pool: Any,
    path: Path,
    X: np.ndarray,
    ext: Sequence[str],
    labels: Sequence[str | None] | None,
    rows: np.ndarray,
    fields: Mapping[str, Any],
) -> np.ndarray:
    """Check a batch bound for ``pool.add``; returns ``X`` as float32."""
    X = features(path, X, rows)
    if pool.dim is not None and X.shape[1] != pool.dim:
        raise IngestError(path, f"{X.shape[1]} features per example, but project {pool.name!r} has {pool.dim}",
                          row=int(rows[0]), field=fields.get("features", "features"))
    external_ids(path, ext, rows, fields.get("external_id", "external_id"))
    if labels is not None:
        check_labels(path, labels, pool.classes, rows, fields.get("label", "label"))
    return X


def features(path: Path, X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``X`` as float32, every value finite and within float32's range."""
    if X.dtype != np.float32:
        X = np.asarray(X, dtype=np.float64)
    bad = first_bad_value(X)
    if bad is not None:
        row, col, reason = bad
        raise IngestError(path, reason, row=int(rows[row]), field=str(col))
    return X.astype(np.float32, copy=False)


def check_labels(path: Path, values: Sequence[str | None], classes: Sequence[str], rows: np.ndarray, field: str) -> None:
    """Every label is empty (None) or one of ``classes``."""
    known = set(classes)
    for row, lab in zip(rows.tolist(), values):
        if lab is not None and lab not in known:
            raise IngestError(path, f"{lab!r} is not one of the classes {list(classes)}", row=row, field=field)


def external_ids(path: Path, ext: Sequence[str], rows: np.ndarray, field: str) -> None:
    """Ids the store can hold: no NUL character, at most ``EXTERNAL_ID_LEN`` characters."""
    for row, e in zip(rows.tolist(), ext):
        if "\x00" in e or len(e) > EXTERNAL_ID_LEN:
            raise IngestError(path, f"id {e[:40]!r} has a NUL character or more than {EXTERNAL_ID_LEN} characters",
                              row=row, field=field)


def file_error(exc: RowError, path: Path, rows: np.ndarray, fields: Mapping[str, Any]) -> IngestError:
    """The store's refusal of batch row ``exc.row``, renamed to the file's row and column."""
    return IngestError(path, exc.reason, row=int(rows[exc.row]), field=fields.get(exc.field, exc.field))
