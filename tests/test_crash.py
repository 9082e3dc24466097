"""SIGKILL at random instants: the database opens cleanly, passes integrity_check, and keeps every committed write.

A worker (tests/workers/crash.py) imports, labels and records rounds with multi-megabyte
checkpoints in a loop, logging each result only after its commit returned. The test kills it
after a random delay, again and again, and after every kill checks the database against the log.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from activeloop.store import Pool, db
from workers import crash

KILLS_PER_MODE = 13  # 52 kill points over the four modes


def _parse(log: Path) -> dict:
    """What the worker said it committed, and what it was doing when each kill hit."""
    out = {"import": {}, "label": {}, "round": {}, "last": []}
    for line in log.read_text().splitlines():
        kind, *rest = line.split()
        if kind == "import":
            out["import"][rest[0]] = int(rest[1])
        elif kind == "label":
            out["label"][int(rest[0])] = int(rest[1])
        elif kind == "round":
            out["round"][int(rest[0])] = rest[1]
    return out


def _check(path: Path, log: Path, kills: int, verified: set[int]) -> dict:
    """Everything the worker logged is in the database, intact; at most one unlogged write per kill."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    done = _parse(log)
    with Pool.open(path) as pool:  # opens cleanly (recovering the WAL)
        engine = db.make_engine(pool.url)
        with engine.connect() as conn:
            labels = dict(conn.execute(sa.text("SELECT id, example_id FROM labels WHERE source = 'human'")).all())
            ext = [r[0] for r in conn.execute(sa.text("SELECT external_id FROM examples"))]
            n_import_labels = conn.execute(sa.text("SELECT count(*) FROM labels WHERE source = 'import'")).scalar()
            rounds = dict(conn.execute(sa.text("SELECT number, checkpoint_sha256 FROM rounds")).all())
        engine.dispose()
        # labels: every committed one is there, on its example; unlogged ones only from kills
        assert all(labels.get(lid) == eid for lid, eid in done["label"].items()), "a committed label was lost"
        assert len(labels) - len(done["label"]) <= kills
        # imports: whole batches only, and every committed batch complete
        batches = Counter(e.rsplit("/", 1)[0] for e in ext if not e.startswith("seed/"))
        for batch, n in done["import"].items():
            assert batches[batch] == n, f"batch {batch}: {batches[batch]} of {n} rows"
        unlogged = [b for b in batches if b not in done["import"]]  # committed, killed before its log line
        assert len(unlogged) <= kills
        assert n_import_labels == sum((n + 2) // 3 for n in batches.values())
        # rounds: a logged round is there with its checkpoint; an unlogged one is whole (never half-written)
        for number, sha in done["round"].items():
            assert rounds.get(number) == sha
        assert len(rounds) - len(done["round"]) <= kills
        for number, sha in rounds.items():
            if number not in verified:  # a round row never changes once written: check each once
                blob = pool.load_checkpoint(number)
                assert blob is not None and hashlib.sha256(blob).hexdigest() == sha
                verified.add(number)
        assert sorted(rounds) == list(range(1, len(rounds) + 1))
        assert all(r.finished_at >= r.started_at for r in pool.rounds())
    return {"labels": len(labels), "rows": len(ext), "rounds": len(rounds)}


def _wait_for_line(log: Path, skip: int, word: str, proc, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while word not in log.read_text().splitlines()[skip:]:
        assert proc.exitcode is None, f"worker died before {word!r} (exit {proc.exitcode})"
        assert time.monotonic() < deadline, f"worker never logged {word!r}"
        time.sleep(0.002)


@pytest.mark.parametrize("mode", ["import", "label", "retrain", "mixed"])
def test_sigkill_at_random_points_loses_no_committed_write(tmp_path, workers, mode):
    path, log = tmp_path / "crash.db", tmp_path / "crash.log"
    rng = random.Random(f"crash-{mode}")
    with Pool.create(path, "crash", ["ok", "fraud", "spam"]) as pool:
        X = np.random.default_rng(0).normal(size=(3000, 8))
        pool.add(X, external_ids=[f"seed/{i}" for i in range(3000)], labels=[None] * 3000)
    log.touch()
    hits: Counter = Counter()
    verified: set[int] = set()
    totals = {}
    for kill in range(1, KILLS_PER_MODE + 1):
        before = log.read_text().count("\n")
        proc = workers.Process(target=crash.work, args=(str(path), mode, str(log), kill), name=f"crash-{kill}")
        proc.start()
        if rng.random() < 0.15:  # now and then a kill while the pool is still opening
            proc.join(timeout=rng.uniform(0.0, 0.3))
        else:  # otherwise at a random instant of the work (timed from the open, so machine load cannot skew it)
            _wait_for_line(log, before, "ready", proc)
            proc.join(timeout=rng.uniform(0.0, 0.35))
        assert proc.exitcode is None, f"worker exited on its own (exit {proc.exitcode})"
        proc.kill()
        proc.join()
        assert proc.exitcode == -9
        lines = log.read_text().splitlines()
        last = lines[-1].split()[:2] if len(lines) > before else ["opening"]
        last = ["opening"] if last == ["ready"] else last
        hits[" ".join(last) if last[0] == "begin" else "opening" if last[0] == "opening" else f"after {last[0]}"] += 1
        totals = _check(path, log, kill, verified)
    done = _parse(log)
    print(f"{mode}: {KILLS_PER_MODE} kills survived {dict(hits)}; committed: {len(done['label'])} labels, "
          f"{len(done['import'])} import batches, {len(done['round'])} rounds; database: {totals}")
    assert sum(hits.values()) == KILLS_PER_MODE
    if mode == "label":
        assert len(done["label"]) > 0
    if mode == "import":
        assert len(done["import"]) > 0
