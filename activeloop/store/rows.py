"""Raw-driver helpers for the two hot paths, bulk inserts (import) and streamed reads (scoring), and
the id lookups around an insert. Functions over a caller's connection; they never commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from activeloop.store import faults

LOOKUP_CHUNK = 900  # ids per IN (...) lookup, under SQLite's bound-parameter limit


def bind(conn: Connection, column: sa.Column) -> Callable[[Any], Any]:
    """The driver-level converter SQLAlchemy would apply to ``column``'s values (identity if none)."""
    return _bind_processor(column.type, conn.dialect)


@lru_cache(maxsize=64)
def _bind_processor(type_: sa.types.TypeEngine, dialect: sa.engine.Dialect) -> Callable[[Any], Any]:
    return type_.dialect_impl(dialect).bind_processor(dialect) or _same


def _same(value: Any) -> Any:
    return value


def mark(conn: Connection) -> str:
    """The DBAPI's positional parameter marker (``?`` for sqlite3, ``%s`` for psycopg2)."""
    return _MARKS[conn.dialect.paramstyle]


def marks(conn: Connection, n: int) -> str:
    """``n`` parameter markers joined by commas, for an ``IN (...)`` of plain driver SQL."""
    return ", ".join([mark(conn)] * n)


_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def run(conn: Connection, sql: str, params: Any = (), *, many: bool = False) -> list[tuple]:
    """Plain driver SQL on ``conn`` (its transaction already begun), the rows as tuples.

    On SQLite straight on a DBAPI cursor: SQLAlchemy's execution and result objects cost 15-100 µs a
    statement against the driver's few, and a query runs several. A driver error is raised as the
    engine would raise it (:func:`driver_error`). On other back ends through ``exec_driver_sql``, whose
    error handling also invalidates a dropped connection for the retry.
    """
    if conn.dialect.name != "sqlite":
        result = conn.exec_driver_sql(sql, params)
        return result.all() if result.returns_rows else []
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        return cursor.fetchall()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise driver_error(conn, sql, exc) from None
    finally:
        cursor.close()


def driver_error(conn: Connection, sql: str, exc: Exception) -> Exception:
    """What the engine raises for a driver error: one of :func:`faults.translate`'s one-line errors, else
    SQLAlchemy's own ``DBAPIError`` subclass (never with the parameters)."""
    return faults.translate(exc, conn.engine.url, lock_timeout_s=faults.lock_seconds()) or sa.exc.DBAPIError.instance(
        sql, None, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True, dialect=conn.dialect)


def bulk_insert(conn: Connection, table: sa.Table, columns: list[str], rows: list[tuple]) -> None:
    """One driver ``executemany`` of already-converted rows: the import's only hot loop.

    SQLAlchemy's per-row parameter processing costs ~3x the insert itself at a million rows,
    so the values are converted once by the caller (with the columns' own bind processors) and
    the statement goes straight to the DBAPI cursor inside the same transaction.
    """
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks(conn, len(columns))})"
    conn.exec_driver_sql(sql, rows)


def stream_rows(conn: Connection, stmt: sa.Select, chunk_size: int) -> Iterator[list[tuple]]:
    """Chunks of plain row tuples straight from the DBAPI cursor.

    Building SQLAlchemy ``Row`` objects costs about half again the read itself at a million
    feature rows, so the hot scoring path compiles with SQLAlchemy and fetches with the driver.
    """
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(chunk_size):
            yield rows
    finally:
        cursor.close()


def inserted_ids(conn: Connection, table: sa.Table, project_id: int, before: int, ext: list[str]) -> np.ndarray:
    """Ids of the rows just inserted (all with ids above ``before``), in the order of ``ext``."""
    mine = sa.and_(table.c.project_id == project_id, table.c.id > before)
    n, lo, hi = conn.execute(sa.select(sa.func.count(), sa.func.min(table.c.id), sa.func.max(table.c.id)).where(mine)).one()
    if n == len(ext) and (n == 0 or (lo == before + 1 and hi == before + n)):
        return np.arange(before + 1, before + 1 + n, dtype=np.int64)  # contiguous: SQLite under its write lock
    by_ext = dict(conn.execute(sa.select(table.c.external_id, table.c.id).where(mine)).all())
    return np.fromiter((by_ext[e] for e in ext), dtype=np.int64, count=len(ext))


def existing_external_ids(conn: Connection, table: sa.Table, project_id: int, ext: list[str]) -> Iterator[str]:
    """External ids of the project that may clash with ``ext``.

    A small batch is looked up through the unique index; a large one streams the project's
    ids once, which is cheaper than thousands of lookups.
    """
    mine = table.c.project_id == project_id
    if len(ext) > 20 * LOOKUP_CHUNK:
        yield from conn.scalars(sa.select(table.c.external_id).where(mine))
        return
    for lo in range(0, len(ext), LOOKUP_CHUNK):
        yield from conn.scalars(sa.select(table.c.external_id).where(mine, table.c.external_id.in_(ext[lo : lo + LOOKUP_CHUNK])))


def resumable_rows(engine: sa.Engine, stmt: sa.Select, id_col: sa.Column, chunk_size: int,
                   retrying: Callable[[], Any]) -> Iterator[list[tuple]]:
    """:func:`stream_rows` of ``stmt`` ordered by ``id_col`` (its first column), from one read held open.

    After a dropped connection a new read starts past the last id handed out; each chunk gets
    the whole retry time of ``retrying()`` (a :func:`activeloop.store.faults.retrying`).
    """
    last, stream = None, None
    try:
        while True:
            for attempt in retrying():
                with attempt:
                    if stream is None:
                        part = stmt if last is None else stmt.where(id_col > last)
                        stream = _held_stream(engine, part.order_by(id_col), chunk_size)
                    try:
                        rows = next(stream, None)
                    except BaseException:
                        stream = None
                        raise
            if rows is None:
                return
            yield rows
            last = rows[-1][0]
    finally:
        if stream is not None:
            stream.close()


def _held_stream(engine: sa.Engine, stmt: sa.Select, chunk_size: int) -> Iterator[list[tuple]]:
    with engine.connect() as conn:
        yield from stream_rows(conn, stmt, chunk_size)
