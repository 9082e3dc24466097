"""Adding examples: the store's own integrity checks and the bulk write of one batch.

Functions over a caller's connection; they never commit. A refused row raises
:class:`~activeloop.errors.RowError` with its index in the batch (ingest renames it to the
file's row); ``where`` names the project in messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from activeloop.errors import ActiveloopError, DimensionError, RowError
from activeloop.store.rows import LOOKUP_CHUNK, bind, bulk_insert, marks, existing_external_ids, inserted_ids
from activeloop.store import tables

EX = tables.examples
LB = tables.labels
INSERT_CHUNK = 50_000
EXTERNAL_ID_LEN = 500
COLUMNS = ["project_id", "external_id", "payload", "features", "split", "created_at"]


def as_features(X: Any, where: str) -> np.ndarray:
    """``X`` as a finite float32 matrix (checked at full precision, then stored as float32)."""
    try:
        X = np.asarray(X)
        if X.dtype != np.float32:
            X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ActiveloopError(f"{where}: features must be a 2-D array of numbers ({exc})") from None
    if X.ndim != 2:
        raise DimensionError(f"{where}: features must be 2-D, got shape {X.shape}")
    bad = first_bad_value(X)
    if bad is not None:
        row, col, reason = bad
        raise RowError(where, reason, row, str(col))
    return X.astype(np.float32, copy=False)


def first_bad_value(X: np.ndarray) -> tuple[int, int, str] | None:
    """``(row, column, reason)`` of the first value of a float32/float64 matrix that float32 cannot
    hold as a finite number, or None; then ``X.astype(np.float32)`` is safe."""
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        return int(row), int(col), f"{X[row, col]} is not a finite number"
    if X.dtype != np.float32:
        big = np.abs(X) > np.finfo(np.float32).max
        if big.any():
            row, col = np.argwhere(big)[0]
            return int(row), int(col), f"{X[row, col]} is too large for a 32-bit float"
    return None


def external_ids(conn: Connection, project_id: int, given: Sequence[Any] | None, n: int, where: str) -> list[str]:
    """The batch's external ids (default ``#<n>``), each storable and new to the project."""
    if given is None:
        start = conn.scalar(sa.select(sa.func.count()).select_from(EX).where(EX.c.project_id == project_id))
        ext = [f"#{start + i}" for i in range(n)]
    else:
        ext = [str(e) for e in given]
    seen: dict[str, int] = {}
    for row, e in enumerate(ext):
        if "\x00" in e or len(e) > EXTERNAL_ID_LEN:
            raise RowError(where, f"id {e[:40]!r} has a NUL character or more than {EXTERNAL_ID_LEN} characters",
                           row, "external_id")
        if e in seen:
            raise RowError(where, f"{e!r} repeats row {seen[e]}", row, "external_id")
        seen[e] = row
    clash = next((e for e in existing_external_ids(conn, EX, project_id, ext) if e in seen), None)
    if clash is not None:
        raise RowError(where, f"{clash!r} is already in the pool", seen[clash], "external_id")
    return ext


def insert(
    conn: Connection,
    project_id: int,
    X: np.ndarray,
    ext: list[str],
    *,
    payloads: Sequence[Any] | None,
    class_ids: Sequence[int | None] | None,
    split: str,
    annotator: str,
    now: datetime,
    where: str,
) -> np.ndarray:
    """Write the examples (and their import labels, ``class_ids[i]`` or None); returns their ids in order."""
    before = conn.scalar(sa.select(sa.func.coalesce(sa.func.max(EX.c.id), 0)))
    to_json = _json_checker(bind(conn, EX.c.payload), where)
    created = bind(conn, EX.c.created_at)(now)
    n = len(X)
    for lo in range(0, n, INSERT_CHUNK):
        rows = [
            (
                project_id,
                ext[i],
                None if payloads is None or payloads[i] is None else to_json(payloads[i], i),
                X[i].tobytes(),
                split,
                created,
            )
            for i in range(lo, min(n, lo + INSERT_CHUNK))
        ]
        bulk_insert(conn, EX, COLUMNS, rows)
    ids = inserted_ids(conn, EX, project_id, before, ext)
    if class_ids is not None:
        labels = [
            {"example_id": int(ids[i]), "class_id": cid, "annotator": annotator, "source": "import", "round": None,
             "created_at": now}
            for i, cid in enumerate(class_ids)
            if cid is not None
        ]
        if labels:
            conn.execute(sa.insert(LB), labels)
    return ids


# Plain driver SQL (a query reads its candidates' rows): by primary key alone (SQLite would
# otherwise walk the (project, split) index); the project is checked per row here.
_FEATURES = "SELECT id, project_id, features FROM examples WHERE id IN ({ids})"


def feature_blobs(conn: Connection, project_id: int, ids: Sequence[int]) -> dict[int, bytes]:
    """``{id: float32 bytes}`` (any bytes-like object) of those ``ids`` that belong to the project."""
    got: dict[int, bytes] = {}
    for lo in range(0, len(ids), LOOKUP_CHUNK):
        chunk = [int(i) for i in ids[lo : lo + LOOKUP_CHUNK]]
        for i, project, blob in conn.exec_driver_sql(_FEATURES.format(ids=marks(conn, len(chunk))), tuple(chunk)):
            if project == project_id:
                got[i] = blob
    return got


def column(conn: Connection, project_id: int, ids: Sequence[int], name: str) -> list[Any]:
    """Column ``name`` (``payload``, ``external_id``) of ``ids``, in that order (None for an id not in the project).

    Looked up by primary key alone, the project checked per row (as :func:`feature_blobs`): with the
    project in the ``WHERE``, SQLite would walk the project's index (every example) instead.
    """
    got: dict[int, Any] = {}
    for lo in range(0, len(ids), LOOKUP_CHUNK):
        chunk = [int(i) for i in ids[lo : lo + LOOKUP_CHUNK]]
        stmt = sa.select(EX.c.id, EX.c.project_id, EX.c[name]).where(EX.c.id.in_(chunk))
        got.update((i, value) for i, project, value in conn.execute(stmt) if project == project_id)
    return [got.get(int(i)) for i in ids]


def _json_checker(to_json, where: str):
    """``to_json`` that names the row whose payload cannot be stored as JSON."""

    def convert(value, row: int):
        try:
            return to_json(value)
        except (TypeError, ValueError) as exc:
            raise RowError(where, f"payload is not JSON-serialisable ({exc})", row, "payload") from None

    return convert
