"""Two processes opening the same old PostgreSQL database at once: one upgrades it, the other waits and opens it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from activeloop.store import Pool, db

pytestmark = pytest.mark.postgres

_OPEN = "import sys; from activeloop.store import Pool; p = Pool.open(sys.argv[1], project='p'); print(p.count())"


def _waiting(conn, n: int, deadline_s: float = 60.0) -> None:
    """Return once ``n`` other backends wait on a lock (a condition polled, not a guessed delay)."""
    end = time.monotonic() + deadline_s
    while conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE NOT granted").scalar() < n:
        assert time.monotonic() < end, f"fewer than {n} openers came to wait on a lock"
        time.sleep(0.05)


def test_two_processes_opening_an_old_database_at_once_upgrade_it_once(pg_database):
    with Pool.create(pg_database, "p", ["a", "b"]) as pool:
        pool.add([[0.0, 1.0]] * 5, labels=["a", "b", None, None, None])
    engine = db.make_engine(pg_database)
    db.downgrade(engine, "0001")
    # A transaction of ours holds the projects table: each opener's upgrade (0002 adds tables that
    # reference it) waits inside its own transaction, after reading the old revision.
    holder = engine.connect()
    holder.exec_driver_sql("BEGIN")
    holder.exec_driver_sql("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
    openers = [subprocess.Popen([sys.executable, "-c", _OPEN, pg_database], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        with engine.connect() as watch:
            _waiting(watch, 2)
    finally:
        holder.exec_driver_sql("ROLLBACK")
        holder.close()
    results = [(p.wait(timeout=120), *p.communicate()) for p in openers]
    assert [(rc, out.strip()) for rc, out, _ in results] == [(0, "5"), (0, "5")], [err for *_, err in results]
    assert db.current_revision(engine) == db.head_revision()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM labels")).scalar() == 2
    engine.dispose()
