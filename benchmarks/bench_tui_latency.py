"""Keypress-to-next-example latency of the labeling app, with and without a retrain running.

Builds a pool of 100,000 examples (sklearn digits, jittered copies, with the demo's image payloads),
opens the real app headless with Textual's pilot, and labels 300 examples one key at a time. Each
sample is the time from the driver receiving the key to the next example's frame being rendered:
the key event is sent the way the terminal driver sends it; once the action has run (label committed,
next example taken from the queue, or after waiting for the next batch if the queue had run dry)
the pilot waits until the screen and every widget have handled the messages it caused, then lays
out and renders the frame. (``pilot.press``
is not used for timing: it waits for the whole *process* to look idle, in 20 ms steps, which a
training thread never does.)

Two runs:

* ``idle``: no retrain (automatic retraining off), prefetching only;
* ``retrain``: a retrain is kept running in a background thread the whole time (a long fit, started
  again as soon as one lands), so each keypress competes with training for the CPU and the GIL.

Usage::

    python benchmarks/bench_tui_latency.py [--n 100000] [--labels 300] [--think-ms 0]
    python benchmarks/bench_tui_latency.py --db /tmp/activeloop-bench-query/pool-1000000-d64-c5.db

``--db`` uses an existing pool (e.g. bench_query.py's 1M file, whose latest round has stored
scores) instead of building one, and first measures launch to first example: a new process that
imports the app, opens the pool and runs it headless until an example is on screen, against the
bare-process floor (a new Python process that imports numpy, opens the SQLite file, reads 10 rows).

Prints median / p90 / p99 / max per run (ms) of the wall time, and of the UI thread's CPU time over
the same window (``time.thread_time``: what the keystroke itself costs, independent of how loaded the
machine is), and, for the retrain run, how many samples were taken while a retrain was running.
Aim: median < 30 ms, p99 < 100 ms in both.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from textual import events

from activeloop.loop import Loop
from activeloop.store import Pool
from activeloop.tui.app import LabelApp

BARE = """
import sys, sqlite3
import numpy
rows = sqlite3.connect(sys.argv[1]).execute("SELECT id, features FROM examples LIMIT 10").fetchall()
assert len(rows) == 10
"""


def first_example_child(db: str, t0: float) -> None:
    """In a new process: open the app headless on ``db``; print seconds from ``t0`` (parent's clock) to an example."""

    async def run() -> float:
        pool = Pool.open(db)
        app = LabelApp(pool, annotator="bench-first", batch=10)
        async with app.run_test(size=(100, 30)) as pilot:
            while app.current is None:
                await pilot.pause(0.005)
            shown = time.time() - t0
            modules = [m for m in ("torch", "sklearn") if m in sys.modules]
            await pilot.press("q")
        pool.release([lease.example_id for lease in pool.active_leases("bench-first")], annotator="bench-first")
        pool.close()
        print(f"{shown:.4f} {','.join(modules) or '-'}")

    asyncio.run(run())


def first_example(db: str, repeats: int = 3) -> None:
    """Launch to first example (new process) against the bare-process floor, both measured here."""
    floors, firsts, mods = [], [], ""
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE, db], check=True)
        floors.append(time.perf_counter() - t)
        out = subprocess.run([sys.executable, __file__, "--child-first", db, "--t0", repr(time.time())],
                             capture_output=True, text=True, check=True).stdout.split()
        firsts.append(float(out[-2]))
        mods = out[-1]
    f, a = float(np.median(floors)), float(np.median(firsts))
    print(f"first example: launch to example on screen {a:.3f} s (median of {repeats}); bare-process floor {f:.3f} s; "
          f"ratio {a / f:.1f}x (aim <= 10x); torch/sklearn imported: {mods}")


