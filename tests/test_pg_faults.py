"""A PostgreSQL server that restarts or kills connections under a labeling loop, on a server the test owns.

``pg_ctl restart -m fast`` and ``pg_terminate_backend`` need a server nobody else uses, so the
fixture starts its own from the Debian binaries (``/usr/lib/postgresql/*/bin``); where they are
missing the tests skip with that reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from activeloop import Pool
from activeloop.errors import DatabaseError, UnreachableError
from activeloop.query import QueryEngine
from activeloop.tui.app import UNREACHABLE, LabelApp
from tui_helpers import digits_pool, fast_loop, plain, settle, truth
from workers.team import HashModel

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def own_pg():
    """A throw-away PostgreSQL server of this module's own."""
    from activeloop.bench.pgserver import PgServer, pg_bin

    if pg_bin() is None:
        reason = "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin to start a restartable server"
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    server = PgServer()
    yield server
    server.stop()


@pytest.fixture
def own_db(own_pg):
    """A fresh database on the module's server; the server is up again afterwards whatever the test did."""
    name = f"faults_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(own_pg.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield own_pg.url.rsplit("/", 1)[0] + f"/{name}"
    try:
        own_pg.start()
    except subprocess.CalledProcessError:
        pass  # it was up
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _labels(url: str) -> list[tuple[int, str]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT example_id, annotator FROM labels ORDER BY id")).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_a_labeling_loop_carries_on_across_a_restart_and_a_killed_connection(own_pg, own_db):
    pool = Pool.create(own_db, "p", ["a", "b"])
    pool.add(np.random.default_rng(0).normal(size=(120, 4)).astype(np.float32))
    engine = QueryEngine(HashModel(2), strategy="margin", batch_size=10, diversity="none", random_state=0)
    cut: list[bool] = []  # every dropped connection the pool met (pre-ping included)
    sa.event.listen(pool._engine, "handle_error", lambda ctx: cut.append(ctx.is_disconnect))
    committed: list[int] = []
    restart = threading.Thread(target=own_pg.restart)
    for batch in range(6):
        for q in engine.query(pool, annotator="ana"):
            if batch == 1 and not restart.is_alive() and restart.ident is None:
                restart.start()  # the server goes down while this batch is being labeled
            if batch == 3 and len(committed) == 30:
                after_restart = cut.count(True)
                assert own_pg.terminate() >= 1  # the pool's idle connection is killed between two labels
            pool.label(q.example_id, pool.classes[q.example_id % 2], annotator="ana")
            committed.append(q.example_id)
        if batch == 1:
            restart.join()
    pool.close()
    assert after_restart >= 1 and cut.count(True) > after_restart  # both faults were met, and lived through
    assert len(committed) == 60
    rows = _labels(own_db)
    assert sorted(e for e, _ in rows) == sorted(committed)  # every committed label present, exactly once
    assert len(set(committed)) == 60


def test_a_retried_label_with_its_key_finds_its_own_row(own_db):
    """The retry after an ambiguous commit (it did commit, the reply was lost) writes nothing twice."""
    with Pool.create(own_db, "p", ["a", "b"]) as pool:
        ids = pool.add(np.eye(3, dtype=np.float32))
        first = pool.label(int(ids[0]), "b", annotator="ana", key="k-1")
        again = pool.label(int(ids[0]), "b", annotator="ana", key="k-1")
        assert again == first
        assert pool.label_count() == 1


def test_a_server_that_stays_down_is_one_clear_error_then_the_same_label_goes_through_once(own_pg, own_db):
    pool = Pool.create(own_db, "p", ["a", "b"], retry_seconds=0)
    ids = pool.add(np.eye(3, dtype=np.float32))
    own_pg.halt()
    with pytest.raises(UnreachableError, match=rf"127\.0\.0\.1:{own_pg.port}/.*unreachable.*ACTIVELOOP_RETRY_SECONDS"):
        pool.label(int(ids[1]), "a", annotator="ana", key="k-2")
    own_pg.start()
    pool.label(int(ids[1]), "a", annotator="ana", key="k-2")
    pool.label(int(ids[1]), "a", annotator="ana", key="k-2")
    pool.close()
    assert _labels(own_db) == [(int(ids[1]), "ana")]


def test_the_cli_says_the_server_is_unreachable_in_one_line(own_pg, own_db):
    Pool.create(own_db, "p", ["a", "b"]).close()
    own_pg.halt()
    proc = subprocess.run(
        [sys.executable, "-c", "from activeloop.cli import app; app(prog_name='activeloop')", "status", own_db],
        capture_output=True, text=True, env={**os.environ, "ACTIVELOOP_RETRY_SECONDS": "0"}, timeout=120,
    )
    own_pg.start()
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"error: PostgreSQL server 127.0.0.1:{own_pg.port}/") and "unreachable" in lines[0]


def test_the_app_keeps_a_keystroke_while_the_server_is_down_and_writes_it_once(own_pg, own_db):
    pool = digits_pool(own_db, n_pool=40, n_eval=10)
    app = LabelApp(pool, annotator="ana", batch=10, loop=fast_loop(pool, 10))

    async def scenario(pilot):
        await settle(pilot)
        shown = app.current.query.example_id
        digit = truth(pool, shown)
        own_pg.halt()
        await pilot.press(digit)
        assert app.current.query.example_id == shown  # kept, still shown, not lost
        assert app.note == UNREACHABLE and UNREACHABLE in plain(app.query_one("#status-text"))
        await pilot.press("s")  # nothing else happens before the kept label lands
        assert app.current.query.example_id == shown and app.session.pending[:2] == (shown, digit)
        own_pg.start()
        await settle(pilot)
        assert app.session.pending is None and app.note == ""
        assert app.current.query.example_id != shown
        await pilot.press(truth(pool, app.current.query.example_id))  # and labeling goes on
        return shown, digit

    async def main():
        async with app.run_test(size=(100, 40)) as pilot:
            return await scenario(pilot)

    shown, digit = asyncio.run(main())
    pool.close()
    rows = _labels(own_db)
    assert [r for r in rows if r[0] == shown] == [(shown, "ana")] and len(rows) == 10 + 2  # 10 eval labels imported
    with Pool.open(own_db) as again:
        assert again.current_label(shown) == digit


def test_a_server_that_refuses_is_not_waited_for(own_pg):
    """No such database: the server answered, so the error is immediate and names it (no 30 s of retries)."""
    missing = own_pg.url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(DatabaseError, match='database "no_such_database" does not exist') as refused:
        Pool.open(missing, retry_seconds=3600)
    assert not isinstance(refused.value, UnreachableError)
