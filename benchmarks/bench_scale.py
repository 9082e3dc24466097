"""Pool scoring and benchmark suites on a dask.distributed cluster, against one process, in the same run.

Pools of N x 64 float32 rows (bench_query.py's 5-class mixture, 300 stored labels, an MLP
FocalLossClassifier), on SQLite and on PostgreSQL (a throw-away server this script starts and
stops, activeloop.bench.pgserver, as .ci/run does). Built through the store's own import path
(``Pool.add``: one raw-driver executemany per batch of BUILD_CHUNK rows). For each back end and N,
a round's pool scoring (``QueryEngine.score``, what ``Loop.retrain`` and ``activeloop train`` store):

  single    one process streams and scores every unlabeled row, sorts the per-class orders
  1 worker  the same with client= a LocalCluster of 1 worker process (1 thread): the worker
            scores and sorts its candidates, the client k-way merges them
  2 workers the same with 2 worker processes; scaling efficiency = single / (2 x two-worker time)

Every variant must store the same scores, byte for byte (checked). Torch runs one thread
everywhere so the single process and a worker do the same work per row. Then the client's merge
(join + heapq.merge of 2 and 8 parts) against sorting everything at once (Scores.build), a bench
suite with --jobs 2 against the same suite on a 2-worker cluster (curves.csv must be
byte-identical), and a projection for 100M rows on N workers.

    python benchmarks/bench_scale.py                           # 1M and 10M, SQLite and PostgreSQL
    python benchmarks/bench_scale.py --sizes 1000000 --backends sqlite --no-suite
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_query import CLASSES, LABELS, make_data  # noqa: E402  (the same pools as the query benchmark)

BUILD_CHUNK = 1_000_000  # rows per Pool.add: the import's clash check reads the project's ids once per batch
BYTES_PER_ROW = 8 + 4 + 2 + 4 + 4  # id, float32 base score, class, confidence, candidate position: what a worker sends


def load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.1f} {b:.1f} {c:.1f}"


def build(url: str, n: int):
    """A pool of ``n`` rows with LABELS stored labels, and an MLP fitted on them; returns (pool, model)."""
    from activeloop.model import FocalLossClassifier
    from activeloop.store import Pool

    t0 = time.perf_counter()
    X, y = make_data(n)
    pool = Pool.create(url, "bench", CLASSES)
    labeled = np.zeros(n, dtype=bool)
    labeled[np.random.default_rng(1).choice(n, LABELS, replace=False)] = True
    names = np.asarray(CLASSES, dtype=object)
    for lo in range(0, n, BUILD_CHUNK):
        hi = min(n, lo + BUILD_CHUNK)
        pool.add(X[lo:hi], labels=np.where(labeled[lo:hi], names[y[lo:hi]], None).tolist())
    del X
    _, Xl, yl = pool.labeled_xy()
    model = FocalLossClassifier(hidden=(64,), random_state=0).fit(Xl, yl)
    seconds = time.perf_counter() - t0
    print(f"  built {n:,} rows in {seconds:.0f} s ({n / seconds:,.0f} rows/s), load {load()}", flush=True)
    return pool, model


def round_scoring(pool, model, client) -> tuple[float, bytes, object]:
    """Seconds of a round's pool scoring (scores, per-class orders, on ``client`` if given); its stored blob."""
    from activeloop.query import QueryEngine
    from activeloop.store.scores import pack

    engine = QueryEngine(model, strategy="default", random_state=0, client=client)
    t0 = time.perf_counter()
    scores = engine.score(pool, model)
    return time.perf_counter() - t0, pack(scores), scores


def read_rate(pool) -> float:
    """Rows per second the store streams to one reader without scoring (the database's share of the cost)."""
    t0, n = time.perf_counter(), 0
    for ids, _ in pool.iter_features(split="pool", unlabeled=True):
        n += len(ids)
    return n / (time.perf_counter() - t0)


