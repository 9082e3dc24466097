"""Import speed: a 1,000,000 x 64 float32 ``.npy`` pool through ``activeloop import``, against a floor.

The floor is measured in the same run: the same rows written with plain ``sqlite3.executemany``
in one transaction into a table of the same shape (same columns, unique index and split index,
WAL, synchronous=NORMAL). Each side runs in its own child process, which reports its own wall
time and peak resident memory (``ru_maxrss``).

    python benchmarks/bench_import.py                 # 1,000,000 x 64
    python benchmarks/bench_import.py --rows 200000   # quicker
    python benchmarks/bench_import.py --repeat 3      # alternate the two sides, keep each one's best

On a shared, busy machine the two sides see different load; --repeat alternates them and
reports each side's fastest run.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_import(db: str, npy: str) -> dict:
    """``activeloop init`` + ``activeloop import`` through the click app, as the console script runs it."""
    from activeloop.cli import app

    app(["init", db, "--name", "bench", "--classes", "ok,rare"], standalone_mode=False)
    t0, c0 = time.perf_counter(), _cpu()
    app(["import", db, npy], standalone_mode=False)
    return {"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "peak_mib": _peak_mib()}


def child_floor(db: str, npy: str) -> dict:
    """Plain sqlite3: one executemany of the same rows into a table of the same shape."""
    X = np.load(npy, mmap_mode="r")
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "CREATE TABLE examples (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, external_id VARCHAR(500) NOT NULL,"
        " payload JSON, features BLOB NOT NULL, split VARCHAR(8) NOT NULL, created_at DATETIME NOT NULL,"
        " CONSTRAINT uq_examples_project_external_id UNIQUE (project_id, external_id))"
    )
    con.execute("CREATE INDEX ix_examples_project_split ON examples (project_id, split)")
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    t0, c0 = time.perf_counter(), _cpu()
    Xm = np.asarray(X, dtype=np.float32)
    con.execute("BEGIN IMMEDIATE")
    con.executemany(
        "INSERT INTO examples (project_id, external_id, payload, features, split, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        ((1, f"#{i}", None, Xm[i].tobytes(), "pool", now) for i in range(len(Xm))),
    )
    con.execute("COMMIT")
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    con.close()
    return {"seconds": seconds, "cpu": cpu, "peak_mib": _peak_mib()}


def run_child(kind: str, db: Path, npy: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(db), str(npy)], stdout=subprocess.PIPE, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=1, help="Runs per side, alternating; the best is kept.")
    parser.add_argument("--dir", type=Path, default=None, help="Working folder (default: a temp folder).")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "DB", "NPY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, db, npy = args.child
        result = child_import(db, npy) if kind == "import" else child_floor(db, npy)
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        npy = tmp / "pool.npy"
        X = np.random.default_rng(0).standard_normal((args.rows, args.dim), dtype=np.float32)
        np.save(npy, X)
        del X
        print(f"{args.rows:,} x {args.dim} float32 ({npy.stat().st_size / 2**20:.0f} MiB .npy)", flush=True)
        runs: dict[str, list[dict]] = {"floor": [], "import": []}
        for _ in range(max(1, args.repeat)):
            for kind in ("floor", "import"):
                for leftover in tmp.glob(f"{kind}.db*"):
                    leftover.unlink()
                runs[kind].append(run_child(kind, tmp / f"{kind}.db", npy))
        sizes = {k: (tmp / f"{k}.db").stat().st_size / 2**20 for k in ("floor", "import")}
    floor = min(runs["floor"], key=lambda r: r["seconds"])
    imp = min(runs["import"], key=lambda r: r["seconds"])
    floor_cpu = min(r["cpu"] for r in runs["floor"])
    imp_cpu = min(r["cpu"] for r in runs["import"])
    if args.repeat > 1:
        for kind, rs in runs.items():
            print(f"{kind} runs: " + ", ".join(f"{r['seconds']:.2f} s wall / {r['cpu']:.2f} s cpu" for r in rs))

    print(f"{'':28s} {'wall s':>8s} {'cpu s':>8s} {'peak MiB':>9s} {'db MiB':>7s}")
    print(f"{'floor: sqlite3.executemany':28s} {floor['seconds']:8.2f} {floor_cpu:8.2f} {floor['peak_mib']:9.0f} {sizes['floor']:7.0f}")
    print(f"{'activeloop import':28s} {imp['seconds']:8.2f} {imp_cpu:8.2f} {imp['peak_mib']:9.0f} {sizes['import']:7.0f}")
    print(
        f"ratio import / floor: {imp['seconds'] / floor['seconds']:.2f}x wall, {imp_cpu / floor_cpu:.2f}x cpu "
        f"(aim <= 1.5x); import peak {imp['peak_mib']:.0f} MiB (aim < 2048)"
    )


if __name__ == "__main__":
    main()
