"""label() latency while a retrain reads the pool and writes big checkpoints, against label() alone.

Both sides are measured in the same run on the same SQLite file: first a labeler process labels
``--labels`` examples with nothing else running (the peer), then another ``--labels`` while a
second process repeats a retrain's traffic (one read of every feature row, then a round with a
``--checkpoint-mb`` checkpoint). This is the timing part of tests/test_concurrency.py's
"a retrain does not block labeling", which asserts only the behaviour.

    python benchmarks/bench_label_during_retrain.py
    python benchmarks/bench_label_during_retrain.py --rows 20000 --checkpoint-mb 64
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import numpy as np

from activeloop.store import Pool
from activeloop.store.schema import utcnow


def _label(url: str, ids: list[int], out) -> None:
    with Pool.open(url) as pool:
        lat = []
        for i in ids:
            t = time.perf_counter()
            pool.label(i, pool.classes[i % 2], annotator="ana")
            lat.append(time.perf_counter() - t)
    out.put(lat)


def _retrain(url: str, mb: int, stop, out) -> None:
    blob = np.random.default_rng(0).bytes(mb * 2**20)
    writes = []
    with Pool.open(url) as pool:
        while not stop.is_set():
            started = utcnow()
            rows = sum(len(ids) for ids, _ in pool.iter_features(unlabeled=False, chunk_size=1000))
            t = time.perf_counter()
            pool.record_round(n_labels=rows, strategy="bench", checkpoint=blob, metrics={}, config={}, started_at=started)
            writes.append(time.perf_counter() - t)
    out.put(writes)


def _summary(lat: list[float]) -> str:
    a = np.array(lat) * 1000
    return f"median {np.median(a):7.2f} ms   p99 {np.percentile(a, 99):7.2f} ms   max {a.max():7.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--labels", type=int, default=300)
    ap.add_argument("--checkpoint-mb", type=int, default=16)
    args = ap.parse_args()
    ctx = mp.get_context("fork")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        with Pool.create(url, "bench", ["ok", "fraud"]) as pool:
            pool.add(np.random.default_rng(1).normal(size=(args.rows, 64)))
            ids = [int(i) for i in pool.unlabeled_ids()[: 2 * args.labels]]
        out = ctx.Queue()
        alone = ctx.Process(target=_label, args=(url, ids[: args.labels], out))
        alone.start()
        lat_alone = out.get()
        alone.join()
        stop, wout = ctx.Event(), ctx.Queue()
        retrainer = ctx.Process(target=_retrain, args=(url, args.checkpoint_mb, stop, wout))
        retrainer.start()
        time.sleep(0.5)  # let the first read begin
        labeler = ctx.Process(target=_label, args=(url, ids[args.labels :], out))
        labeler.start()
        lat_busy = out.get()
        labeler.join()
        stop.set()
        writes = wout.get()
        retrainer.join()
    print(f"{args.labels} label() calls each, {args.rows} x 64 pool, {args.checkpoint_mb} MB checkpoints")
    print(f"  peer: label() alone          {_summary(lat_alone)}")
    print(f"  label() during retrains      {_summary(lat_busy)}")
    print(f"  {len(writes)} checkpoint writes, median {np.median(writes) * 1000:.1f} ms")
    print(f"  ratio of medians {np.median(lat_busy) / np.median(lat_alone):.2f}x; "
          f"max during retrains / median checkpoint write {max(lat_busy) / np.median(writes):.2f}")


if __name__ == "__main__":
    main()
