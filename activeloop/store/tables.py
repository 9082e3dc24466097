"""The tables, in SQLAlchemy Core: what the Alembic revisions create (see the top-level ``migrations/``).

Queries, leases and stored scores run on these alone, so a process that only queries never imports
the ORM; :mod:`activeloop.store.schema` maps ORM classes onto the same tables for those who want them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (JSON, Column, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table,
                        UniqueConstraint)

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


def stored_time(t: datetime) -> datetime:
    """``t`` as times are stored, naive UTC: an aware time converted to UTC, a naive one taken as UTC already.

    A ``timestamp without time zone`` column would take an aware time in the PostgreSQL session's TimeZone.
    """
    return t if t.tzinfo is None else t.astimezone(UTC).replace(tzinfo=None)


metadata = MetaData(naming_convention=NAMING)


def _id() -> Column:
    return Column("id", Integer, primary_key=True)


def _fk(name: str, target: str, **kw) -> Column:
    return Column(name, Integer, ForeignKey(target, ondelete="CASCADE"), nullable=False, **kw)


def _created() -> Column:
    return Column("created_at", DateTime, nullable=False, default=utcnow)


projects = Table(
    "projects", metadata, _id(),
    Column("name", String(200), nullable=False, unique=True),
    Column("featurizer", JSON(none_as_null=True)),
    Column("featurizer_state", LargeBinary),
    Column("dim", Integer),
    _created(),
)

classes = Table(
    "classes", metadata, _id(),
    _fk("project_id", "projects.id", index=True),
    Column("name", String(200), nullable=False),
    Column("hotkey", String(16), nullable=False),
    Column("position", Integer, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_classes_project_name"),
)

examples = Table(
    "examples", metadata, _id(),
    _fk("project_id", "projects.id"),
    Column("external_id", String(500), nullable=False),
    Column("payload", JSON(none_as_null=True)),
    Column("features", LargeBinary, nullable=False),
    Column("split", String(8), nullable=False),
    _created(),
    UniqueConstraint("project_id", "external_id", name="uq_examples_project_external_id"),
    Index("ix_examples_project_split", "project_id", "split"),
)

# Append-only label log; the current label of an example is its newest unretracted row.
labels = Table(
    "labels", metadata, _id(),
    _fk("example_id", "examples.id"),
    _fk("class_id", "classes.id"),
    Column("annotator", String(200), nullable=False),
    Column("source", String(16), nullable=False),
    Column("round", Integer),
    _created(),
    Column("retracted_at", DateTime),
    # Chosen by the writer once per label, kept across its retries (revision 0003); null on imports.
    Column("idempotency_key", String(64)),
    Index("ix_labels_example_retracted", "example_id", "retracted_at"),
    Index("ix_labels_annotator", "annotator"),
    Index("uq_labels_idempotency_key", "idempotency_key", unique=True),
    Index("ix_labels_retracted_at", "retracted_at"),  # the few retracted rows (revision 0004)
)

# An example handed to an annotator: by which strategy, with which score, until when.
leases = Table(
    "leases", metadata, _id(),
    _fk("example_id", "examples.id"),
    Column("annotator", String(200), nullable=False),
    Column("strategy", String(200), nullable=False),
    Column("score", Float),  # as revision 0002 made it (2.1 maps float to Double)
    Column("round", Integer),
    _created(),
    Column("expires_at", DateTime, nullable=False),
    Column("released_at", DateTime),
    Column("outcome", String(16)),
    Index("ix_leases_example_released", "example_id", "released_at"),
    Index("ix_leases_annotator", "annotator"),
    Index("ix_leases_open", "released_at", "expires_at"),  # the open (unreleased, unexpired) ones (revision 0004)
)

# One retrain: its checkpoint (checksummed) and its metrics on the eval split.
rounds = Table(
    "rounds", metadata, _id(),
    _fk("project_id", "projects.id"),
    Column("number", Integer, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=False),
    Column("n_labels", Integer, nullable=False),
    Column("strategy", String(200)),
    Column("checkpoint", LargeBinary),
    Column("checkpoint_sha256", String(64)),
    Column("metrics", JSON(none_as_null=True)),
    Column("config", JSON(none_as_null=True)),
    UniqueConstraint("project_id", "number", name="uq_rounds_project_number"),
)

# A round's scores of the pool (a :mod:`activeloop.store.scores` blob), written with the round.
round_scores = Table(
    "round_scores", metadata, _id(),
    _fk("round_id", "rounds.id"),
    Column("key", String(200), nullable=False),
    Column("n", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    UniqueConstraint("round_id", "key", name="uq_round_scores_round_key"),
)
