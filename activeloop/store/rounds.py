"""Rounds: finished retrains with their checkpoint, metrics and config.

Functions over a caller's connection; they never commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from activeloop.errors import CheckpointError
from activeloop.store import scores as stored_scores
from activeloop.store import tables

RD = tables.rounds


@dataclass(frozen=True)
class RoundInfo:
    """A finished retrain round, as recorded (the checkpoint itself loads on demand)."""

    number: int
    n_labels: int
    strategy: str | None
    metrics: dict[str, Any]
    config: dict[str, Any]
    started_at: datetime
    finished_at: datetime
    has_checkpoint: bool

    @classmethod
    def from_row(cls, row: Any) -> RoundInfo:
        return cls(
            number=row.number,
            n_labels=row.n_labels,
            strategy=row.strategy,
            metrics=row.metrics or {},
            config=row.config or {},
            started_at=row.started_at,
            finished_at=row.finished_at,
            has_checkpoint=row.checkpoint_sha256 is not None,
        )


def latest_number(s: Connection, project_id: int) -> int | None:
    """The project's newest round number, None before the first round."""
    return s.scalar(sa.select(sa.func.max(RD.c.number)).where(RD.c.project_id == project_id))


def record(
    s: Connection,
    project_id: int,
    *,
    n_labels: int,
    strategy: str | None,
    checkpoint: bytes | None,
    metrics: dict[str, Any],
    config: dict[str, Any],
    started_at: datetime,
    now: datetime,
    scores: stored_scores.Scores | None = None,
) -> RoundInfo:
    """Add the next round (numbered under the project's row lock) with its checkpoint's sha256 and its scores.

    Exactly-once under retries: when the newest round already has this call's start time, label count
    and checkpoint sha256, an earlier attempt committed and only its reply was lost, so that round is
    returned and nothing is added. (``Loop.retrain`` stamps its start to the microsecond when it begins,
    so two real rounds never share all three.)
    """
    pj = tables.projects
    s.execute(sa.select(pj.c.id).where(pj.c.id == project_id).with_for_update())
    sha = None if checkpoint is None else hashlib.sha256(checkpoint).hexdigest()
    newest = _newest(s, project_id)
    if newest is not None and (newest.started_at, newest.n_labels, newest.checkpoint_sha256) == (started_at, n_labels, sha):
        return RoundInfo.from_row(newest)
    number = (newest.number if newest is not None else 0) + 1
    row = dict(project_id=project_id, number=number, started_at=started_at, finished_at=now, n_labels=n_labels,
               strategy=strategy, checkpoint=checkpoint, checkpoint_sha256=sha, metrics=metrics, config=config)
    round_id = s.execute(sa.insert(RD).values(**row)).inserted_primary_key[0]
    if scores is not None:
        stored_scores.save(s, round_id, scores.tied_to(number), project_id=project_id)
    return RoundInfo.from_row(SimpleNamespace(**row))


def _recorded(project_id: int) -> sa.Select:
    """A round's columns but its checkpoint."""
    return sa.select(*(c for c in RD.c if c.name != "checkpoint")).where(RD.c.project_id == project_id)


def _newest(conn, project_id: int) -> Any:
    """The newest round's row (checkpoint not read), None before the first."""
    return conn.execute(_recorded(project_id).order_by(RD.c.number.desc()).limit(1)).first()


def all_rounds(conn, project_id: int) -> list[RoundInfo]:
    """Every round of the project, oldest first (checkpoints not read)."""
    return [RoundInfo.from_row(r) for r in conn.execute(_recorded(project_id).order_by(RD.c.number))]


def latest(conn, project_id: int) -> RoundInfo | None:
    """The newest round (checkpoint not read), None before the first."""
    row = _newest(conn, project_id)
    return None if row is None else RoundInfo.from_row(row)


def load_checkpoint(conn, project_id: int, project_name: str, number: int | None) -> bytes | None:
    """The checkpoint of round ``number`` (default: the latest with one), checked against its sha256."""
    stmt = sa.select(RD.c.number, RD.c.checkpoint, RD.c.checkpoint_sha256).where(
        RD.c.project_id == project_id, RD.c.checkpoint.is_not(None)
    )
    stmt = stmt.where(RD.c.number == number) if number is not None else stmt.order_by(RD.c.number.desc())
    row = conn.execute(stmt.limit(1)).first()
    if row is None:
        return None
    if hashlib.sha256(row.checkpoint).hexdigest() != row.checkpoint_sha256:
        raise CheckpointError(
            f"project {project_name!r}: checkpoint of round {row.number} fails its sha256 check (truncated or tampered)"
        )
    return row.checkpoint
