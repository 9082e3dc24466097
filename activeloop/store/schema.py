"""SQLAlchemy models: the tables Alembic revisions create (see the top-level ``migrations/``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Optional

from sqlalchemy import JSON, Float, ForeignKey, Index, LargeBinary, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SPLITS = ("pool", "eval")
SOURCES = ("human", "oracle", "import")


def utcnow() -> datetime:
    """Naive UTC now: the same wall clock on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    featurizer: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON(none_as_null=True))
    featurizer_state: Mapped[Optional[bytes]] = mapped_column(LargeBinary)
    dim: Mapped[Optional[int]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClassDef(Base):
    __tablename__ = "classes"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_classes_project_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    hotkey: Mapped[str] = mapped_column(String(16))
    position: Mapped[int]


class Example(Base):
    __tablename__ = "examples"
    __table_args__ = (
        UniqueConstraint("project_id", "external_id", name="uq_examples_project_external_id"),
        Index("ix_examples_project_split", "project_id", "split"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(500))
    payload: Mapped[Optional[Any]] = mapped_column(JSON(none_as_null=True))
    features: Mapped[bytes] = mapped_column(LargeBinary)
    split: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Label(Base):
    """Append-only label log; the current label of an example is its newest unretracted row."""

    __tablename__ = "labels"
    __table_args__ = (
        Index("ix_labels_example_retracted", "example_id", "retracted_at"),
        Index("ix_labels_annotator", "annotator"),
        Index("uq_labels_idempotency_key", "idempotency_key", unique=True),
        Index("ix_labels_retracted_at", "retracted_at"),  # the few retracted rows (revision 0004)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    example_id: Mapped[int] = mapped_column(ForeignKey("examples.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    annotator: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    round: Mapped[Optional[int]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retracted_at: Mapped[Optional[datetime]]
    # Chosen by the writer once per label, kept across its retries (revision 0003); null on imports.
    idempotency_key: Mapped[Optional[str]] = mapped_column(String(64))


class Lease(Base):
    """An example handed to an annotator: by which strategy, with which score, until when."""

    __tablename__ = "leases"
    __table_args__ = (
        Index("ix_leases_example_released", "example_id", "released_at"),
        Index("ix_leases_annotator", "annotator"),
        Index("ix_leases_open", "released_at", "expires_at"),  # the open (unreleased, unexpired) ones (revision 0004)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    example_id: Mapped[int] = mapped_column(ForeignKey("examples.id", ondelete="CASCADE"))
    annotator: Mapped[str] = mapped_column(String(200))
    strategy: Mapped[str] = mapped_column(String(200))
    score: Mapped[Optional[float]] = mapped_column(Float)  # as revision 0002 made it (2.1 maps float to Double)
    round: Mapped[Optional[int]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    released_at: Mapped[Optional[datetime]]
    outcome: Mapped[Optional[str]] = mapped_column(String(16))


class Round(Base):
    """One retrain: its checkpoint (checksummed) and its metrics on the eval split."""

    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("project_id", "number", name="uq_rounds_project_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    number: Mapped[int]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    n_labels: Mapped[int]
    strategy: Mapped[Optional[str]] = mapped_column(String(200))
    checkpoint: Mapped[Optional[bytes]] = mapped_column(LargeBinary)
    checkpoint_sha256: Mapped[Optional[str]] = mapped_column(String(64))
    metrics: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON(none_as_null=True))
    config: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON(none_as_null=True))


class RoundScores(Base):
    """A round's scores of the pool (a :mod:`activeloop.store.scores` blob), written with the round."""

    __tablename__ = "round_scores"
    __table_args__ = (UniqueConstraint("round_id", "key", name="uq_round_scores_round_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    n: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
