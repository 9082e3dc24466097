"""Several labeler processes on one database, through the TUI's code path (QueryEngine.query + Pool.label).

Each worker (tests/workers/team.py) logs an example id only after ``label()`` returned, so
the database must hold exactly the logged labels: none lost, none doubled, none by two people.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from activeloop.store import Pool, db
from activeloop.store.schema import Lease
from workers import team

N_ANNOTATORS = 3
N_EXAMPLES = 600  # 200 labels per annotator
LS = Lease.__table__


def _make_pool(url: str, n: int, dim: int = 8) -> None:
    rng = np.random.default_rng(1)
    with Pool.create(url, "team", ["ok", "fraud", "spam"]) as pool:
        pool.add(rng.normal(size=(n, dim)), payloads=[{"text": f"row {i}"} for i in range(n)])


class Team:
    """Worker processes (forked from the preloaded server), their logs and summaries."""

    def __init__(self, ctx, tmp_path: Path, parties: int):
        self.ctx, self.tmp = ctx, tmp_path
        self.barrier = ctx.Barrier(parties + 1)
        self.procs: dict[str, object] = {}

    def annotator(self, url: str, name: str, **kwargs) -> None:
        self._start(name, team.annotate, url, name, str(self.log(name)), str(self.summary_path(name)), self.barrier,
                    **kwargs)

    def retrainer(self, url: str, name: str = "retrain", **kwargs) -> None:
        self._start(name, team.retrain, url, str(self.summary_path(name)), self.barrier, **kwargs)

    def _start(self, name, target, *args, **kwargs) -> None:
        p = self.ctx.Process(target=target, args=args, kwargs=kwargs, name=name)
        p.start()
        self.procs[name] = p

    def go(self) -> None:
        """Release everyone at once (each has opened its pool)."""
        try:
            self.barrier.wait(timeout=300)  # process start-up under a loaded CI host can take a minute
        except Exception:
            for name in self.procs:
                self.finish(name, timeout=5)
            raise

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def summary_path(self, name: str) -> Path:
        return self.tmp / f"{name}.json"

    def logged(self, name: str) -> list[tuple[int, float]]:
        path = self.log(name)
        if not path.exists():
            return []
        return [(int(a), float(b)) for a, b in (line.split() for line in path.read_text().splitlines())]

    def finish(self, name: str, timeout: float = 120) -> dict:
        p = self.procs[name]
        p.join(timeout)
        if p.exitcode is None:
            p.kill()
            p.join()
        summary = json.loads(self.summary_path(name).read_text()) if self.summary_path(name).exists() else {}
        error = summary.get("error", "")
        assert "database is locked" not in error, error
        assert p.exitcode == 0 and not error, f"{name} died (exit {p.exitcode}): {error}"
        return summary


def _label_rows(url: str) -> list[tuple[int, str, datetime]]:
    engine = db.make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT example_id, annotator, created_at FROM labels WHERE retracted_at IS NULL")
        ).all()
    engine.dispose()
    return [(int(r[0]), r[1], r[2]) for r in rows]


def test_annotators_labeling_at_once_lose_and_double_nothing(store_url, tmp_path, workers):
    _make_pool(store_url, N_EXAMPLES)
    names = [f"annotator-{k}" for k in range(N_ANNOTATORS)]
    crew = Team(workers, tmp_path, N_ANNOTATORS)
    for n in names:
        crew.annotator(store_url, n, batch=10)
    crew.go()
    summaries = {n: crew.finish(n) for n in names}

    logged = {n: [eid for eid, _ in crew.logged(n)] for n in names}
    rows = _label_rows(store_url)
    per_example = Counter(eid for eid, _, _ in rows)
    assert max(per_example.values()) == 1, "an example was labeled twice"
    assert len(rows) == sum(len(v) for v in logged.values()) == N_EXAMPLES  # everything labeled, once
    assert {(eid, who) for eid, who, _ in rows} == {(eid, n) for n in names for eid in logged[n]}
    assert all(summaries[n]["labels"] == len(logged[n]) for n in names)
    # Labeling really overlapped: at least two processes wrote labels. (How the 600 split between them
    # is the scheduler's choice; on a loaded host one process can start after the others emptied the pool.)
    assert sum(len(logged[n]) > 0 for n in names) >= 2, {n: len(v) for n, v in logged.items()}
    with Pool.open(store_url) as pool:
        assert pool.unlabeled_ids().size == 0 and pool.active_leases() == []
        assert sum(pool.class_counts().values()) == N_EXAMPLES
    lat = max((max(s["latencies"]) for s in summaries.values() if s["latencies"]), default=0.0)  # one may get none
    print(f"labels written concurrently: {len(rows)} by {N_ANNOTATORS} processes "
          f"({[len(v) for v in logged.values()]}), max label() latency {lat:.3f}s")


def test_a_retrain_does_not_block_labeling(store_url, tmp_path, workers):
    """Labels commit while a retrain holds a read of the whole pool open, and go on after its big write.

    The retrainer keeps its read open until the labeler has committed 20 more labels; a label()
    blocked by the read would leave it waiting out its timeout. (How long a label() waits for the
    checkpoint write is a speed figure: benchmarks/bench_label_during_retrain.py.)
    """
    _make_pool(store_url, 5000)
    crew = Team(workers, tmp_path, 1)
    stop = tmp_path / "stop"
    crew.annotator(store_url, "ana", batch=5, stop_path=str(stop))
    crew.go()
    deadline = time.monotonic() + 60
    while len(crew.logged("ana")) < 20:  # the labeler is under way
        assert time.monotonic() < deadline and crew.procs["ana"].exitcode is None, "labeler stalled"
        time.sleep(0.01)
    crew.barrier = workers.Barrier(2)
    crew.retrainer(store_url, labeler_log=str(crew.log("ana")), labels_during_read=20, checkpoint_mb=16)
    crew.go()
    r = crew.finish("retrain")
    after_write = len(crew.logged("ana"))
    deadline = time.monotonic() + 60
    while len(crew.logged("ana")) < after_write + 5:  # and it goes on after the round was written
        assert time.monotonic() < deadline and crew.procs["ana"].exitcode is None, "labeler stalled after the write"
        time.sleep(0.01)
    stop.touch()
    s = crew.finish("ana")
    logged = crew.logged("ana")
    assert r["committed_during_read"] >= 20, "labeling stalled while the retrain was reading"
    assert len(_label_rows(store_url)) == s["labels"] == len(logged)
    with Pool.open(store_url) as pool:
        assert pool.latest_round().number == 1
        assert len(pool.load_checkpoint()) == 16 * 2**20
    print(f"{r['committed_during_read']} labels committed during the retrain's read; 16 MB checkpoint written in "
          f"{r['write_seconds']:.3f}s; max label() latency {max(s['latencies']):.3f}s")


def test_an_abandoned_lease_expires_and_goes_to_someone_else(store_url, tmp_path, workers):
    _make_pool(store_url, 30)
    crew = Team(workers, tmp_path, 1)
    crew.annotator(store_url, "quitter", batch=30, ttl=600, abandon=True)
    crew.go()
    leased = crew.finish("quitter")["leased"]
    assert len(leased) == 30
    engine = db.make_engine(store_url)
    with engine.connect() as conn:
        deadline = conn.execute(sa.select(sa.func.max(LS.c.expires_at)).where(LS.c.annotator == "quitter")).scalar()
    engine.dispose()
    with Pool.open(store_url, clock=lambda: deadline - timedelta(seconds=1)) as pool:
        assert pool.excluded_ids("late").size == 30 and len(pool.active_leases()) == 30
    with Pool.open(store_url, clock=lambda: deadline + timedelta(microseconds=1)) as pool:
        assert pool.active_leases() == [] and pool.excluded_ids("late").size == 0
    crew.barrier = workers.Barrier(2)
    crew.annotator(store_url, "late", batch=30, clock_ahead=601)  # the late annotator's clock is past the expiry
    crew.go()
    s = crew.finish("late")
    assert sorted(eid for eid, _ in crew.logged("late")) == sorted(leased)
    assert s["labels"] == 30


def test_simultaneous_leases_of_the_same_ids_never_overlap(store_url):
    """Many pools (own engines) leasing the same ids at the same instant: each id goes to exactly one."""
    _make_pool(store_url, 400)
    pools = [Pool.open(store_url) for _ in range(4)]
    ids = pools[0].unlabeled_ids().tolist()
    got: dict[str, list[int]] = {}
    start = threading.Barrier(len(pools))

    def grab(k: int) -> None:
        mine: list[int] = []
        start.wait()
        for lo in range(0, len(ids), 25):  # everyone asks for the same 25 at once, 16 times
            mine += pools[k].lease(ids[lo : lo + 25], annotator=f"a{k}", strategy="race")
        got[f"a{k}"] = mine

    threads = [threading.Thread(target=grab, args=(k,)) for k in range(len(pools))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    everyone = [i for v in got.values() for i in v]
    assert len(got) == len(pools) and sorted(everyone) == ids  # each id exactly once
    assert sorted(x.example_id for x in pools[0].active_leases()) == ids
    for p in pools:
        p.close()
