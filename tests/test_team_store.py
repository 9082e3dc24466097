"""A team on one store: a label retried while its first attempt is still in flight, and clocks with a timezone."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from activeloop.errors import LeaseError
from activeloop.store import Pool
from conftest import is_postgres

WAIT_S = 60  # a deadline on observable state, never a pause


def _waiting_on_locks(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND wait_event_type = 'Lock'"))


@pytest.mark.postgres
def test_a_retry_racing_its_first_attempt_under_one_key_returns_the_one_label(pg_database):
    """The connection dropped after COMMIT was sent, but the server still runs that transaction (it waits on a
    lock) when the retry starts: both pass the key check, one inserts; the other must return that label, not fail
    on the unique key (the app would then say "not saved" and the annotator would label the example again)."""
    with Pool.create(pg_database, "p", ["a", "b"]) as pool:
        eid = int(pool.add(np.eye(3, dtype=np.float32))[0])
    holder = sa.create_engine(pg_database, poolclass=sa.pool.NullPool)
    watcher = sa.create_engine(pg_database, poolclass=sa.pool.NullPool)
    got: dict[int, object] = {}

    def attempt(n: int) -> None:
        with Pool.open(pg_database) as mine:
            try:
                got[n] = mine.label(eid, "b", annotator="ana", key="one-keystroke")
            except Exception as exc:  # noqa: BLE001 - recorded for the assertion below
                got[n] = exc

    with holder.connect() as lock, lock.begin():  # both attempts wait on the example's row lock
        lock.execute(sa.text("SELECT id FROM examples WHERE id = :i FOR UPDATE"), {"i": eid})
        threads = [threading.Thread(target=attempt, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + WAIT_S
        while _waiting_on_locks(watcher) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _waiting_on_locks(watcher) == 2
    for t in threads:
        t.join(WAIT_S)
    holder.dispose()
    watcher.dispose()
    assert not isinstance(got[0], Exception) and not isinstance(got[1], Exception), got
    assert got[0] == got[1]
    with Pool.open(pg_database) as pool:
        assert pool.label_count() == 1 and pool.current_label(eid) == "b"


def _non_utc_session(url: str) -> str:
    """The same database, its sessions' TimeZone set to one that is not UTC (as a team's server may have it)."""
    if not is_postgres(url):
        return url
    parsed = make_url(url)
    options = " ".join(filter(None, [parsed.query.get("options"), "-ctimezone=America/New_York"]))
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


def test_a_lease_taken_with_a_timezone_aware_clock_is_live_and_expires_for_everyone_else(store_url):
    """One process's clock gives aware UTC times, another's naive UTC ones (the stored form), at the same instants."""
    url = _non_utc_session(store_url)
    start = datetime(2024, 3, 10, 6, 59, 30)  # just before 07:00 UTC (US clocks sprang forward at 02:00 local)
    naive = {"now": start}
    with Pool.create(url, "p", ["a", "b"]) as setup:
        ids = [int(i) for i in setup.add(np.eye(3, dtype=np.float32))]
    ana = Pool.open(url, clock=lambda: naive["now"].replace(tzinfo=UTC))
    bob = Pool.open(url, clock=lambda: naive["now"])
    carl = Pool.open(url, clock=lambda: naive["now"].replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=-4))))
    try:
        assert ana.lease(ids[:1], annotator="ana", strategy="s", ttl=60) == ids[:1]
        naive["now"] = start + timedelta(seconds=59)
        assert [x.expires_at for x in bob.active_leases()] == [start + timedelta(seconds=60)]
        with pytest.raises(LeaseError, match="leased to 'ana'"):
            bob.label(ids[0], "a", annotator="bob")
        with pytest.raises(LeaseError, match="leased to 'ana'"):
            carl.label(ids[0], "a", annotator="carl")
        assert carl.lease(ids[:2], annotator="carl", strategy="s", ttl=60) == ids[1:2]
        naive["now"] = start + timedelta(seconds=61)
        assert [x.annotator for x in ana.active_leases()] == ["carl"]
        bob.label(ids[0], "b", annotator="bob")  # ana's lease lapsed: taken over
        assert bob.current_label(ids[0]) == "b"
    finally:
        for pool in (ana, bob, carl):
            pool.close()


@pytest.mark.postgres
def test_a_query_state_sees_an_imports_labels_committed_after_a_newer_label(pg_database):
    """An import with labels runs in one long transaction; an annotator's label (a higher id) commits first."""
    rng = np.random.default_rng(0)
    with Pool.create(pg_database, "p", ["a", "b"]) as setup:
        first = int(setup.add(rng.normal(size=(4, 3)))[0])
    with Pool.open(pg_database) as ana, Pool.open(pg_database) as importer:
        ana.query_state("ana")  # a session's query state, kept up to date from here on
        with importer.transaction():
            importer.add(rng.normal(size=(200, 3)), labels=["b"] * 200)
            ana.label(first, "a", annotator="ana")
            assert list(ana.query_state("ana")[2]) == [1, 0]
        _, excluded, counts = ana.query_state("ana")
        labeled, _ = ana.labeled()
        assert list(counts) == [1, 200] == [ana.class_counts()["a"], ana.class_counts()["b"]]
        assert set(labeled) <= set(excluded.tolist())
