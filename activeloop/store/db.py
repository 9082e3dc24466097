"""Engines and schema versions: SQLite pragmas, Alembic upgrades on open, clear refusals."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache, partial
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from activeloop.errors import DatabaseError, MissingExtraError, SchemaOutdatedError, SchemaTooNewError
from activeloop.store import faults
from activeloop.store.rows import run

if TYPE_CHECKING:
    from alembic.config import Config

CONNECT_TIMEOUT_S = 10
# SQLite checkpoints the WAL into the database file once it holds this many pages (default 1000). A
# 32-example lease dirties ~45 pages, mostly scattered leaves of the lease index, so at 1000 a next
# query paid a ~20 ms checkpoint every ~22 queries; at 10,000 one checkpoint writes each of those
# leaves once for ~220 queries (1M pool: mean next query 4.0-5.2 -> 2.8-3.0 ms, p90 6.6-7.3 -> 2.7-3.1 ms).
# The WAL file then keeps up to ~40 MB.
WAL_AUTOCHECKPOINT_PAGES = 10_000
WRITE = {"activeloop_write": True}


def normalize_url(url: str | Path) -> str:
    """A SQLAlchemy URL as given, or ``sqlite:///PATH`` for a plain file path."""
    text = str(url)
    return text if "://" in text else f"sqlite:///{text}"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other back ends and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def check_url(url: str) -> None:
    """Refuse a malformed URL and one whose driver is not installed, in one line that says what to do."""
    try:
        parsed = make_url(url)
        parsed.get_dialect().import_dbapi()
    except ModuleNotFoundError as exc:
        hint = ""
        if parsed.get_backend_name() == "postgresql":
            hint = '; pip install "activeloop[postgres]" and write the URL as postgresql+psycopg2://USER@HOST/DB'
        raise MissingExtraError(f"{parsed.render_as_string()}: its driver {exc.name!r} is not installed{hint}") from None
    except (ValueError, sa.exc.ArgumentError) as exc:  # a port that is not a number, an unknown dialect
        shown = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
        raise DatabaseError(f"{shown}: not a file path or a database URL ({exc})") from None


def make_engine(url: str | Path) -> Engine:
    """Create an engine that checks server connections before use and never shows SQL parameters in errors.

    On SQLite: WAL, foreign keys, a busy timeout and BEGIN IMMEDIATE for writes. On PostgreSQL: a
    connect timeout and a lock timeout as long as SQLite's busy timeout (both
    :func:`activeloop.store.faults.lock_seconds`, 30 s by default). A full disk, a read-only
    database and a lock timeout raise one-line errors (:mod:`activeloop.store.faults`).
    """
    url = normalize_url(url)
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    # A file connection does not drop: the ping (a SELECT 1 per checkout, two per query) is for servers only.
    common = {"pool_pre_ping": not is_sqlite, "hide_parameters": True}
    lock_ms = int(faults.lock_seconds() * 1000)
    if is_sqlite:
        # A file's pool, LIFO: a thread's next checkout gets the connection it returned, whose page cache is still
        # valid; FIFO (the default) alternated between the pooled connections once two were ever open (a retrain's
        # reader thread), and each then re-read the pages the other's writes invalidated. (An in-memory database
        # has one connection per thread, and no queue.)
        parsed = make_url(url)
        queued = issubclass(parsed.get_dialect().get_pool_class(parsed), sa.pool.QueuePool)
        lifo = {"pool_use_lifo": True} if queued else {}
        engine = sa.create_engine(url, connect_args={"timeout": lock_ms / 1000}, json_serializer=_json_dumps,
                                  **lifo, **common)
        event.listen(engine, "connect", partial(_sqlite_connect, lock_ms=lock_ms))
        event.listen(engine, "begin", _sqlite_begin)
    else:  # PostgreSQL's json type has no NaN/Infinity: those are stored as null there
        engine = sa.create_engine(url, json_serializer=_json_dumps_finite,
                                  connect_args={"connect_timeout": CONNECT_TIMEOUT_S}, **common)
        event.listen(engine, "connect", partial(_pg_connect, lock_ms=lock_ms))
    faults.install(engine, lock_timeout_s=lock_ms / 1000)
    return engine


