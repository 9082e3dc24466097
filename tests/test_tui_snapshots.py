"""Snapshots of the labeling app's main screen at the smallest supported size and a roomy one.

Fixed data (sklearn digits, seeded cold start), no timestamps or timings on screen. Refresh with
``pytest tests/test_tui_snapshots.py --snapshot-update`` after an intended change, and look at the SVGs.
"""

from __future__ import annotations

import pytest
from tui_helpers import digits_pool, fast_loop, settle, truth

from activeloop.tui.app import LabelApp


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_main_screen(tmp_path, snap_compare, size):
    pool = digits_pool(tmp_path / "digits.db")
    app = LabelApp(pool, annotator="ana", batch=10, loop=fast_loop(pool, 10))

    async def label_two(pilot):
        await settle(pilot)
        for _ in range(2):
            await pilot.press(truth(pool, app.current.query.example_id))
        await settle(pilot)

    try:
        assert snap_compare(app, terminal_size=size, run_before=label_two)
    finally:
        pool.close()