def merge_cost(scores, parts: int) -> tuple[float, float]:
    """Client seconds to join ``parts`` workers' candidates (heapq.merge), and to sort all at once (the peer)."""
    from activeloop.query.chunks import Scored, candidates, join
    from activeloop.store.scores import Scores

    C = scores.n_classes
    cuts = np.linspace(0, len(scores), parts + 1).astype(int)
    ps = [candidates(Scored(scores.ids[a:b], scores.base[a:b].copy(), scores.predicted[a:b], scores.confidence[a:b],
                            None, None, b - a), C) for a, b in zip(cuts[:-1], cuts[1:])]
    t0 = time.perf_counter()
    out = join(ps)
    t_join = time.perf_counter() - t0
    assert np.array_equal(out.order, scores.order), "merged orders differ from the stored ones"
    t0 = time.perf_counter()
    Scores.build("x", None, scores.ids, scores.base, scores.predicted, scores.confidence, C)
    return t_join, time.perf_counter() - t0


def _warm() -> None:
    """Import what a task needs (torch, sklearn, activeloop); a worker process pays this once, at start-up."""
    import activeloop.bench.suite  # noqa: F401
    import activeloop.model  # noqa: F401
    import activeloop.query.distributed  # noqa: F401
    import activeloop.store  # noqa: F401


@contextmanager
def warm_cluster(workers: int):
    """A LocalCluster of ``workers`` processes (1 thread each) whose imports are done; yields (client, start-up s)."""
    from distributed import Client

    from activeloop.cluster import local_cluster

    t0 = time.perf_counter()
    with local_cluster(workers) as lc, Client(lc, set_as_default=False) as client:
        client.run(_warm)
        yield client, time.perf_counter() - t0


def measure_scoring(url: str, n: int, backend: str) -> dict:
    pool, model = build(url, n)
    unlabeled = n - LABELS
    row: dict = {"backend": backend, "n": n, "load_start": load()}
    row["single"], blob, scores = round_scoring(pool, model, None)
    for workers in (1, 2):
        with warm_cluster(workers) as (client, startup):
            row[f"w{workers}"], got, _ = round_scoring(pool, model, client)
            row[f"start{workers}"] = startup
        assert got == blob, f"{backend} {n}: {workers}-worker scores differ from the single process's"
    row["read_rate"] = read_rate(pool)
    row["merge2"], row["sort_all"] = merge_cost(scores, 2)
    row["merge8"], _ = merge_cost(scores, 8)
    row["per_row_us"] = row["single"] / unlabeled * 1e6
    row["eff2"] = row["single"] / (2 * row["w2"])
    row["load_end"] = load()
    pool.close()
    return row


def measure_suite(seeds: int, budget: int) -> dict:
    from activeloop.bench import run_suite, write_curves_csv

    kw = dict(strategies=["default", "margin", "peer:random"], seeds=seeds, budget=budget, batch=10)
    out = Path(tempfile.mkdtemp(prefix="activeloop-scale-suite."))
    t0 = time.perf_counter()
    local = run_suite(["digits-imbalanced"], **kw, jobs=2)
    t_jobs = time.perf_counter() - t0
    with warm_cluster(2) as (client, startup):
        t0 = time.perf_counter()
        remote = run_suite(["digits-imbalanced"], **kw, client=client)
        t_cluster = time.perf_counter() - t0
    same = write_curves_csv(local, out / "a.csv").read_bytes() == write_curves_csv(remote, out / "b.csv").read_bytes()
    shutil.rmtree(out, ignore_errors=True)
    return {"runs": len(local), "jobs2": t_jobs, "cluster2": t_cluster, "identical": same, "startup": startup}


