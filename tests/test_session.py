"""The labeling session's rules, without the app, on real temporary SQLite pools of sklearn digits."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tui_helpers import digits_file, fast_loop, truth

import activeloop as al
from activeloop.errors import ActiveloopError
from activeloop.session import LabelingSession
from activeloop.store import Pool


def session(pool: Pool, annotator: str = "ana", batch: int = 3, **kw) -> LabelingSession:
    return LabelingSession(pool, annotator, loop=fast_loop(pool, batch), batch=batch, **kw)


def active(pool: Pool, annotator: str) -> set[int]:
    return {lease.example_id for lease in pool.active_leases(annotator)}


@pytest.fixture
def path(tmp_path):
    return digits_file(tmp_path / "digits.db", eval_labels=False)


@pytest.fixture
def pool(path):
    with Pool.open(path) as p:
        yield p


def test_labeling_session_is_public():
    assert al.LabelingSession is LabelingSession


def test_batch_below_one_is_refused(pool):
    with pytest.raises(ActiveloopError, match="batch must be >= 1"):
        LabelingSession(pool, "ana", batch=0)


def test_a_retrain_is_due_every_batch_of_pool_labels_and_eval_labels_do_not_count(pool):
    s = session(pool, batch=3)
    picks = s.next_batch("pool", 6)
    s.extend("pool", picks)
    assert [p.origin for p in picks] == ["query"] * 6 and {p.split for p in picks} == {"pool"}
    for digit in ("0", "1"):
        s.label(s.take("pool").query.example_id, digit)
    assert (s.since_retrain, s.until_retrain, s.retrain_due) == (2, 1, False)
    (ev,) = s.next_batch("eval", 1)
    assert ev.split == "eval" and ev.query.strategy == "eval-random"
    s.label(ev.query.example_id, truth(pool, ev.query.example_id))
    assert (s.since_retrain, s.retrain_due, s.labeled) == (2, False, 3)
    s.label(s.take("pool").query.example_id, "2")
    assert s.retrain_due and s.counts["2"] == 1
    s.begin_retrain()
    assert s.retraining and not s.retrain_due and s.until_retrain == 3
    info = s.fit_round()
    s.label(s.take("pool").query.example_id, "3")  # labeled while the round trained: not in it
    s.after_round(info)
    assert info.n_labels == 3 and s.latest == info and not s.retraining
    assert (s.since_retrain, s.until_retrain, s.retrain_due) == (1, 2, False)
    for digit in ("4", "5"):
        s.label(s.take("pool").query.example_id, digit)
    assert s.retrain_due
    assert s.retrain().number == 2 and s.trained_on == 6 and not s.retrain_due


def test_without_auto_retrain_no_retrain_is_ever_due(pool):
    s = session(pool, batch=1, auto_retrain=False)
    s.extend("pool", s.next_batch())
    s.label(s.take("pool").query.example_id, "0")
    assert s.since_retrain == 1 and not s.retrain_due


def test_a_failed_round_keeps_the_model_and_waits_for_another_batch(pool):
    s = session(pool, batch=2)
    s.extend("pool", s.next_batch("pool", 4))
    model = s.loop.engine.model
    for _ in range(2):
        s.label(s.take("pool").query.example_id, "0")  # one class only: the round cannot train
    assert s.retrain_due
    with pytest.raises(ActiveloopError, match="at least 2 classes"):
        s.retrain()
    assert not s.retraining and s.loop.engine.model is model and pool.latest_round() is None
    assert s.since_retrain == 0 and not s.retrain_due
    for _ in range(2):
        s.label(s.take("pool").query.example_id, "1")
    assert s.retrain_due


def test_undo_retracts_the_label_and_leases_the_example_back(pool):
    s = session(pool)
    assert s.undo() is None  # nothing to undo yet
    s.extend("pool", s.next_batch("pool", 3))
    first = s.take("pool")
    s.label(first.query.example_id, "7")
    s.exhausted["pool"] = s.exhausted["eval"] = True
    assert first.query.example_id not in active(pool, "ana")  # the label closed the lease
    back = s.undo()
    assert back.query.example_id == first.query.example_id
    assert (back.origin, back.split, back.query.strategy) == ("undo", "pool", "undo")
    assert pool.current_label(first.query.example_id) is None
    assert s.labeled == 0 and s.counts["7"] == 0 and s.since_retrain == 0
    assert first.query.example_id in active(pool, "ana")
    assert s.exhausted == {"pool": False, "eval": False}  # there may be more to fetch now
    other = session(pool, "bob")
    assert first.query.example_id not in {p.query.example_id for p in other.next_batch("pool", 100)}
    s.label(back.query.example_id, "1")  # labeled again, counted again
    assert pool.current_label(first.query.example_id) == "1" and s.counts["1"] == 1 and s.labeled == 1


def test_a_reopened_session_resumes_the_annotators_leases_first(path):
    pool = Pool.open(path)
    first = session(pool)
    picks = first.next_batch("pool", 5) + first.next_batch("eval", 2)
    first.label(picks[0].query.example_id, truth(pool, picks[0].query.example_id))
    pool.close()

    pool = Pool.open(path)
    try:
        s = session(pool)
        bob = session(pool, "bob")
        assert bob.resume() == []  # someone else's leases are never resumed
        resumed = s.resume()
        assert [p.query.example_id for p in resumed] == [p.query.example_id for p in picks[1:]]
        assert [p.split for p in resumed] == ["pool"] * 4 + ["eval"] * 2
        assert {p.origin for p in resumed} == {"resumed"}
        assert [p.query.score for p in resumed[:4]] == pytest.approx([p.query.score for p in picks[1:5]])
        assert [p.query.example_id for p in s.queues["pool"]] == [p.query.example_id for p in picks[1:5]]
        s.extend("pool", s.next_batch("pool", 3))  # new picks come after the resumed ones
        assert [p.origin for p in s.queues["pool"]] == ["resumed"] * 4 + ["query"] * 3
    finally:
        pool.close()


def test_after_a_round_queued_picks_beyond_one_batch_are_released_unless_resumed_or_undone(path):
    pool = Pool.open(path)
    seed = pool.unlabeled_ids("pool")[:4]
    for eid in seed:  # four classes labeled by someone else: enough for a round
        pool.label(int(eid), truth(pool, int(eid)), annotator="seed")
    earlier = session(pool)
    earlier.extend("pool", earlier.next_batch("pool", 3))  # leases of an earlier session
    pool.close()

    pool = Pool.open(path)
    try:
        s = session(pool, batch=1)
        resumed = s.resume()
        s.extend("pool", s.next_batch("pool", 4))
        for p in (s.take("pool"), s.take("pool")):  # label two resumed picks, then undo both
            s.label(p.query.example_id, truth(pool, p.query.example_id))
        second = s.undo()
        s.put_back(second)  # shown, then put back (as the app does when the first undo comes next)
        first = s.undo()
        s.put_back(first)
        queue = [p.query.example_id for p in s.queues["pool"]]
        assert [p.origin for p in s.queues["pool"]] == ["undo", "undo", "resumed"] + ["query"] * 4
        fresh = queue[3:]

        info = s.retrain()  # after_round with no query in flight
        assert info.n_labels == 4
        assert [p.query.example_id for p in s.queues["pool"]] == queue[:3]
        assert not set(fresh) & active(pool, "ana")  # released: the new model chooses again
        assert set(queue[:3]) <= active(pool, "ana")
        assert queue[2] == resumed[2].query.example_id
    finally:
        pool.close()


def test_with_a_query_in_flight_no_pick_is_released(pool):
    s = session(pool, batch=1)
    for eid in pool.unlabeled_ids("pool")[:2]:
        pool.label(int(eid), truth(pool, int(eid)), annotator="seed")
    s.extend("pool", s.next_batch("pool", 4))
    queued = [p.query.example_id for p in s.queues["pool"]]
    s.begin_retrain()
    assert s.after_round(s.fit_round(), fetch_in_flight=True) == []
    assert [p.query.example_id for p in s.queues["pool"]] == queued and set(queued) <= active(pool, "ana")
    dropped = s.after_round(pool.latest_round())
    assert [p.query.example_id for p in dropped] == queued[1:]


def test_a_query_pick_whose_reason_reads_resumed_is_still_stale(pool):
    """Staleness is decided by where a pick came from, never by its display text."""
    s = session(pool, batch=1)
    for eid in pool.unlabeled_ids("pool")[:2]:
        pool.label(int(eid), truth(pool, int(eid)), annotator="seed")
    picks = [replace(p, query=replace(p.query, reason="resumed: looks old")) for p in s.next_batch("pool", 3)]
    s.extend("pool", picks)
    s.retrain()
    assert [p.query.example_id for p in s.queues["pool"]] == [picks[0].query.example_id]
    assert not {p.query.example_id for p in picks[1:]} & active(pool, "ana")


def test_two_annotators_never_share_an_example(path):
    ana_pool, bob_pool = Pool.open(path), Pool.open(path)  # two connections, as two processes would have
    try:
        ana, bob = session(ana_pool, "ana"), session(bob_pool, "bob")
        a = ana.next_batch("pool", 40) + ana.next_batch("eval", 10)
        b = bob.next_batch("pool", 40) + bob.next_batch("eval", 10)
        ids_a, ids_b = {p.query.example_id for p in a}, {p.query.example_id for p in b}
        assert len(ids_a) == len(ids_b) == 50 and not ids_a & ids_b
        ana.label(a[0].query.example_id, "0")
        back = ana.undo()  # re-leased to ana, so bob still cannot get it
        assert back.query.example_id == a[0].query.example_id
        rest = {p.query.example_id for p in bob.next_batch("pool", 200)}
        assert not rest & ids_a
    finally:
        ana_pool.close()
        bob_pool.close()
