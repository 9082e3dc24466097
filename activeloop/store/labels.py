"""The label log: current labels (newest unretracted per example), recording under an idempotency key, retraction, export.

Functions over a caller's connection; they never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from activeloop.store import tables

EX = tables.examples
LB = tables.labels
CL = tables.classes


def has_label(example_id_col) -> sa.Exists:
    """The example has an unretracted label."""
    return sa.exists().where(LB.c.example_id == example_id_col, LB.c.retracted_at.is_(None))


def current(project_id: int, *, split: str | None = None, ids: list[int] | None = None) -> sa.Select:
    """Newest unretracted label per example, joined to its class and example."""
    newest = (
        sa.select(sa.func.max(LB.c.id))
        .where(LB.c.retracted_at.is_(None))
        .group_by(LB.c.example_id)
    )
    if ids is not None:
        newest = newest.where(LB.c.example_id.in_(ids))
    stmt = (
        sa.select(LB.c.example_id, CL.c.position)
        .join(CL, CL.c.id == LB.c.class_id)
        .join(EX, EX.c.id == LB.c.example_id)
        .where(LB.c.id.in_(newest), EX.c.project_id == project_id)
    )
    if split is not None:
        stmt = stmt.where(EX.c.split == split)
    return stmt


def current_name(conn, project_id: int, example_id: int) -> str | None:
    """The class name of the example's current label, None when unlabeled."""
    return conn.scalar(current(project_id, ids=[int(example_id)]).with_only_columns(CL.c.name))


def by_key(s: Connection, key: str) -> int | None:
    """The id of the label written with idempotency ``key``, None when there is none yet."""
    return s.scalar(sa.select(LB.c.id).where(LB.c.idempotency_key == key))


def once(writer: Engine, key: str, write: Callable[[Connection], int]) -> int:
    """The id of the label with idempotency ``key``: the one written already, else ``write(s)``'s, in one transaction.

    A retry can race its own first attempt (the connection dropped after COMMIT was sent while the server
    still runs that transaction, waiting on a lock): both find no label under ``key``, and the insert that
    commits second breaks its unique index. That attempt returns the label the other wrote.
    """
    try:
        with writer.begin() as s:
            found = by_key(s, key)
            return found if found is not None else write(s)
    except sa.exc.IntegrityError:
        with writer.connect() as conn:
            found = by_key(conn, key)
        if found is None:
            raise
        return found


def record(s: Connection, example_id: int, class_id: int, *, annotator: str, source: str, round: int | None, key: str,
           now: datetime) -> int:
    """Append a label row under idempotency ``key``; returns its id."""
    return s.execute(
        sa.insert(LB).values(example_id=int(example_id), class_id=class_id, annotator=annotator, source=source,
                             round=round, created_at=now, idempotency_key=key)
    ).inserted_primary_key[0]


def newest(s: Connection, project_id: int, annotator: str) -> tuple[int, int] | None:
    """``(label id, example id)`` of ``annotator``'s newest unretracted label, None if none."""
    row = s.execute(
        sa.select(LB.c.id, LB.c.example_id)
        .join(EX, EX.c.id == LB.c.example_id)
        .where(EX.c.project_id == project_id, LB.c.annotator == annotator, LB.c.retracted_at.is_(None))
        .order_by(LB.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row.id, row.example_id)


def retract(s: Connection, label_id: int, now: datetime) -> None:
    """Retract one label (a label already retracted keeps its first retraction time)."""
    s.execute(sa.update(LB).where(LB.c.id == label_id, LB.c.retracted_at.is_(None)).values(retracted_at=now))


def count(conn, project_id: int, annotator: str | None) -> int:
    """Unretracted labels, optionally of one annotator."""
    # Driven from the (small) label log, each row's project checked by primary key: a join lets
    # SQLite walk every example of the project instead (0.22 s at 1M examples).
    in_project = sa.exists().where(EX.c.id == LB.c.example_id, EX.c.project_id == project_id)
    stmt = sa.select(sa.func.count()).select_from(LB).where(LB.c.retracted_at.is_(None), in_project)
    if annotator is not None:
        stmt = stmt.where(LB.c.annotator == annotator)
    return conn.scalar(stmt)


def export_rows(conn, project_id: int) -> list[dict[str, Any]]:
    """Current labels with their example, annotator, source and time, ordered by example id."""
    stmt = (
        current(project_id)
        .with_only_columns(
            EX.c.id, EX.c.external_id, EX.c.split, CL.c.name, LB.c.annotator, LB.c.source, LB.c.created_at
        )
        .order_by(EX.c.id)
    )
    return [
        {
            "example_id": r[0],
            "external_id": r[1],
            "split": r[2],
            "label": r[3],
            "annotator": r[4],
            "source": r[5],
            "labeled_at": r[6].isoformat(sep=" ", timespec="seconds"),
        }
        for r in conn.execute(stmt)
    ]
