"""Faults a team meets, in activeloop's own words: what failed, where, and what to do.

:func:`classify` sorts a driver error into a dropped connection (the server restarted, a
connection was killed, the server is not up yet), a full disk, a read-only database or a lock
held too long. :func:`install` makes an engine raise the last three as one-line
:class:`~activeloop.errors.DatabaseError` subclasses (never with SQL parameters). A dropped
connection is left for :func:`retrying`, which runs the whole unit of work again with backoff
for a bounded time and then raises :class:`~activeloop.errors.UnreachableError`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

from activeloop.errors import (
    ActiveloopError,
    DiskFullError,
    LockTimeoutError,
    ReadOnlyError,
    UnreachableError,
)

if TYPE_CHECKING:
    import tenacity

RETRY_ENV = "ACTIVELOOP_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 30.0
LOCK_ENV = "ACTIVELOOP_LOCK_SECONDS"
DEFAULT_LOCK_SECONDS = 30.0
FIRST_DELAY_S = 0.05
MAX_DELAY_S = 2.0

DISCONNECT = "disconnect"
DISK_FULL = "disk full"
READ_ONLY = "read-only"
LOCK_TIMEOUT = "lock timeout"

# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html); class 08 is a lost connection.
_PG_CODES = {
    "53100": DISK_FULL,  # disk_full
    "25006": READ_ONLY,  # read_only_sql_transaction (a hot standby, default_transaction_read_only)
    "55P03": LOCK_TIMEOUT,  # lock_not_available (lock_timeout ran out)
    "57P01": DISCONNECT,  # admin_shutdown: pg_terminate_backend, pg_ctl stop/restart -m fast
    "57P02": DISCONNECT,  # crash_shutdown
    "57P03": DISCONNECT,  # cannot_connect_now: starting up or shutting down
}
_REFUSALS = ("authentication failed", "does not exist", "no pg_hba.conf entry", "no password supplied")
_SQLITE_PREFIXES = (
    ("SQLITE_FULL", DISK_FULL),
    ("SQLITE_IOERR_WRITE", DISK_FULL),  # a write past RLIMIT_FSIZE fails with EFBIG, which SQLite reports so
    ("SQLITE_READONLY", READ_ONLY),
    ("SQLITE_BUSY", LOCK_TIMEOUT),
)


def classify(exc: BaseException) -> str | None:
    """The kind of fault behind ``exc`` (a SQLAlchemy or driver error), or None for any other error."""
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return DISCONNECT
        orig = exc.orig
    else:
        orig = exc
    name = getattr(orig, "sqlite_errorname", None)
    if name is not None:
        return next((kind for prefix, kind in _SQLITE_PREFIXES if name.startswith(prefix)), None)
    code = getattr(orig, "pgcode", None)
    if code:
        return DISCONNECT if code.startswith("08") else _PG_CODES.get(code)
    module = type(orig).__module__ or ""
    if module.startswith("psycopg") and type(orig).__name__ in ("OperationalError", "InterfaceError"):
        # no SQLSTATE: the client library itself failed (refused, reset, closed) — the server is away,
        # unless the server answered with a refusal that waiting does not change
        return None if refused(orig) else DISCONNECT
    return None


def refused(exc: BaseException) -> bool:
    """The server answered and turned the connection down (a wrong user, password or database name)."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    return (type(orig).__module__ or "").startswith("psycopg") and any(word in str(orig) for word in _REFUSALS)


def where(url: URL | str) -> str:
    """The database as a user names it: a SQLite file's path, or a server's host:port/database."""
    url = sa.engine.make_url(url)
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return f"PostgreSQL server {url.host or 'localhost'}:{url.port or 5432}/{url.database}"


