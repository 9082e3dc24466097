"""When a query's lease may skip its held check (SQLite): only when the check would have found nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from activeloop.errors import ActiveloopError
from activeloop.store import Pool

CLASSES = ["ok", "spam", "fraud"]


def test_a_query_lease_after_the_clock_stepped_back_checks_again_and_the_state_rereads_the_open_leases(tmp_path):
    """A lease the state read saw expired is live again once the clock steps back (an injected clock, or NTP
    stepping the wall clock): a release meanwhile leaves the open-lease count as the read left it, yet the
    example is bo's, and ana must not get it too."""
    now = [datetime(2026, 5, 1, 12, 0, 0)]
    pool = Pool.create(tmp_path / "p.db", "p", CLASSES, clock=lambda: now[0])
    other = Pool.open(tmp_path / "p.db", clock=lambda: now[0])  # another process
    ids = [int(i) for i in pool.add(np.zeros((4, 3)))]
    other.lease(ids[:1], annotator="bo", strategy="t", ttl=60)
    other.lease(ids[1:2], annotator="cy", strategy="t", ttl=600)
    now[0] += timedelta(seconds=120)  # bo's lease has expired
    assert pool.query_state("ana")[1].tolist() == ids[1:2]
    other.release(ids[1:2], annotator="cy")
    now[0] -= timedelta(seconds=120)  # back: bo's lease is live again
    assert pool.lease(ids[:1], annotator="ana", strategy="t") == []  # the check's answer
    assert pool.lease(ids[:1], annotator="ana", strategy="t", split="pool") == []
    excluded = pool.query_state("ana")[1]  # read again at the earlier time: bo's lease is back, cy's gone
    assert excluded.tolist() == ids[:1] and excluded.tolist() == pool.excluded_ids("ana").tolist()
    assert pool.lease(ids[:1], annotator="ana", strategy="t", split="pool") == []
    assert [le.annotator for le in pool.active_leases()] == ["bo"]
    other.close()
    pool.close()


def test_a_skip_after_the_lease_expired_is_seen_by_the_query_state_and_release_refuses_to_record_one(tmp_path):
    """Skips are rows of their own, which the query state follows; release(outcome="skipped") would only mark an
    expired row, unseen by it, so it is refused and changes nothing."""
    now = [datetime(2026, 5, 1, 12, 0, 0)]
    pool = Pool.create(tmp_path / "p.db", "p", CLASSES, clock=lambda: now[0])
    ids = [int(i) for i in pool.add(np.zeros((3, 3)))]
    pool.lease(ids[:1], annotator="ana", strategy="t", ttl=60)
    assert pool.query_state("ana")[1].tolist() == ids[:1]
    now[0] += timedelta(seconds=120)  # the lease has expired
    assert pool.query_state("ana")[1].tolist() == []
    with pytest.raises(ActiveloopError, match="call skip"):
        pool.release(ids[:1], annotator="ana", outcome="skipped")
    assert pool.excluded_ids("ana").tolist() == []
    pool.skip(ids[0], annotator="ana")
    assert pool.query_state("ana")[1].tolist() == ids[:1] == pool.excluded_ids("ana").tolist()
    assert pool.query_state("bo")[1].tolist() == [] == pool.excluded_ids("bo").tolist()
    pool.close()
