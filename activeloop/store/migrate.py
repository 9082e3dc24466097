"""Bring an existing activeloop database's schema to this activeloop's head revision."""

from __future__ import annotations

from pathlib import Path

from activeloop.errors import DatabaseError
from activeloop.store import db


def upgrade(url: str | Path) -> tuple[str, str]:
    """Upgrade the database at ``url`` (a SQLAlchemy URL or a SQLite file path) to head.

    Returns ``(before, after)`` revisions; they are equal when it was already current. Raises
    :class:`~activeloop.errors.DatabaseError` for a missing file or one that is not an activeloop
    database, and :class:`~activeloop.errors.SchemaTooNewError` for a newer schema.
    """
    url = db.normalize_url(url)
    db.check_url(url)
    path = db.sqlite_path(url)
    if path is not None and not path.exists():
        raise DatabaseError(f"{path}: no such database")
    probe = db.make_engine(url)
    try:
        before = db.current_revision(probe)  # DatabaseError when it is not an activeloop database
    finally:
        probe.dispose()
    if before is None:
        raise DatabaseError(f"{db.display_name(url, path)}: not an activeloop database (no schema; use `activeloop init`)")
    db.connect(url, auto_upgrade=True).dispose()  # refuses a newer schema, upgrades an older one
    return before, db.head_revision()
