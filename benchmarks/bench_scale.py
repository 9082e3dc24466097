"""Pool scoring and benchmark suites on a dask.distributed cluster, against one process, in the same run.

Pools of N x 64 float32 rows (bench_query.py's 5-class mixture, 300 stored labels, an MLP
FocalLossClassifier recorded as round 1), on SQLite and on PostgreSQL (a throw-away server this
script starts and stops, as .ci/run does). For each back end and N:

  single    QueryEngine(model).query(pool, 32): one process streams and scores every unlabeled row
  1 worker  the same with client= a LocalCluster of 1 worker process (1 thread)
  2 workers the same with 2 worker processes; scaling efficiency = single / (2 x two-worker time)

Every variant must return the same 32 picks (checked). Torch runs one thread everywhere so the
single process and a worker do the same work per row. Then a bench suite with --jobs 2 against
the same suite on a 2-worker cluster (curves.csv must be byte-identical), and a projection for
100M rows on N workers from the measured per-row cost, read rate and merge cost.

    python benchmarks/bench_scale.py                           # 1M and 3M, SQLite and PostgreSQL
    python benchmarks/bench_scale.py --sizes 1000000 --backends sqlite
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_query import CLASSES, LABELS, make_data  # noqa: E402  (the same pools as the query benchmark)

BATCH = 32
BYTES_PER_ROW = 8 + 8 + 2 + 4  # id, base score, predicted class, confidence: what a worker sends back


@contextmanager
def postgres_server():
    """A throw-away PostgreSQL server on a free loopback port (as .ci/run starts one); yields its admin URL."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not bins:
        raise SystemExit("bench_scale: no PostgreSQL installed (/usr/lib/postgresql/*/bin)")
    pg = bins[-1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tempfile.mkdtemp(prefix="activeloop-scale-pg.")
    shutil.chown(data, "postgres")
    su = lambda cmd: subprocess.run(["su", "postgres", "-c", cmd], check=True, stdout=subprocess.DEVNULL)  # noqa: E731
    su(f"{pg}/initdb -D {data} -A trust -U postgres")
    su(f"{pg}/pg_ctl -D {data} -o '-c listen_addresses=127.0.0.1 -p {port} -k /tmp -c fsync=off "
       f"-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=512MB' -l {data}/log -w start")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        su(f"{pg}/pg_ctl -D {data} -m immediate stop")
        shutil.rmtree(data, ignore_errors=True)


def build(url: str, n: int):
    """A pool of ``n`` rows with LABELS stored labels and round 1 (an MLP fitted on them); returns (pool, model)."""
    from datetime import datetime, timezone

    from activeloop.model import FocalLossClassifier
    from activeloop.store import Pool

    t0 = time.perf_counter()
    X, y = make_data(n)
    pool = Pool.create(url, "bench", CLASSES)
    lab = set(np.random.default_rng(1).choice(n, LABELS, replace=False).tolist())
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        pool.add(X[lo:hi], labels=[CLASSES[y[i]] if i in lab else None for i in range(lo, hi)])
    del X
    _, Xl, yl = pool.labeled_xy()
    model = FocalLossClassifier(hidden=(64,), random_state=0).fit(Xl, yl)
    pool.record_round(n_labels=len(yl), strategy="random", checkpoint=model.to_checkpoint(), metrics={}, config={},
                      started_at=datetime.now(timezone.utc))
    print(f"  built {n:,} rows in {time.perf_counter() - t0:.0f} s", flush=True)
    return pool, model


def scoring_time(pool, model, client, tag: str) -> tuple[float, list[int]]:
    """Seconds of a round's first query (dominated by scoring the pool); the picks, whose leases are then released."""
    from activeloop.query import QueryEngine

    engine = QueryEngine(model, strategy="default", random_state=0, client=client)
    t0 = time.perf_counter()
    picks = [q.example_id for q in engine.query(pool, BATCH, annotator=tag)]
    seconds = time.perf_counter() - t0
    pool.release(picks, annotator=tag)
    return seconds, picks


def read_rate(pool) -> float:
    """Rows per second the store streams to one reader without scoring (the database's share of the cost)."""
    t0, n = time.perf_counter(), 0
    for ids, _ in pool.iter_features(split="pool", unlabeled=True):
        n += len(ids)
    return n / (time.perf_counter() - t0)


def merge_cost(n: int, parts: int = 8) -> float:
    """Seconds the client spends joining ``parts`` workers' compact scores of ``n`` rows in total."""
    from activeloop.query.chunks import Scored, join

    cuts = np.linspace(0, n, parts + 1).astype(int)
    ps = [Scored(np.arange(a, b, dtype=np.int64), np.random.rand(b - a), np.zeros(b - a, np.int16),
                 np.ones(b - a, np.float32), None, None, b - a) for a, b in zip(cuts[:-1], cuts[1:])]
    t0 = time.perf_counter()
    join(ps)
    return time.perf_counter() - t0


def _warm() -> None:
    """Import what a task needs (torch, sklearn, activeloop); a worker process pays this once, at start-up."""
    import activeloop.bench.suite  # noqa: F401
    import activeloop.model  # noqa: F401
    import activeloop.query.distributed  # noqa: F401
    import activeloop.store  # noqa: F401


@contextmanager
def warm_cluster(workers: int):
    """A LocalCluster of ``workers`` processes (1 thread each) whose imports are done; yields (client, start-up s)."""
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as lc, Client(lc) as client:
        client.run(_warm)
        yield client, time.perf_counter() - t0


def measure_scoring(url: str, n: int, backend: str) -> dict:
    pool, model = build(url, n)
    unlabeled = n - LABELS
    row: dict = {"backend": backend, "n": n}
    row["single"], picks = scoring_time(pool, model, None, "single")
    for workers in (1, 2):
        with warm_cluster(workers) as (client, startup):
            row[f"w{workers}"], got = scoring_time(pool, model, client, f"w{workers}")
            row[f"start{workers}"] = startup
        assert got == picks, f"{backend} {n}: {workers}-worker picks differ from the single process's"
    row["read_rate"] = read_rate(pool)
    row["merge_s"] = merge_cost(unlabeled)
    row["per_row_us"] = row["single"] / unlabeled * 1e6
    row["eff2"] = row["single"] / (2 * row["w2"])
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
    big = max(rows, key=lambda r: r["n"])
    n = 100_000_000
    score = big["per_row_us"] * 1e-6 * n
    merge = big["merge_s"] / (big["n"] - LABELS) * n
    net = n * BYTES_PER_ROW / 117e6  # to the client over 1 Gbit/s
    lines = [f"projection from {big['backend']} at {big['n']:,} rows: {big['per_row_us']:.2f} us/row scoring, "
             f"one reader streams {big['read_rate']:,.0f} rows/s, join {merge:.1f} s, "
             f"{n * BYTES_PER_ROW / 1e9:.1f} GB of scores to the client = {net:.0f} s at 1 Gbit/s"]
    floor = n / big["read_rate"]
    for w in (1, 2, 4, 8, 16, 32, 64):
        t = max(score / w, floor) + merge + net
        lines.append(f"  N={w:>2}: {t:7.0f} s  (scoring {score / w:6.0f} s, database floor {floor:.0f} s if it serves all "
                     f"workers together no faster than one reader; + join {merge:.0f} s + transfer {net:.0f} s)")
    per_worker = 1e6 / big["per_row_us"]
    lines.append(f"  one worker asks {per_worker:,.0f} rows/s; N workers outrun a {big['read_rate']:,.0f} rows/s store "
                 f"from N = {big['read_rate'] / per_worker:.1f} on unless reads scale with readers")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,3000000")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--suite-seeds", type=int, default=2)
    ap.add_argument("--suite-budget", type=int, default=60)
    ap.add_argument("--no-suite", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"load average before: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} on {os.cpu_count()} cores", flush=True)
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
                with postgres_server() as url:
                    rows.append(measure_scoring(url, n, backend))
            r = rows[-1]
            print(f"  scoring: single {r['single']:.1f} s | 1 worker {r['w1']:.1f} s | 2 workers {r['w2']:.1f} s | "
                  f"speed-up 2w/single {r['single'] / r['w2']:.2f}x, efficiency {r['eff2']:.0%} | "
                  f"{r['per_row_us']:.2f} us/row | read {r['read_rate']:,.0f} rows/s | join {r['merge_s']:.2f} s "
                  f"| worker start-up (imports) {r['start1']:.0f} s / {r['start2']:.0f} s, not counted | "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    if not args.no_suite:
        s = measure_suite(args.suite_seeds, args.suite_budget)
        print(f"suite ({s['runs']} runs, digits-imbalanced): --jobs 2 {s['jobs2']:.1f} s | 2-worker cluster "
              f"{s['cluster2']:.1f} s (+ {s['startup']:.0f} s worker start-up, not counted) | ratio cluster/jobs "
              f"{s['cluster2'] / s['jobs2']:.2f} | curves identical: {s['identical']}",
              flush=True)
    for line in projection(rows):
        print(line)
    print(f"load average after: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f}", flush=True)


if __name__ == "__main__":
    main()