def projection(rows: list[dict]) -> list[str]:
    """100M rows on N workers: per-row scoring split N ways, plus what does not split (read cap, transfer, merge)."""
    lines = []
    n = 100_000_000
    for big in (max((r for r in rows if r["backend"] == b), key=lambda r: r["n"]) for b in dict.fromkeys(
            r["backend"] for r in rows)):
        m = big["n"] - LABELS
        score = big["per_row_us"] * 1e-6 * n
        merge = big["merge8"] / m * n  # heapq.merge of 8 parts; it grows with log(parts) per row
        net = n * BYTES_PER_ROW / 117e6  # to the client over 1 Gbit/s
        floor = n / big["read_rate"]
        lines.append(f"projection from {big['backend']} at {big['n']:,} rows: {big['per_row_us']:.2f} us/row to score "
                     f"and sort, one reader streams {big['read_rate']:,.0f} rows/s, client merge "
                     f"{big['merge8'] / m * 1e9:.0f} ns/row (8 parts) = {merge:.0f} s, {n * BYTES_PER_ROW / 1e9:.1f} GB "
                     f"to the client = {net:.0f} s at 1 Gbit/s")
        for w in (1, 2, 4, 8, 16, 32, 64):
            t = max(score / w, floor) + merge + net
            lines.append(f"  N={w:>2}: {t:7.0f} s  (scoring {score / w:6.0f} s; database floor {floor:.0f} s if it "
                         f"serves all workers together no faster than one reader; + merge {merge:.0f} s + transfer "
                         f"{net:.0f} s)")
        per_worker = 1e6 / big["per_row_us"]
        lines.append(f"  one worker asks {per_worker:,.0f} rows/s; N workers outrun a {big['read_rate']:,.0f} rows/s "
                     f"store from N = {big['read_rate'] / per_worker:.1f} on unless reads scale with readers")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--suite-seeds", type=int, default=2)
    ap.add_argument("--suite-budget", type=int, default=60)
    ap.add_argument("--no-suite", action="store_true")
    args = ap.parse_args()
    import torch

    from activeloop.bench.pgserver import PgServer

    torch.set_num_threads(1)
    print(f"load average before: {load()} on {os.cpu_count()} cores", flush=True)
    rows = []
    sizes = [int(s) for s in args.sizes.split(",")]
    for backend in args.backends.split(","):
        for n in sizes:
            print(f"{backend}, {n:,} rows", flush=True)
            if backend == "sqlite":
                tmp = Path(tempfile.mkdtemp(prefix="activeloop-scale."))
                try:
                    rows.append(measure_scoring(f"sqlite:///{tmp / 'pool.db'}", n, backend))
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            else:
                with PgServer() as server:
                    rows.append(measure_scoring(server.url, n, backend))
            r = rows[-1]
            print(f"  round scoring: single {r['single']:.1f} s | 1 worker {r['w1']:.1f} s | 2 workers {r['w2']:.1f} s | "
                  f"speed-up 2w/single {r['single'] / r['w2']:.2f}x, efficiency {r['eff2']:.0%} | "
                  f"{r['per_row_us']:.2f} us/row | one reader {r['read_rate']:,.0f} rows/s | client merge "
                  f"(heapq) 2 parts {r['merge2']:.2f} s, 8 parts {r['merge8']:.2f} s vs sorting all at once "
                  f"{r['sort_all']:.2f} s | worker start-up (imports) {r['start1']:.0f} s / {r['start2']:.0f} s, not "
                  f"counted | stored scores identical: True | load {r['load_start']} -> {r['load_end']}", flush=True)
    if not args.no_suite:
        s = measure_suite(args.suite_seeds, args.suite_budget)
        print(f"suite ({s['runs']} runs, digits-imbalanced): --jobs 2 {s['jobs2']:.1f} s | 2-worker cluster "
              f"{s['cluster2']:.1f} s (+ {s['startup']:.0f} s worker start-up, not counted) | ratio cluster/jobs "
              f"{s['cluster2'] / s['jobs2']:.2f} | curves identical: {s['identical']} | load {load()}",
              flush=True)
    for line in projection(rows):
        print(line)
    print(f"load average after: {load()}", flush=True)


if __name__ == "__main__":
    main()
