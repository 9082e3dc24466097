"""Leases: which examples are handed to whom until when, and which were skipped.

Functions over a caller's connection; they never commit. ``now`` is passed in
(the Pool's clock), so expiry is testable without waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from activeloop.errors import LeaseError
from activeloop.store.labels import has_label
from activeloop.store.rows import LOOKUP_CHUNK, bind, mark, marks, run
from activeloop.store import tables

EX = tables.examples
LB = tables.labels
LS = tables.leases
PJ = tables.projects
# Plain driver SQL, filled in with the driver's parameter marker at each call (a string format, no
# statement compiling; the lease runs on every query), the datetimes converted by the columns' own
# bind processors.
_HELD_SQL = (  # one round trip: open leases (with their holder) and current labels (holder NULL)
    "SELECT example_id, annotator FROM leases{by_example} WHERE example_id IN ({ids}) AND released_at IS NULL "
    "AND expires_at > {m} UNION ALL SELECT example_id, NULL FROM labels WHERE example_id IN ({ids}) "
    "AND retracted_at IS NULL")
# SQLite's planner, without statistics, would walk ix_leases_open (every open lease) instead of
# looking the few ids up by example; PostgreSQL plans by its statistics.
_BY_EXAMPLE = {"sqlite": " INDEXED BY ix_leases_example_released"}
_INSERT_SQL = (  # the round is read by the insert itself (no statement of its own)
    "INSERT INTO leases (example_id, annotator, strategy, score, round, created_at, expires_at) VALUES "
    "({m}, {m}, {m}, {m}, (SELECT max(number) FROM rounds WHERE project_id = {m}), {m}, {m})")
_CLOSE = (sa.update(LS).where(LS.c.example_id.in_(sa.bindparam("ids", expanding=True)),
                              LS.c.annotator == sa.bindparam("who"), LS.c.released_at.is_(None))
          .values(released_at=sa.bindparam("at", type_=LS.c.released_at.type), outcome=sa.bindparam("outcome")))
_CLOSE_LIVE = _CLOSE.where(LS.c.expires_at > sa.bindparam("now", type_=LS.c.expires_at.type))  # unexpired only


@dataclass(frozen=True)
class LeaseInfo:
    example_id: int
    annotator: str
    strategy: str
    score: float | None
    expires_at: datetime


def is_active(now: datetime) -> sa.ColumnElement[bool]:
    """A lease that is neither released nor expired at ``now``."""
    return sa.and_(LS.c.released_at.is_(None), LS.c.expires_at > now)


def lease(
    conn: Connection,
    project_id: int,
    ids: Sequence[int],
    *,
    annotator: str,
    strategy: str,
    scores: Sequence[float] | None,
    ttl: float,
    now: datetime,
    known_free: Callable[[Connection, list[int], Any], bool] | None = None,
) -> tuple[list[int], Written | None]:
    """Lease the ``ids`` that are neither labeled nor leased to someone else to ``annotator``.

    Returns those ids, and on SQLite the lease rows written (:class:`Written`; None elsewhere, or when
    none was). An id ``annotator`` holds already is returned again without a second lease, so a lease
    call retried after an ambiguous commit hands back what the first attempt took. ``known_free(conn, ids,
    now)``: True when, under this transaction's lock, the ids are known to be neither labeled nor leased
    at ``now`` (the database's form): the check is then not run.
    """
    ids = [int(i) for i in ids]
    if conn.dialect.name != "sqlite":  # serialises leasing per project; SQLite's BEGIN IMMEDIATE already does
        conn.execute(sa.select(PJ.c.id).where(PJ.c.id == project_id).with_for_update())
    at = bind(conn, LS.c.expires_at)
    now_db, until = at(now), at(now + timedelta(seconds=ttl))
    taken, mine = set(), set()
    checks = range(0) if known_free is not None and known_free(conn, ids, now_db) else range(0, len(ids),
                                                                                          LOOKUP_CHUNK // 2)
    for lo in checks:  # each id is bound twice
        chunk = ids[lo : lo + LOOKUP_CHUNK // 2]
        lock_examples(conn, chunk)
        sql = _HELD_SQL.format(ids=marks(conn, len(chunk)), m=mark(conn),
                               by_example=_BY_EXAMPLE.get(conn.dialect.name, ""))
        for eid, holder in run(conn, sql, (*chunk, now_db, *chunk)):
            (mine if holder == annotator else taken).add(eid)
    rows = [
        (i, annotator, strategy, None if scores is None else float(scores[k]), project_id, now_db, until)
        for k, i in enumerate(ids)
        if i not in taken and i not in mine
    ]
    written = None
    if rows:  # one executemany
        run(conn, _INSERT_SQL.format(m=mark(conn)), rows, many=True)
        if conn.dialect.name == "sqlite":  # under the write lock each row took the next id: they are contiguous
            last = run(conn, "SELECT last_insert_rowid()")[0][0]
            written = Written(last - len(rows) + 1, [r[0] for r in rows], annotator, until, until > now_db)
    return [i for i in ids if i not in taken], written


@dataclass(frozen=True)
class Written:
    """Lease rows one :func:`lease` wrote: ids ``first`` on, one per example of ``examples``; ``expires`` in the
    database's own form; ``open``: unexpired when written."""

    first: int
    examples: list[int]
    annotator: str
    expires: Any
    open: bool


def lock_examples(s: Connection, ids: Sequence[int]) -> None:
    """Row-lock the examples on PostgreSQL (a no-op on SQLite, whose writers are serialised already).

    A label and a lease of the same example take this lock first, so a label never slips in
    between a lease's check and its insert, nor a lease between a label's check and its insert.
    """
    if s.dialect.name != "sqlite":
        s.execute(sa.select(EX.c.id).where(EX.c.id.in_([int(i) for i in ids])).with_for_update())


def claim(s: Connection, example_id: int, annotator: str, now: datetime) -> None:
    """Before ``annotator`` labels the example: refuse another's live lease, take over a lapsed one.

    Raises
    ------
    LeaseError
        Another annotator's lease on the example is neither released nor expired at ``now``; or
        ``annotator``'s lease lapsed and another annotator took the example over and labeled it.
    """
    lock_examples(s, [example_id])
    rows = s.execute(  # every lease on the example, newest first: few, by ix_leases_example_released
        sa.select(LS.c.id, LS.c.annotator, LS.c.expires_at, LS.c.released_at, LS.c.outcome)
        .where(LS.c.example_id == int(example_id)).order_by(LS.c.id.desc())
    ).all()
    others = sorted((r for r in rows if r.released_at is None and r.annotator != annotator),
                    key=lambda r: r.expires_at, reverse=True)
    live = [r for r in others if r.expires_at > now]
    if live:
        holder, until = live[0].annotator, live[0].expires_at
        raise LeaseError(
            f"example {int(example_id)} is leased to {holder!r} until {until:%Y-%m-%d %H:%M:%S} UTC; "
            "label another one (it is theirs until then)", holder=holder, expires_at=until,
        )
    if others:
        s.execute(sa.update(LS).where(LS.c.id.in_([r.id for r in others])).values(released_at=now, outcome="taken over"))
    mine = next((r.outcome for r in rows if r.annotator == annotator), None)  # this annotator's newest lease
    if mine == "taken over":  # it lapsed, and another annotator took the example over
        _refuse_if_labeled_by_another(s, int(example_id), annotator)


def _refuse_if_labeled_by_another(s: Connection, example_id: int, annotator: str) -> None:
    """Refuse ``annotator``'s label when another annotator, who took the example over after their lease lapsed,
    labeled it: a key pressed on the example still on their screen must not write a second label over the other's."""
    by = s.execute(sa.select(LB.c.annotator).where(LB.c.example_id == example_id, LB.c.retracted_at.is_(None))
                   .order_by(LB.c.id.desc()).limit(1)).first()
    if by is not None and by.annotator != annotator:
        raise LeaseError(
            f"example {example_id} was labeled by {by.annotator!r} after your lease on it lapsed; "
            "their label stands, label another one", holder=by.annotator,
        )


def close(s: Connection, ids: Sequence[int], annotator: str, outcome: str, now: datetime) -> int:
    """End ``annotator``'s open leases on ``ids`` with ``outcome``; returns how many were open."""
    return s.execute(_CLOSE, {"ids": [int(i) for i in ids], "who": annotator, "at": now, "outcome": outcome}).rowcount


def skip(s: Connection, example_id: int, annotator: str, now: datetime) -> None:
    """Close ``annotator``'s live lease on the example as skipped, or record a skip row of its own.

    A lease that has already expired is left as it is: the skip gets its own new row, which every
    process following the lease log sees (an update of an expired row would change nothing it watches).
    """
    params = {"ids": [int(example_id)], "who": annotator, "at": now, "now": now, "outcome": "skipped"}
    if not s.execute(_CLOSE_LIVE, params).rowcount:
        s.execute(
            sa.insert(LS).values(
                example_id=int(example_id), annotator=annotator, strategy="manual", created_at=now,
                expires_at=now, released_at=now, outcome="skipped",
            )
        )


def active(conn, project_id: int, annotator: str | None, now: datetime) -> list[LeaseInfo]:
    """Unexpired, unreleased leases on unlabeled examples (of one annotator, or all), oldest first."""
    stmt = (
        sa.select(LS.c.example_id, LS.c.annotator, LS.c.strategy, LS.c.score, LS.c.expires_at)
        .join(EX, EX.c.id == LS.c.example_id)
        .where(EX.c.project_id == project_id, is_active(now), ~has_label(LS.c.example_id))
        .order_by(LS.c.id)
    )
    if annotator is not None:
        stmt = stmt.where(LS.c.annotator == annotator)
    return [LeaseInfo(*r) for r in conn.execute(stmt)]


def excluded_ids(conn, project_id: int, annotator: str | None, split: str, now: datetime) -> np.ndarray:
    """Ids not to hand out at ``now``: labeled, leased by anyone, or skipped by ``annotator``."""
    # Driven from the (small) label and lease tables, each row checked by primary key;
    # an IN over the split's ids would walk every example of the project.
    def in_split(col):
        return sa.exists().where(EX.c.id == col, EX.c.project_id == project_id, EX.c.split == split)

    labeled = sa.select(LB.c.example_id).where(LB.c.retracted_at.is_(None), in_split(LB.c.example_id))
    leased = sa.select(LS.c.example_id).where(is_active(now), in_split(LS.c.example_id))
    parts = [labeled, leased]
    if annotator is not None:
        parts.append(
            sa.select(LS.c.example_id).where(
                LS.c.annotator == annotator, LS.c.outcome == "skipped", in_split(LS.c.example_id)
            )
        )
    return np.unique(np.fromiter(conn.scalars(sa.union(*parts)), dtype=np.int64))