def first_line(exc: BaseException) -> str:
    """The driver's own message, first line only (a SQLAlchemy error also carries the statement)."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def translate(exc: BaseException, url: URL | str, *, lock_timeout_s: float | None = None) -> ActiveloopError | None:
    """One-line error for a full disk, a read-only database or a lock timeout; None for anything else."""
    kind = classify(exc)
    at = where(url)
    if kind == DISK_FULL:
        return DiskFullError(
            f"{at}: disk full or file-size limit reached while writing ({first_line(exc)}); the transaction was "
            "rolled back and nothing was written; free some space and run it again"
        )
    if kind == READ_ONLY:
        return ReadOnlyError(
            f"{at}: the database is read-only ({first_line(exc)}); make the file and its directory writable "
            "for this user, or work on a writable copy"
        )
    if kind == LOCK_TIMEOUT:
        held = f" for over {lock_timeout_s:g} s" if lock_timeout_s else ""
        return LockTimeoutError(
            f"{at}: another process held the database lock{held} ({first_line(exc)}); nothing was written; "
            "run it again when that process (an import or a retrain) has finished"
        )
    return None


def describe(exc: BaseException) -> str:
    """One line for a database error no layer below named (a connection lost mid-import, a broken constraint)."""
    if classify(exc) == DISCONNECT:
        return (f"the database connection was lost ({first_line(exc)}); its transaction was not confirmed; "
                "check that the server is up and run the command again")
    return f"database error: {first_line(exc)}"


def install(engine: Engine, *, lock_timeout_s: float | None = None) -> None:
    """Make ``engine`` raise :func:`translate`'s errors in place of the driver's (connections are still invalidated)."""

    def handle(context) -> ActiveloopError | None:
        return translate(context.original_exception, engine.url, lock_timeout_s=lock_timeout_s)

    event.listen(engine, "handle_error", handle)


def retry_seconds(value: float | None = None) -> float:
    """How long to retry after a dropped connection: ``value``, else ``$ACTIVELOOP_RETRY_SECONDS``, else 30 s."""
    return _seconds(value, RETRY_ENV, DEFAULT_RETRY_SECONDS, "retry_seconds")


def lock_seconds() -> float:
    """How long a writer waits for another's lock: ``$ACTIVELOOP_LOCK_SECONDS``, else 30 s."""
    return _seconds(None, LOCK_ENV, DEFAULT_LOCK_SECONDS, LOCK_ENV)


def _seconds(value: float | None, env: str, default: float, what: str) -> float:
    if value is None:
        text = os.environ.get(env, "").strip()
        if not text:
            return default
        try:
            value = float(text)
        except ValueError:
            raise ActiveloopError(f"{env}={text!r}: not a number of seconds") from None
    if not value >= 0:
        raise ActiveloopError(f"{what} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def retrying(seconds: float, url: URL | str, *, sleep: Callable[[float], None] = time.sleep) -> tenacity.Retrying:
    """Run a unit of work again after a dropped connection, backing off exponentially, for at most ``seconds``.

    Call it on a function (``retrying(30, url)(fn, *args)``) or iterate it (``for attempt in ...:
    with attempt: ...``). Each attempt must be a whole transaction: it runs from the start again.
    Other faults are raised at once; once the time is up, :class:`UnreachableError` says so in one line.
    """
    import tenacity  # only once a connection has dropped (see call), or for a caller's own retry loop

    def give_up(state: tenacity.RetryCallState):
        raise _unreachable(url, seconds, state.outcome.exception()) from None

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(lambda exc: classify(exc) == DISCONNECT),
        stop=tenacity.stop_after_delay(seconds),
        wait=tenacity.wait_exponential(multiplier=FIRST_DELAY_S, max=MAX_DELAY_S),
        sleep=sleep,
        retry_error_callback=give_up,
    )


def _unreachable(url: URL | str, seconds: float, exc: BaseException) -> UnreachableError:
    return UnreachableError(
        f"{where(url)}: database unreachable for {seconds:g} s ({first_line(exc)}); check that the server is "
        f"running and reachable, or allow longer with {RETRY_ENV}"
    )


def call(seconds: float, url: URL | str, fn: Callable, *args, **kwargs):
    """``retrying(seconds, url)(fn, *args, **kwargs)``, without building the retry machinery until a first
    attempt has lost its connection (then the rest of ``seconds`` is retried as :func:`retrying` does)."""
    started = time.monotonic()
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        if classify(exc) != DISCONNECT:
            raise
        first = exc
    left = seconds - (time.monotonic() - started)
    if left <= 0:
        raise _unreachable(url, seconds, first) from None
    return retrying(left, url)(fn, *args, **kwargs)
