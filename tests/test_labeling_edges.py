"""Edge cases of the labeling path found in review: a lapsed lease taken over, faults between two steps.

Real SQLite files, an injected clock, Textual's pilot; assertions on what the database holds.
"""

from __future__ import annotations

import sqlite3

import pytest
from fake_clock import FakeClock
from tui_helpers import digits_file, drive, fast_loop, plain, settle, truth

from activeloop.errors import LeaseError
from activeloop.loop import Loop
from activeloop.model import FocalLossClassifier
from activeloop.session import LabelingSession
from activeloop.store import Pool
from activeloop.tui.app import LabelApp
from activeloop.tui.widgets import StatusPanel


@pytest.fixture
def path(tmp_path):
    return digits_file(tmp_path / "digits.db")




def test_a_label_on_an_example_another_annotator_took_over_and_labeled_is_refused(path):
    """ana's lease lapses while the example is on her screen; bob gets it and labels it; ana's key must not
    write a second label over bob's, nor count one that the database does not hold."""
    clock = FakeClock()
    with Pool.open(path, clock=clock) as ana_pool, Pool.open(path, clock=clock) as bob_pool:
        ana = LabelingSession(ana_pool, "ana", loop=fast_loop(ana_pool, 3), batch=3)
        ana.extend("pool", ana.next_batch("pool", 3))
        shown = ana.take("pool").query.example_id
        clock.advance(3600)  # her leases lapse (30 min)
        bob = LabelingSession(bob_pool, "bob", loop=fast_loop(bob_pool, 3), batch=3)
        assert shown in {p.query.example_id for p in bob.next_batch("pool", 100)}  # free again: bob gets it
        bob.label(shown, "3")
        with pytest.raises(LeaseError, match="bob"):
            ana.label(shown, "5")
        assert ana_pool.current_label(shown) == "3"
        assert [r["annotator"] for r in ana_pool.export_labels() if r["example_id"] == shown] == ["bob"]
        assert ana_pool.label_count(annotator="ana") == 0
        assert ana.counts == ana_pool.class_counts() and ana.labeled == 0 and ana.pending is None


def test_the_app_drops_an_example_taken_over_and_labeled_meanwhile_and_its_counts_stay_right(path):
    clock = FakeClock()
    pool = Pool.open(path, clock=clock)
    app = LabelApp(pool, annotator="ana", batch=10, loop=fast_loop(pool, 10))

    async def scenario(pilot):
        shown = app.current.query.example_id
        clock.advance(3600)
        with Pool.open(path, clock=clock) as bob_pool:
            assert bob_pool.lease([shown], annotator="bob", strategy="manual") == [shown]
            bob_pool.label(shown, "3", annotator="bob")
        await pilot.press("5")
        await pilot.pause()
        assert pool.current_label(shown) == "3" and pool.label_count(annotator="ana") == 0
        assert app.current.query.example_id != shown and app.session.pending is None
        assert app.session.counts == pool.class_counts() and app.session.total == pool.label_count()
        await pilot.press(truth(pool, app.current.query.example_id))  # labeling goes on
        assert pool.label_count(annotator="ana") == 1
        assert app.session.counts == pool.class_counts()

    try:
        drive(app, scenario)
    finally:
        pool.close()


class LockAfterRecord(Loop):
    """A real loop whose round, once recorded, leaves another connection holding the database's write lock
    (as a second annotator's import or retrain would) while the app takes the round in."""

    holder: sqlite3.Connection | None = None

    def retrain(self, *, on_epoch=None):
        info = super().retrain(on_epoch=on_epoch)
        holder = sqlite3.connect(self.pool.url.removeprefix("sqlite:///"), check_same_thread=False)
        holder.isolation_level = None
        holder.execute("BEGIN IMMEDIATE")
        LockAfterRecord.holder = holder
        return info


