"""ORM classes over :mod:`activeloop.store.tables`, for scripts and tests that want a ``Session``.

activeloop itself runs on SQLAlchemy Core alone (the tables), so opening a pool never imports the ORM.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from activeloop.store import tables
from activeloop.store.tables import NAMING, SOURCES, SPLITS, utcnow

__all__ = ["Base", "Project", "ClassDef", "Example", "Label", "Lease", "Round", "RoundScores", "NAMING", "SOURCES",
           "SPLITS", "utcnow"]


class Base(DeclarativeBase):
    metadata = tables.metadata


class Project(Base):
    __table__ = tables.projects


class ClassDef(Base):
    __table__ = tables.classes


class Example(Base):
    __table__ = tables.examples


class Label(Base):
    """Append-only label log; the current label of an example is its newest unretracted row."""

    __table__ = tables.labels


class Lease(Base):
    """An example handed to an annotator: by which strategy, with which score, until when."""

    __table__ = tables.leases


class Round(Base):
    """One retrain: its checkpoint (checksummed) and its metrics on the eval split."""

    __table__ = tables.rounds


class RoundScores(Base):
    """A round's scores of the pool (a :mod:`activeloop.store.scores` blob), written with the round."""

    __table__ = tables.round_scores
