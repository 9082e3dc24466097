"""The label log: current labels (newest unretracted per example), recording, undo and export.

Functions over a caller's ``Session`` or connection; they never commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from activeloop.store.schema import ClassDef, Example, Label

EX = Example.__table__
LB = Label.__table__


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
        sa.select(LB.c.example_id, ClassDef.position)
        .join(ClassDef, ClassDef.id == LB.c.class_id)
        .join(EX, EX.c.id == LB.c.example_id)
        .where(LB.c.id.in_(newest), EX.c.project_id == project_id)
    )
    if split is not None:
        stmt = stmt.where(EX.c.split == split)
    return stmt


def current_name(conn, project_id: int, example_id: int) -> str | None:
    """The class name of the example's current label, None when unlabeled."""
    return conn.scalar(current(project_id, ids=[int(example_id)]).with_only_columns(ClassDef.name))


def undo(s: Session, project_id: int, annotator: str, now: datetime) -> int | None:
    """Retract ``annotator``'s newest unretracted label; returns its example id (None if none)."""
    row = s.execute(
        sa.select(LB.c.id, LB.c.example_id)
        .join(EX, EX.c.id == LB.c.example_id)
        .where(EX.c.project_id == project_id, LB.c.annotator == annotator, LB.c.retracted_at.is_(None))
        .order_by(LB.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    s.execute(sa.update(LB).where(LB.c.id == row.id).values(retracted_at=now))
    return row.example_id


def count(conn, project_id: int, annotator: str | None) -> int:
    """Unretracted labels, optionally of one annotator."""
    stmt = (
        sa.select(sa.func.count())
        .select_from(LB.join(EX, EX.c.id == LB.c.example_id))
        .where(EX.c.project_id == project_id, LB.c.retracted_at.is_(None))
    )
    if annotator is not None:
        stmt = stmt.where(LB.c.annotator == annotator)
    return conn.scalar(stmt)


def export_rows(conn, project_id: int) -> list[dict[str, Any]]:
    """Current labels with their example, annotator, source and time, ordered by example id."""
    stmt = (
        current(project_id)
        .with_only_columns(
            EX.c.id, EX.c.external_id, EX.c.split, ClassDef.name, LB.c.annotator, LB.c.source, LB.c.created_at
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
