"""SIGKILL while rounds are recorded: stored scores are either absent or exactly their round's model's scores."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
import sqlalchemy as sa

from activeloop.model import FocalLossClassifier
from activeloop.model.adapter import proba_by_class
from activeloop.query.strategies import margin
from activeloop.store import Pool, db
from activeloop.store.scores import unpack
from workers import scores as worker

KILLS = 6


def _wait_for(log, skip: int, word: str, proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(line.startswith(word) for line in log.read_text().splitlines()[skip:]):
        assert proc.exitcode is None, f"worker died before {word!r} (exit {proc.exitcode})"
        assert time.monotonic() < deadline, f"worker never logged {word!r}"
        time.sleep(0.002)


def _check(path, checked: set[int]) -> int:
    """Every round has its scores, and they are its checkpoint's model's scores of the examples they list."""
    with Pool.open(path) as pool:
        engine = db.make_engine(pool.url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT r.number, s.data FROM rounds r LEFT JOIN round_scores s ON s.round_id = r.id ORDER BY r.number"
            )).all()
        engine.dispose()
        for number, data in rows:
            assert data is not None, f"round {number} was committed without its scores"
            if number in checked:
                continue
            scores = unpack(data)
            assert scores.round == number and scores.key == "margin"
            model = FocalLossClassifier.from_checkpoint(pool.load_checkpoint(number))
            proba = proba_by_class(model, pool.features(scores.ids), pool.classes)
            np.testing.assert_array_equal(scores.predicted, proba.argmax(axis=1))
            np.testing.assert_allclose(scores.base, margin(proba).astype(np.float32), atol=1e-6)
            checked.add(number)
        return len(rows)


def test_a_round_killed_mid_write_leaves_no_scores_that_disagree_with_it(tmp_path, workers):
    path, log = tmp_path / "scores.db", tmp_path / "scores.log"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 8)).astype(np.float32)
    y = (X[:, 0] > 1.2).astype(int) + (X[:, 1] > 1.5).astype(int)
    with Pool.create(path, "crash", ["ok", "spam", "fraud"]) as pool:
        pool.add(X, labels=[["ok", "spam", "fraud"][y[i]] if i % 200 == 0 else None for i in range(len(X))])
    log.touch()
    pick = random.Random("scores-crash")
    checked: set[int] = set()
    for kill in range(1, KILLS + 1):
        before = log.read_text().count("\n")
        inside = kill % 2 == 1
        proc = workers.Process(target=worker.work, args=(str(path), str(log), kill, 30.0 if inside else 0.0),
                               name=f"scores-{kill}")
        proc.start()
        if inside:  # inside the round's transaction, its scores inserted but not committed
            _wait_for(log, before, "scores written", proc)
        else:  # at a random instant after a round committed
            _wait_for(log, before, "round", proc)
            proc.join(timeout=pick.uniform(0.0, 0.5))
        assert proc.exitcode is None, f"worker exited on its own (exit {proc.exitcode})"
        proc.kill()
        proc.join()
        lines = log.read_text().splitlines()[before:]
        if inside:
            assert lines[-1].startswith("scores written"), lines[-1]
            written = int(lines[-1].split()[-1])
        rounds = _check(path, checked)
        if inside:  # the killed round left nothing: neither the round nor its scores
            assert rounds == written - 1
    assert len(checked) >= KILLS // 2
