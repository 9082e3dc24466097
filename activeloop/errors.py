"""activeloop's own exceptions: every error a user can cause is one of these.

``NotFittedError`` is scikit-learn's own (``sklearn.exceptions.NotFittedError``), re-exported here
and loaded on first use so that importing this module stays light.
"""

from __future__ import annotations

from typing import Any


class ActiveloopError(Exception):
    """Base class for every error a user can cause; the CLI prints it in one line."""


class DatabaseError(ActiveloopError):
    """The database is missing, not an activeloop database, or of an unknown schema."""


class SchemaOutdatedError(DatabaseError):
    """The database schema is older than this activeloop and was not upgraded."""


class SchemaTooNewError(DatabaseError):
    """The database was written by a newer activeloop."""


class UnreachableError(DatabaseError):
    """The database server stayed unreachable for the whole retry budget."""


class DiskFullError(DatabaseError):
    """A write failed for want of space (a full disk or a file-size limit); it was rolled back."""


class ReadOnlyError(DatabaseError):
    """The database (file, directory or server) does not accept writes."""


class LockTimeoutError(DatabaseError):
    """Another writer held the database's lock for longer than the lock timeout."""


class LeaseError(ActiveloopError):
    """The example is leased to another annotator; ``holder`` and ``expires_at`` say who and until when."""

    def __init__(self, message: str, holder: str, expires_at=None):
        self.holder = holder
        self.expires_at = expires_at
        super().__init__(message)


class UnknownProjectError(ActiveloopError):
    """No project of that name in the database."""


class UnknownClassError(ActiveloopError):
    """A label that is not one of the project's classes."""


class DimensionError(ActiveloopError):
    """Feature vectors whose width differs from the project's."""


class PoolExhaustedError(ActiveloopError):
    """Fewer unlabeled examples than were requested; :meth:`of` builds it with the numbers."""

    project: str | None = None
    available: int | None = None
    requested: int | None = None

    @classmethod
    def of(
        cls, project: str, available: int, requested: int, *, annotator: str | None = None, split: str = "pool",
        held: int = 0, lease_ttl: float | None = None,
    ) -> "PoolExhaustedError":
        """``project 'tickets' has 4 unlabeled examples available to 'ana', 10 requested`` (eval: "unlabeled eval").

        ``held``: how many more are leased to ``annotator`` already; the message then says so, and
        that ``activeloop label`` resumes them or they expire ``lease_ttl`` seconds after their query.
        """
        what = "unlabeled examples" if split == "pool" else f"unlabeled {split} examples"
        to = "" if annotator is None else f" available to {annotator!r}"
        more = ""
        if held:
            expire = "expire" if lease_ttl is None else f"expire {lease_ttl / 60:g} min after their query"
            more = (f"; {held} more {'is' if held == 1 else 'are'} leased to {annotator!r} already "
                    f"(`activeloop label` resumes them, or the leases {expire})")
        err = cls(f"project {project!r} has {available} {what}{to}, {requested} requested{more}")
        err.project, err.available, err.requested = project, int(available), int(requested)
        return err


class CheckpointError(ActiveloopError):
    """A checkpoint that is truncated, tampered with, or not an activeloop checkpoint."""


class StrategyError(ActiveloopError):
    """An unknown strategy name, or a callable with the wrong signature."""


class RowError(ActiveloopError):
    """A row that ``Pool.add`` refused; ``row`` is its index in that call, ``field`` its column."""

    def __init__(self, where: str, message: str, row: int, field: str):
        self.row = row
        self.field = field
        self.reason = message
        super().__init__(f"{where} row {row}, field {field!r}: {message}")


class MissingExtraError(ActiveloopError):
    """An optional part of activeloop whose extra is not installed; the message names the pip command."""


class IngestError(ActiveloopError):
    """Bad input file; carries ``path``, ``row`` and ``field`` and names them in the message."""

    def __init__(self, path, message: str, row: int | None = None, field: str | None = None):
        self.path = str(path)
        self.row = row
        self.field = field
        self.reason = message
        where = self.path
        if row is not None:
            where += f" row {row}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


class ClusterError(ActiveloopError):
    """A dask cluster that cannot be used: the scheduler is unreachable or a worker cannot open the store (a missing extra is MissingExtraError)."""


def __getattr__(name: str) -> Any:
    if name == "NotFittedError":
        from sklearn.exceptions import NotFittedError

        return NotFittedError
    raise AttributeError(f"module 'activeloop.errors' has no attribute {name!r}")