def test_a_fault_while_a_landed_round_is_taken_in_leaves_the_app_labeling_and_not_stuck_retraining(path, monkeypatch):
    monkeypatch.setenv("ACTIVELOOP_LOCK_SECONDS", "0.2")
    pool = Pool.open(path)
    model = FocalLossClassifier(hidden=(16,), max_epochs=15, random_state=0)
    app = LabelApp(pool, annotator="ana", batch=3, loop=LockAfterRecord(pool, model=model, batch_size=3))

    async def scenario(pilot):
        for digit in ("0", "1", "2"):
            await pilot.press(digit)
        await settle(pilot)
        LockAfterRecord.holder.execute("ROLLBACK")
        LockAfterRecord.holder.close()
        assert pool.latest_round().number == 1  # the round was recorded
        assert app.is_running and not app.session.retraining
        assert not app.query_one(StatusPanel).has_class("-training")  # the progress bar is gone
        assert "round 1" in plain(app.query_one("#status-text"))
        shown = app.current.query.example_id
        await pilot.press(truth(pool, shown))  # labeling goes on
        assert pool.current_label(shown) is not None
        assert app.session.counts == pool.class_counts()

    try:
        drive(app, scenario)
    finally:
        pool.close()


def test_an_undo_whose_lease_back_fails_after_the_retraction_still_shows_the_example_again(path, monkeypatch):
    """Undo is two writes: the retraction, then the lease back. A lock held between them must not leave the app
    saying "undo failed" while the label is gone from the database."""
    monkeypatch.setenv("ACTIVELOOP_LOCK_SECONDS", "0.2")
    pool = Pool.open(path)
    app = LabelApp(pool, annotator="ana", batch=10, loop=fast_loop(pool, 10))
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.isolation_level = None
    example = pool.example

    def example_then_lock(eid):  # the read between the two writes; then another process takes the write lock
        row = example(eid)
        holder.execute("BEGIN IMMEDIATE")
        return row

    async def scenario(pilot):
        first = app.current.query.example_id
        await pilot.press(truth(pool, first))
        monkeypatch.setattr(pool, "example", example_then_lock)
        await pilot.press("u")
        holder.execute("ROLLBACK")
        assert pool.current_label(first) is None  # retracted
        assert app.current.query.example_id == first  # and shown again, as an undo does
        assert not any("undo failed" in str(n.title) for n in app._notifications)
        assert app.session.labeled == 0 and app.session.counts == pool.class_counts()
        await pilot.press("7")
        assert pool.current_label(first) == "7" and pool.label_count(annotator="ana") == 1

    try:
        drive(app, scenario)
    finally:
        holder.close()
        pool.close()


def test_counts_stay_the_databases_through_undo_relabel_and_skip_while_a_round_trains_and_lands(path):
    from test_tui import GatedClassifier

    GatedClassifier.gate.clear()
    pool = Pool.open(path)
    model = GatedClassifier(hidden=(16,), max_epochs=15, random_state=0)
    app = LabelApp(pool, annotator="ana", batch=3, loop=Loop(pool, model=model, batch_size=3))

    def same():
        return app.session.counts == pool.class_counts() and app.session.total == pool.label_count()

    async def scenario(pilot):
        first = app.current.query.example_id
        await pilot.press("0", "1", "2")  # the round starts on 3 labels and waits at its gate
        assert app.session.retraining and same()
        await pilot.press("u")  # undo the third: the first label of no batch, the last of the round's
        assert same() and app.session.labeled == 2
        await pilot.press("5")  # relabeled with another class
        assert same() and pool.label_count(annotator="ana") == 3
        await pilot.press("u", "u", "u")
        assert same() and pool.label_count(annotator="ana") == 0 and app.current.query.example_id == first
        await pilot.press("s")  # skip the first; undo has nothing left to take back
        await pilot.press("u")
        assert same() and pool.current_label(first) is None and first in pool.excluded_ids("ana")
        await pilot.press("3", "4")
        GatedClassifier.gate.set()
        await settle(pilot)
        assert not app.session.retraining and same()
        rnd = pool.latest_round()
        assert app.session.since_retrain == sum(pool.class_counts().values()) - rnd.n_labels
        await pilot.press(truth(pool, app.current.query.example_id))
        assert same() and pool.label_count(annotator="ana") == 3

    try:
        drive(app, scenario)
    finally:
        GatedClassifier.gate.set()
        pool.close()
