"""Shared fixtures: temporary SQLite files and a fresh database on each back end (SQLite, PostgreSQL).

PostgreSQL tests run against the server named by ``ACTIVELOOP_PG_URL`` (an admin URL such as
``postgresql+psycopg2://postgres@127.0.0.1:54329/postgres``); each test gets its own database,
created with a unique name and dropped afterwards. Without the variable they are skipped with a
visible reason, except under ``CI=true``, where a missing server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ENV = "ACTIVELOOP_PG_URL"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_pg_url() -> str:
    """The admin URL of the test PostgreSQL server; skips (fails under CI=true) when there is none."""
    url = os.environ.get(PG_ENV)
    if url:
        return url
    reason = f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg2://postgres@127.0.0.1:54329/postgres)"
    if _in_ci():
        pytest.fail(f"CI=true but {PG_ENV} is unset: {reason}", pytrace=False)
    pytest.skip(reason)


class PgServer:
    """Throw-away databases (and cheaper throw-away schemas) on the test server."""

    def __init__(self, admin_url: str):
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url

        self.admin_url = make_url(admin_url)
        self._admin = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with self._admin.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception as exc:  # a configured but unreachable server is an error, never a skip
            pytest.fail(f"{PG_ENV}={admin_url}: cannot connect to PostgreSQL: {exc}", pytrace=False)
        self._shared: str | None = None
        self._shared_engine = None

    @staticmethod
    def _unique(prefix: str) -> str:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        return f"{prefix}_{worker}_{uuid.uuid4().hex[:12]}"

    def create(self) -> str:
        """A new, empty database; its URL."""
        name = self._unique("activeloop_test")
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create_schema(self) -> str:
        """A new, empty schema in this session's database, as a URL whose search_path is that schema only.

        CREATE DATABASE costs ~0.4 s on a small server; a schema is just as empty (its own tables,
        sequences, alembic_version and locks) and costs a millisecond.
        """
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url

        if self._shared is None:
            self._shared = self.create()
            self._shared_engine = sa.create_engine(self._shared, isolation_level="AUTOCOMMIT",
                                                   poolclass=sa.pool.NullPool)
        schema = self._unique("t")
        with self._shared_engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        return make_url(self._shared).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )

    def drop_schema(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        schema = make_url(url).query["options"].split("=", 1)[1]
        with self._shared_engine.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle in transaction'"
            )
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def close(self) -> None:
        if self._shared is not None:
            self._shared_engine.dispose()
            self.drop(self._shared)
        self._admin.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer(require_pg_url())
    yield server
    server.close()


@pytest.fixture
def tmp_db(tmp_path: Path) -> Path:
    """A path for a new SQLite database file (not created yet)."""
    return tmp_path / "project.db"


def _fresh_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_schema()
    try:
        yield url
    finally:
        server.drop_schema(url)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database, once per back end: a SQLite file, then a PostgreSQL database."""
    yield from _fresh_url(request.param, request, tmp_path)


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[str]:
    """A whole new PostgreSQL database, for the few tests that need one."""
    url = pg_server.create()
    try:
        yield url
    finally:
        pg_server.drop(url)


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


@pytest.fixture(scope="session")
def workers():
    """A multiprocessing context whose processes fork from a server that has imported activeloop already.

    Worker functions live in ``tests/workers/``; a fork costs milliseconds where a fresh
    interpreter importing numpy, SQLAlchemy and scikit-learn costs seconds.
    """
    import multiprocessing
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["workers.team", "workers.crash", "workers.scores"])
    threads = {var: "1" for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    saved = {var: os.environ.get(var) for var in threads}
    os.environ.update(threads)  # for the server only: one BLAS thread per worker process
    try:
        forkserver.ensure_running()
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    return ctx