def _json_default(obj):
    """NumPy scalars and arrays as plain JSON values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _json_dumps(obj) -> str:
    return json.dumps(obj, default=_json_default)


def _finite(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _finite(obj.tolist())
    return obj


def _json_dumps_finite(obj) -> str:
    return json.dumps(_finite(obj), default=_json_default, allow_nan=False)


def json_line(obj) -> str:
    """``obj`` as one line of strict JSON: NaN and infinities become null, numpy values plain ones."""
    return _json_dumps_finite(obj)


def _sqlite_connect(dbapi_connection, _record, *, lock_ms: int) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun by _sqlite_begin, not by pysqlite
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={lock_ms}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cursor.close()


def _pg_connect(dbapi_connection, _record, *, lock_ms: int) -> None:
    # A writer waiting on a lock gives up after the same time as SQLite's busy timeout (LockTimeoutError).
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = {lock_ms}")
    dbapi_connection.commit()


def _sqlite_begin(conn) -> None:
    # A write transaction takes the write lock up front, so it waits (busy_timeout) instead of
    # failing with "database is locked" when it later upgrades from a stale read snapshot.
    write = conn.get_execution_options().get("activeloop_write", False)
    run(conn, "BEGIN IMMEDIATE" if write else "BEGIN")  # on the driver: every SQLite transaction begins here


def migrations_dir() -> Path:
    """The Alembic environment and revisions: top-level ``migrations/``, installed as ``activeloop.migrations``."""
    return Path(str(files("activeloop.migrations")))


def alembic_config() -> Config:
    from alembic.config import Config  # Alembic is imported only to read or change a schema, not to open a current one

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


_REVISION = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*(?:None|[\"']([^\"']+)[\"'])", re.MULTILINE)


@lru_cache(maxsize=1)
def packaged_head() -> str | None:
    """The head revision read from the revision files' ``revision``/``down_revision`` lines, without Alembic.

    The one revision no other names as its ``down_revision``; None when that is not exactly one
    (then :func:`connect` asks Alembic). Kept equal to :func:`head_revision` by a test.
    """
    revisions, parents = set(), set()
    for path in (migrations_dir() / "versions").glob("*.py"):
        found = dict((key, value) for key, value in _REVISION.findall(path.read_text(encoding="utf-8")))
        if found.get("revision"):
            revisions.add(found["revision"])
            parents.add(found.get("down_revision") or None)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current_revision(engine: Engine) -> str | None:
    """The database's Alembic revision; DatabaseError when it is not an activeloop database."""
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            rev = MigrationContext.configure(conn).get_current_revision()
            tables = set(sa.inspect(conn).get_table_names())
    except sa.exc.DatabaseError as exc:
        if faults.classify(exc) is not None:
            raise  # the server is away, the disk full, the file locked: not a verdict on what the database is
        if faults.refused(exc):
            raise DatabaseError(
                f"{faults.where(engine.url)}: the server refused the connection ({faults.first_line(exc)}); check the "
                "user, password and database name in the URL"
            ) from None
        raise DatabaseError(f"{engine.url.render_as_string()}: not an activeloop database ({faults.first_line(exc)})") from None
    if rev is None and tables - {"alembic_version"}:
        raise DatabaseError(
            f"{engine.url.render_as_string()}: not an activeloop database (it has tables but no activeloop schema)"
        )
    return rev


_MIGRATING = 0x61637476  # PostgreSQL advisory lock key held while a transaction migrates the schema


def _migrate(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    """Run Alembic's ``step`` to ``revision`` in one write transaction, one process at a time.

    SQLite's write transaction (BEGIN IMMEDIATE) already serialises it; on PostgreSQL an advisory lock
    does, so a second process opening the same old database waits, then finds it current.
    """
    cfg = alembic_config()
    with engine.execution_options(**WRITE).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATING})
        cfg.attributes["connection"] = conn
        step(cfg, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic revisions up to ``revision`` in one transaction."""
    from alembic import command

    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    _migrate(engine, command.downgrade, revision)


def connect(url: str | Path, *, create: bool = False, auto_upgrade: bool = True) -> Engine:
    """Open (or with ``create``, make) an activeloop database and bring its schema to head.

    Refuses a missing file, a file that is not an activeloop database, and a schema newer
    than this activeloop knows; an older schema is upgraded, or refused naming the command.
    """
    url = normalize_url(url)
    check_url(url)
    path = sqlite_path(url)
    if path is not None and not create and not path.exists():
        raise DatabaseError(f"{path}: no such database (create one with `activeloop init {path} ...`)")
    if path is not None and path.is_dir():
        raise DatabaseError(f"{path}: is a directory, not a database file")
    if path is not None and not path.parent.is_dir():
        raise DatabaseError(f"{path.parent}: no such directory (create it first, or name a file in a folder that exists)")
    # Recognise the database on a plain connection first: the engine's connect hook switches a
    # SQLite file to WAL, which must not happen to a file that turns out not to be ours.
    probe = sa.create_engine(url, poolclass=sa.pool.NullPool, hide_parameters=True)
    faults.install(probe)
    try:
        if _stamped(probe) == packaged_head() is not None:  # current: one SELECT, and Alembic is not imported
            return make_engine(url)
        rev = current_revision(probe)
    finally:
        probe.dispose()
    engine = make_engine(url)
    try:
        from alembic.script import ScriptDirectory

        head = head_revision()
        if rev is None and not create:
            raise DatabaseError(f"{display_name(url, path)}: not an activeloop database (no schema; use `activeloop init`)")
        if rev is not None and rev != head:
            known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
            if rev not in known:
                raise SchemaTooNewError(
                    f"{display_name(url, path)}: written by a newer activeloop (schema {rev}, this version knows up to "
                    f"{head}); upgrade activeloop to open it"
                )
            if not auto_upgrade:
                raise SchemaOutdatedError(
                    f"{display_name(url, path)}: schema {rev} is older than {head}; run `activeloop upgrade {display_name(url, path)}`"
                )
        if rev != head:
            upgrade(engine)
    except Exception:
        engine.dispose()
        raise
    return engine


def _stamped(engine: Engine) -> str | None:
    """The one revision in ``alembic_version``, or None for anything else (no such table, not a database, a
    fault): :func:`connect` then takes Alembic's path, which gives the verdict and the message."""
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except Exception:  # noqa: BLE001 - any failure is judged again, with its message, by current_revision
        return None
    return rows[0][0] if len(rows) == 1 else None


def display_name(url: str, path: Path | None) -> str:
    """How messages name a database: its file path, or its URL with the password hidden."""
    return str(path) if path is not None else make_url(url).render_as_string()
