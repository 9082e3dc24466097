"""Edge cases of the labeling path found in review: a lapsed lease taken over, faults between two steps.

Real SQLite files, an injected clock, Textual's pilot; assertions on what the database holds.
"""

from __future__ import annotations

import asyncio

import pytest
from fake_clock import FakeClock
from tui_helpers import digits_file, fast_loop, settle, truth

from activeloop.errors import LeaseError
from activeloop.session import LabelingSession
from activeloop.store import Pool
from activeloop.tui.app import LabelApp

SIZE = (100, 40)


@pytest.fixture
def path(tmp_path):
    return digits_file(tmp_path / "digits.db")


def drive(app: LabelApp, scenario) -> None:
    async def main():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await scenario(pilot)

    asyncio.run(main())


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
