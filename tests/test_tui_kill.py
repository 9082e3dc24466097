"""SIGKILL in the middle of a labeling session loses no committed label.

A subprocess runs the real app headless (Textual's pilot) on a SQLite file, labels examples one
keystroke at a time — retrains start in the background every 5 labels — and prints each label once
its key press has been handled. The test kills it with SIGKILL mid-session and checks that every
printed label is in the database, and that the file is sound.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from tui_helpers import digits_pool

from activeloop.store import Pool

DRIVER = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {tests!r})
    from tui_helpers import fast_loop, truth
    from activeloop.store import Pool
    from activeloop.tui.app import LabelApp

    pool = Pool.open({db!r})
    app = LabelApp(pool, annotator="ana", batch=5, loop=fast_loop(pool, 5))

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            while True:
                while app.current is None:
                    await pilot.pause(0.01)
                eid = app.current.query.example_id
                digit = truth(pool, eid)
                await pilot.press(digit)
                print(eid, digit, flush=True)

    asyncio.run(main())
    """
)


def test_sigkill_mid_session_keeps_every_committed_label(tmp_path):
    db = tmp_path / "digits.db"
    digits_pool(db, n_pool=200).close()
    script = tmp_path / "drive.py"
    script.write_text(DRIVER.format(tests=str(Path(__file__).parent), db=str(db)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed: list[tuple[int, str]] = []
    try:
        for line in proc.stdout:
            eid, digit = line.split()
            printed.append((int(eid), digit))
            if len(printed) == 23:  # mid-batch, with a retrain likely running
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        err = proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL, err
    assert len(printed) == 23, err

    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    pool = Pool.open(db)
    try:
        for eid, digit in printed:
            assert pool.current_label(eid) == digit
        # at most the keystroke in flight when the kill landed is beyond what was printed
        assert 23 <= pool.label_count(annotator="ana") <= 24
    finally:
        pool.close()
