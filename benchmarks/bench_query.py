"""Speed and memory of the query engine against in-memory and SQLite floors and modAL, in the same run.

Pools of N random float32 vectors (d=64, 5 Gaussian classes at 60/20/10/7/3 %), batches of 32,
and an MLP: activeloop's FocalLossClassifier (hidden=(64,)) fitted on 300 labels that are stored
in the pool. Round 1 is recorded without stored scores (as a database from before them); round 2
is recorded by ``Loop.retrain()`` (fit, evaluate, score the pool, store the scores: measured as (f)).

  (a) floor   predict_proba on the whole in-memory array + np.argpartition (least confidence)
  (b) modAL   ActiveLearner(estimator=model, query_strategy=entropy_sampling).query(X, 32)
  (c) fresh   ``activeloop query DB -n 10`` in a new process (stored scores), against the bare-process
              floor (F1): a new Python process that imports numpy, opens the SQLite file, reads 10 rows;
              runs interleaved with F1's. Timed with activeloop's bytecode written first, as a wheel
              install has it; an editable install under PYTHONDONTWRITEBYTECODE is timed before that too
  (c0)        the same new process with a model and no stored scores (rescoring from the checkpoint)
  (d) first   first query with the pool open, a fresh QueryEngine (stored scores; (d0) rescoring)
  (e) next    the next query in the same process (the earlier batches stay leased, as a labeler's
              do), against the write-and-read floor (F2): one committed SQLite write of 32 rows
              plus reading 32 feature rows (plain sqlite3); (F2L) the same write into a copy of the
              leases table (its foreign key and indexes): what SQLite itself needs for an indexed lease
  (f) round   Loop.retrain() (fit, scoring, storing the scores) against fit + in-memory scoring

Peak memory: tracemalloc peak of (a), (d0) and (f) (NumPy and torch CPU buffers are traced), and
the fresh process's peak RSS growth during its query. Strategy: "default".

    python benchmarks/bench_query.py                         # 10k, 100k, 1M (1M file built once)
    python benchmarks/bench_query.py --sizes 10000,100000    # quick run

SQLite files are cached in --cache-dir (default /tmp/activeloop-bench-query).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

D, C, LABELS, BATCH = 64, 5, 300, 32
PRIORS = np.array([0.60, 0.20, 0.10, 0.07, 0.03])
CLASSES = ["c0", "c1", "c2", "c3", "rare"]


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of a 5-class Gaussian mixture in 64-D, float32, built in blocks (little extra memory)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 0.6, size=(C, D)).astype(np.float32)
    y = rng.choice(C, size=n, p=PRIORS)
    X = np.empty((n, D), dtype=np.float32)
    for lo in range(0, n, 200_000):
        hi = min(n, lo + 200_000)
        X[lo:hi] = rng.standard_normal((hi - lo, D), dtype=np.float32)
        X[lo:hi] += means[y[lo:hi]]
    return X, y


def build(path: Path, n: int) -> None:
    """Create the pool file: features, 300 imported labels, and round 1 with the model checkpoint."""
    from activeloop.store import Pool

    t0 = time.perf_counter()
    X, y = make_data(n)
    tmp = path.with_suffix(".building")
    for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
        p.unlink(missing_ok=True)
    pool = Pool.create(tmp, "bench", CLASSES)
    rng = np.random.default_rng(1)
    lab = set(rng.choice(n, LABELS, replace=False).tolist())
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        labels = [CLASSES[y[i]] if i in lab else None for i in range(lo, hi)]
        pool.add(X[lo:hi], labels=labels, external_ids=[str(i) for i in range(lo, hi)])
    ensure_model(pool)
    pool.close()
    os.replace(tmp, path)
    print(f"  built {path} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s", flush=True)


def ensure_model(pool):
    """The model of the latest round; refit on the stored labels (and record a round) if it will not load."""
    from activeloop.errors import CheckpointError
    from activeloop.model import FocalLossClassifier

    try:
        blob = pool.load_checkpoint()
        if blob is not None:
            return FocalLossClassifier.from_checkpoint(blob)
    except CheckpointError as exc:  # written by an older FocalLossClassifier
        print(f"  refitting the model: {exc}", flush=True)
    _, Xl, yl = pool.labeled_xy()
    model = FocalLossClassifier(hidden=(64,), random_state=0).fit(Xl, yl)
    pool.record_round(n_labels=len(yl), strategy="random", checkpoint=model.to_checkpoint(), metrics={}, config={},
                      started_at=datetime.now(timezone.utc))
    return model


def store_breakdown(pool, annotator: str) -> dict:
    """Milliseconds of each store call a cached (next) query makes."""
    out = {}
    ids = pool.unlabeled_ids()[:128]
    for name, fn in {
        "excluded_ids": lambda: pool.excluded_ids(annotator),
        "features(128)": lambda: pool.features(ids),
        "class_counts": lambda: pool.class_counts(),
        "latest_round": lambda: pool.latest_round(),
        "lease+release(32)": lambda: (pool.lease(ids[:32], annotator=annotator, strategy="bench"),
                                      pool.release(ids[:32], annotator=annotator)),
    }.items():
        t, _ = timed(fn, 3)
        out[name] = t * 1e3
    return out


BARE = """
import sys, time, sqlite3
t = time.perf_counter()
import numpy
conn = sqlite3.connect(sys.argv[1])
rows = conn.execute("SELECT id, features FROM examples LIMIT 10").fetchall()
assert len(rows) == 10
"""


def new_process(cmd: list[str]) -> float:
    """Wall seconds of a new process running ``cmd`` (start to exit)."""
    t = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - t


def from_source() -> bool:
    """Whether a new process compiles activeloop from source: an editable install that keeps no bytecode."""
    import activeloop

    pkg = Path(activeloop.__file__).parent
    return bool(os.environ.get("PYTHONDONTWRITEBYTECODE")) and not any(pkg.rglob("__pycache__/*.pyc"))


def compile_package() -> None:
    """Write activeloop's bytecode, as ``pip install`` of a wheel does (an editable install under
    ``PYTHONDONTWRITEBYTECODE`` would otherwise compile every module it imports in every new process)."""
    import compileall

    import activeloop

    compileall.compile_dir(str(Path(activeloop.__file__).parent), quiet=1)


def write_read_floor(path: Path, repeats: int = 50, *, leases_shape: bool = False) -> float:
    """Median seconds of one committed 32-row write (plain sqlite3, WAL) plus reading 32 feature rows.

    ``leases_shape``: write into a copy of the ``leases`` table instead, made from the file's own DDL (its
    foreign key to ``examples`` and its three indexes, foreign keys on), with the columns a lease fills.
    """
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    table = "bench_floor_leases" if leases_shape else "bench_floor"
    if leases_shape:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        for (ddl,) in conn.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'leases' AND sql IS NOT NULL "
                                   "ORDER BY type DESC").fetchall():  # the table first, then its indexes
            conn.execute(ddl.replace("CREATE TABLE leases", f"CREATE TABLE {table}")
                         .replace("CREATE INDEX ix_leases_", f"CREATE INDEX {table}_ix_")
                         .replace(" ON leases ", f" ON {table} "))
        assert len(conn.execute(f"PRAGMA index_list({table})").fetchall()) == 3
        insert = (f"INSERT INTO {table} (example_id, annotator, strategy, score, created_at, expires_at) "
                  "VALUES (?, 'floor', 'bench', ?, datetime('now'), datetime('now', '+1 hour'))")
    else:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, example_id INTEGER, who TEXT, "
                     "score REAL, at TEXT)")
        insert = f"INSERT INTO {table} (example_id, who, score, at) VALUES (?, 'floor', ?, datetime('now'))"
    ids = [r[0] for r in conn.execute("SELECT id FROM examples ORDER BY id LIMIT 5000")]
    times = []
    for k in range(repeats):
        pick = ids[(k * 97) % 4000:][:32]
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert, [(i, 0.5) for i in pick])
        conn.execute("COMMIT")
        rows = conn.execute(f"SELECT id, features FROM examples WHERE id IN ({','.join('?' * 32)})", pick).fetchall()
        times.append(time.perf_counter() - t)
        assert len(rows) == 32
    conn.execute(f"DROP TABLE {table}" if leases_shape else f"DELETE FROM {table}")
    conn.close()
    return statistics.median(times)


def child(db: str, annotator: str) -> None:
    """The fresh-process query (c); prints a JSON line of timings."""
    t0 = time.perf_counter()
    from activeloop.model import FocalLossClassifier
    from activeloop.query import QueryEngine
    from activeloop.store import Pool

    t_import = time.perf_counter()
    pool = Pool.open(db)
    model = FocalLossClassifier.from_checkpoint(pool.load_checkpoint())
    t_open = time.perf_counter()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    batch = QueryEngine(model, strategy="default", random_state=0).query(pool, BATCH, annotator=annotator)
    t_query = time.perf_counter()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pool.release([q.example_id for q in batch], annotator=annotator)
    print(json.dumps({"import": t_import - t0, "open_load": t_open - t_import, "query": t_query - t_open,
                      "rss_before_mib": rss0 / 1024, "rss_growth_mib": (rss1 - rss0) / 1024, "n": len(batch)}))


CPU: dict[str, float] = {}


def timed(fn, repeats: int, tag: str | None = None) -> tuple[float, object]:
    """Median wall seconds of ``repeats`` calls; the median CPU seconds (all threads) go to CPU[tag]."""
    times, cpus, out = [], [], None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    if tag:
        CPU[tag] = statistics.median(cpus)
    return statistics.median(times), out


def traced_peak(fn) -> float:
    """Peak traced allocation (MiB) while ``fn`` runs."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def run_size(n: int, cache_dir: Path, repeats: int) -> dict:
    import torch
    from modAL.models import ActiveLearner
    from modAL.uncertainty import entropy_sampling

    from activeloop.query import QueryEngine
    from activeloop.store import Pool

    path = cache_dir / f"pool-{n}-d{D}-c{C}.db"
    if not path.exists():
        build(path, n)
    pool = Pool.open(path)
    model = ensure_model(pool)
    X, _ = make_data(n)
    feat_mib = X.nbytes / 2**20
    model_mib = sum(p.numel() * p.element_size() for p in model.net_.parameters()) / 2**20
    reps = repeats if n < 1_000_000 else max(1, repeats - 1)
    k = 0

    def floor():
        p = model.predict_proba(X)
        s = 1.0 - p.max(axis=1)
        return np.argpartition(-s, BATCH - 1)[:BATCH]

    learner = ActiveLearner(estimator=model, query_strategy=entropy_sampling)

    def modal():
        return learner.query(X, n_instances=BATCH)

    def first():
        nonlocal k
        k += 1
        eng = QueryEngine(model, strategy="default", random_state=0, chunk_size=50_000)
        out = eng.query(pool, BATCH, annotator=f"d{k}")
        pool.release([q.example_id for q in out], annotator=f"d{k}")
        return eng

    t_a, _ = timed(floor, reps, "a")
    t_b, _ = timed(modal, reps, "b")
    t_d0, _ = timed(first, reps, "d0")  # the caller's own model: rescoring

    # (f) recording a round, against fit + in-memory scoring of the same pool
    from activeloop.loop import Loop
    from activeloop.model import FocalLossClassifier
    from activeloop.query import resolve

    _, Xl, yl = pool.labeled_xy()
    strat = resolve("default")
    from activeloop.query.strategies import Context

    def fit_and_score():
        m = FocalLossClassifier(hidden=(64,), random_state=0).fit(Xl, yl)
        p = m.predict_proba(X)
        return strat.score(p, Context.from_counts(np.bincount(yl, minlength=C)))

    t_fs, _ = timed(fit_and_score, 1, "fs")
    loop = Loop(pool, FocalLossClassifier(hidden=(64,), random_state=0), strategy="default", random_state=0)
    t_f, info = timed(loop.retrain, 1, "f")
    mem_f = traced_peak(lambda: Loop(pool, FocalLossClassifier(hidden=(64,), random_state=0), strategy="default",
                                     random_state=0).retrain())
    f_scoring = info.config.get("scoring", {})

    def first_stored():
        nonlocal k
        k += 1
        eng = QueryEngine(strategy="default", random_state=0)  # follows the rounds: stored scores
        out = eng.query(pool, BATCH, annotator=f"d{k}")
        assert eng.scores_from_ == "stored", eng.scores_from_
        pool.release([q.example_id for q in out], annotator=f"d{k}")
        return eng

    t_d, eng = timed(first_stored, reps, "d")

    held: list[int] = []

    def nxt():  # a labeler's next batch: the previous ones stay leased, so each query takes new candidates
        held.extend(q.example_id for q in eng.query(pool, BATCH, annotator="e"))

    nxt()
    t_e, _ = timed(nxt, 15, "e")
    n_scored_before = eng.n_scored_
    nxt()
    assert eng.n_scored_ - n_scored_before <= 8, "the next query rescored the pool"
    pool.release(held, annotator="e")
    t_floor2 = write_read_floor(path)
    t_floor2l = write_read_floor(path, leases_shape=True)
    cli = str(Path(sys.executable).with_name("activeloop"))
    runs = max(2, reps)

    def cli_query(tag: str) -> float:  # fresh process, interleaved with the floor; the leases are released
        times = []
        for i in range(runs):
            times.append(new_process([cli, "query", str(path), "-n", "10", "--annotator", f"cli-{tag}{i}"]))
            floor1.append(new_process([sys.executable, "-c", BARE, str(path)]))
            who = f"cli-{tag}{i}"
            pool.release([le.example_id for le in pool.active_leases(who)], annotator=who)
        return statistics.median(times)

    floor1: list[float] = []
    t_cli_src = cli_query("src") if from_source() else None
    compile_package()
    t_cli = cli_query("pyc")
    t_floor1 = statistics.median(floor1)

    fresh = []
    for i in range(max(1, reps)):
        t = time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = subprocess.run([sys.executable, __file__, "--child", str(path), "--annotator", f"c{i}"],
                             capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t
        info = json.loads(res.stdout.strip().splitlines()[-1])
        info["wall"] = wall
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        info["cpu"] = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
        fresh.append(info)
    t_c = statistics.median(f["wall"] for f in fresh)
    c_info = min(fresh, key=lambda f: f["wall"])

    breakdown = store_breakdown(pool, "breakdown")
    mem_a = traced_peak(floor)
    mem_d = traced_peak(first)
    pool.close()
    return {
        "n": n, "a": t_a, "b": t_b, "c": t_c, "d": t_d, "e": t_e, "c_info": c_info, "d0": t_d0,
        "f": t_f, "fs": t_fs, "mem_f": mem_f, "f_scoring": f_scoring, "floor1": t_floor1, "floor2": t_floor2,
        "floor2l": t_floor2l,
        "cli": t_cli, "cli_src": t_cli_src,
        "mem_a": mem_a, "mem_d": mem_d, "feat_mib": feat_mib, "model_mib": model_mib,
        "cpu": dict(CPU, c=statistics.median(f["cpu"] for f in fresh)),
        "threads": torch.get_num_threads(), "store_ms": breakdown,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--cache-dir", default="/tmp/activeloop-bench-query")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--annotator", default="fresh", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.annotator)
        return
    cache_dir = Path(args.cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"N = {n:,}", flush=True)
        r = run_size(n, cache_dir, args.repeats)
        rows.append(r)
        ci = r["c_info"]
        cpu = r["cpu"]
        print(f"  (a) floor: predict_proba + argpartition, in memory   {r['a']:8.3f} s   (cpu {cpu['a']:.3f} s)")
        print(f"  (b) modAL ActiveLearner.query(entropy_sampling)      {r['b']:8.3f} s   (cpu {cpu['b']:.3f} s)")
        print(f"  (c0) fresh process, own model: rescoring (wall)       {r['c']:8.3f} s   "
              f"[import {ci['import']:.2f}, open+load model {ci['open_load']:.2f}, query {ci['query']:.2f}] "
              f"(cpu {cpu['c']:.2f} s)")
        print(f"  (F1) floor: bare process (numpy, open, read 10 rows) {r['floor1']:8.3f} s")
        print(f"  (c) `activeloop query -n 10`, fresh process, stored  {r['cli']:8.3f} s   c/F1 = "
              f"{r['cli'] / r['floor1']:.1f}x  (aim <= 5x; activeloop's bytecode compiled, as installed)")
        if r["cli_src"] is not None:
            print(f"      the same, compiled from source in the process    {r['cli_src']:8.3f} s   c/F1 = "
                  f"{r['cli_src'] / r['floor1']:.1f}x  (editable install, PYTHONDONTWRITEBYTECODE set)")
        print(f"  (d0) first query, pool open, own model: rescoring     {r['d0']:8.3f} s   d0/a = {r['d0'] / r['a']:.2f}x")
        print(f"  (d) first query, pool open, stored scores            {r['d']:8.3f} s   d/a = {r['d'] / r['a']:.3f}x   "
              f"(cpu {cpu['d']:.3f} s)")
        print(f"  (F2) floor: 32-row committed write + 32-row read     {r['floor2'] * 1e3:8.2f} ms")
        print(f"  (F2L) the same write into a table shaped as leases   {r['floor2l'] * 1e3:8.2f} ms  F2L/F2 = "
              f"{r['floor2l'] / r['floor2']:.1f}x  (its foreign key and three indexes)")
        print(f"  (e) activeloop next query, same round                {r['e'] * 1e3:8.2f} ms  e/F2 = "
              f"{r['e'] / r['floor2']:.1f}x (aim <= 10x)  e/F2L = {r['e'] / r['floor2l']:.1f}x  "
              f"b/e = {r['b'] / r['e']:.0f}x   (cpu {cpu['e'] * 1e3:.1f} ms)")
        print(f"  (f) Loop.retrain (fit, eval, score, store)           {r['f']:8.3f} s   vs fit + in-memory scoring "
              f"{r['fs']:.3f} s = {r['f'] / r['fs']:.2f}x (aim <= 1.5x); scoring+storing part {r['f_scoring']}; "
              f"peak {r['mem_f']:.0f} MiB = {r['mem_f'] / (r['feat_mib'] + r['model_mib']):.2f}x features+model")
        print(f"  memory: features {r['feat_mib']:.1f} MiB, model {r['model_mib']:.2f} MiB; traced peak "
              f"(a) {r['mem_a']:.1f} MiB, (d) {r['mem_d']:.1f} MiB = {r['mem_d'] / (r['feat_mib'] + r['model_mib']):.2f}x "
              f"features+model; fresh process RSS growth during query {ci['rss_growth_mib']:.0f} MiB "
              f"(RSS before {ci['rss_before_mib']:.0f} MiB)")
        print("  store calls of a cached query (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in r["store_ms"].items()),
              flush=True)
    print(f"\n torch threads {rows[0]['threads']}, cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
          f"batch {BATCH}, d {D}, classes {C}")
    print(" N          F1 bare   (c) CLI  c/F1   F2 w+r   F2L      (e) next  e/F2   e/F2L  (d) stored (d0) rescore (a) floor "
          "(f) round  fit+score f/fs  mem(f)/(feat+model)")
    for r in rows:
        print(f" {r['n']:<10,} {r['floor1']:6.3f}s {r['cli']:7.3f}s {r['cli'] / r['floor1']:5.1f}x "
              f"{r['floor2'] * 1e3:6.2f}ms {r['floor2l'] * 1e3:6.2f}ms {r['e'] * 1e3:7.2f}ms "
              f"{r['e'] / r['floor2']:5.1f}x {r['e'] / r['floor2l']:5.1f}x {r['d']:9.3f}s "
              f"{r['d0']:9.3f}s {r['a']:8.3f}s {r['f']:8.3f}s {r['fs']:8.3f}s {r['f'] / r['fs']:5.2f}x "
              f"{r['mem_f'] / (r['feat_mib'] + r['model_mib']):6.2f}x")


if __name__ == "__main__":
    main()
