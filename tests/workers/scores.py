"""A process that labels and records rounds with stored scores until it is killed (tests/test_stored_scores_crash.py).

It logs ``ready`` once the pool is open, ``begin record <n>`` just before a round's one transaction
(round, checkpoint, metrics, scores), ``scores written <n>`` once the scores are inserted in it (not
yet committed) and ``round <n>`` after it committed. Lines go unbuffered to
the kernel, so SIGKILL cannot lose a line that was written.
"""

from __future__ import annotations

import os
import time

from activeloop.loop import Loop
from activeloop.model import FocalLossClassifier
from activeloop.store import Pool
from activeloop.store import scores as stored_scores


def work(url: str, log_path: str, seed: int, hold: float = 0.0) -> None:
    """Query, label, retrain forever; only SIGKILL stops this.

    ``hold`` seconds are spent inside each round's transaction once its scores are inserted.
    """
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def log(line: str) -> None:
        os.write(fd, (line + "\n").encode())

    pool = Pool.open(url)
    record = pool.record_round

    def logged_record(**kw):
        log(f"begin record {(pool.latest_round_number() or 0) + 1}")
        info = record(**kw)
        log(f"round {info.number}")
        return info

    pool.record_round = logged_record
    save = stored_scores.save

    def save_then_hold(session, round_id, scores, **kw):
        save(session, round_id, scores, **kw)  # inserted, not committed: the round's transaction is still open
        log(f"scores written {scores.round}")
        if hold:
            time.sleep(hold)  # a window in which the test's SIGKILL lands inside the transaction

    stored_scores.save = save_then_hold
    model = FocalLossClassifier(hidden=(8,), max_epochs=5, early_stopping=False, random_state=seed)
    loop = Loop(pool, model, strategy="minority-margin", batch_size=5, random_state=seed)
    log("ready")
    while True:
        for q in loop.query(5, annotator=f"w{seed}"):
            pool.label(q.example_id, pool.classes[(q.example_id * 7 + seed) % len(pool.classes)], annotator=f"w{seed}")
        loop.retrain()