def build_pool(path: Path, n: int, seed: int = 0) -> Pool:
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    src = rng.integers(0, len(digits.data), size=n)
    X = digits.data[src] + rng.normal(0, 0.5, size=(n, digits.data.shape[1]))
    X = np.clip(X, 0, 16).astype(np.float32)
    payloads = [{"image": np.rint(X[i].reshape(8, 8)).astype(int).tolist(), "source": f"sklearn digits #{s}"}
                for i, s in enumerate(src)]
    pool = Pool.create(path, "digits-100k", [str(d) for d in range(10)], hotkeys=[str(d) for d in range(10)])
    pool.add(X, payloads=payloads, external_ids=[f"d{i}" for i in range(n)])
    ev = rng.integers(0, len(digits.data), size=300)
    pool.add(digits.data[ev], payloads=[{"image": digits.images[i].astype(int).tolist()} for i in ev],
             labels=[str(digits.target[i]) for i in ev], external_ids=[f"e{i}" for i in range(300)], split="eval")
    pool.source_digit = {int(i): int(digits.target[s]) for i, s in zip(range(1, n + 1), src)}  # ids start at 1
    return pool


async def measure(app: LabelApp, labels: int, think_s: float, truth) -> tuple[list[float], list[bool], list[float]]:
    lat, during, cpu = [], [], []
    async with app.run_test(size=(100, 30)) as pilot:
        while app.current is None:  # the first batch (a cold start over the whole pool)
            await pilot.pause(0.05)
        for _ in range(labels):
            shown = app.current.query.example_id
            key = truth(shown)
            busy = app.session.retraining
            t0 = time.perf_counter()
            c0 = time.thread_time()  # CPU time of the UI thread: what the keystroke costs on an idle machine
            event = events.Key(key, key)
            event.set_sender(app)
            app._driver.send_message(event)  # what the terminal driver does on a keystroke
            while app.current is None or app.current.query.example_id == shown:
                await asyncio.sleep(0)  # the key travels app -> screen -> binding -> action (or the queue ran dry)
            await pilot._wait_for_screen()  # every message the action caused is handled
            app.screen._on_timer_update()  # lay out and render the frame now, not on the next refresh tick
            lat.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
            during.append(busy or app.session.retraining)
            if not app.session.auto_retrain and not app.session.retraining and app._keep_training:
                app.action_retrain()
            if think_s:
                await pilot.pause(think_s)
        await pilot.press("q")
    return lat, during, cpu


def report(name: str, lat: list[float], during: list[bool], cpu: list[float]) -> None:
    a, c = np.asarray(lat), np.asarray(cpu)
    print(f"{name:8s} n={len(a)}  wall: median {np.median(a):6.1f} ms  p90 {np.percentile(a, 90):6.1f}  "
          f"p99 {np.percentile(a, 99):6.1f}  max {a.max():6.1f}  |  UI-thread CPU: median {np.median(c):5.1f} ms  "
          f"p99 {np.percentile(c, 99):5.1f}  (samples during a retrain: {sum(during)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--labels", type=int, default=300)
    ap.add_argument("--think-ms", type=float, default=0.0, help="pause between labels (a labeler's think time)")
    ap.add_argument("--db", help="use this existing pool (its latest round's stored scores) instead of building one")
    ap.add_argument("--child-first", help=argparse.SUPPRESS)
    ap.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_first:
        first_example_child(args.child_first, args.t0)
        return
    if args.db:
        first_example(args.db)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        if args.db:
            pool = Pool.open(args.db)
            truth = lambda eid: pool.hotkeys[eid % len(pool.hotkeys)]  # noqa: E731
        else:
            pool = build_pool(Path(tmp) / "bench.db", args.n)
            print(f"pool of {args.n} examples built in {time.perf_counter() - t:.1f} s")
            truth = lambda eid: str(pool.source_digit.get(eid, 0))  # noqa: E731
        results = {}
        for name in ("idle", "retrain"):
            # the shipped default model (activeloop.loop.default_model: refitted each round, not warm-started);
            # in the retrain run the next retrain starts as soon as one lands, so one is running at
            # (nearly) every keypress: with a 1M pool each round also scores and stores the whole pool
            loop = Loop(pool, batch_size=10, random_state=0)
            app = LabelApp(pool, annotator=f"bench-{name}", batch=10, loop=loop, auto_retrain=False)
            app._keep_training = name == "retrain"
            lat, during, cpu = asyncio.run(measure(app, args.labels, args.think_ms / 1000, truth))
            results[name] = (lat, during)
            report(name, lat, during, cpu)
        pool.close()
    import os

    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
