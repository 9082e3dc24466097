"""Soak: annotators label through the real store while the server restarts and annotators are killed.

Three annotator processes (the app's path: ``Loop.query`` then ``Pool.label`` per example, a
``Loop.retrain`` every 20 of their labels) label a synthetic imbalanced pool. On PostgreSQL the
soak's own throw-away server restarts (``pg_ctl restart -m fast``) every 2 minutes; on both back
ends a random annotator is SIGKILLed every 10-40 s and started again (it resumes its leases).

Each annotator logs ``ok <example> <key>`` only after ``label()`` returned, so every logged label
was committed. At the end every logged label must be in the database exactly once (``lost`` and
``doubled`` must be 0); ``doubled`` also counts any example labeled twice by anyone. Latency is
per ``label()`` call, retries included; its peer is the latency of labels written nowhere near a
restart or kill in the same run (more than 5 s away).

    python benchmarks/soak.py --backend postgresql            # 30 minutes
    python benchmarks/soak.py --backend sqlite --seconds 60   # a short one
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np

QUIET_S = 5.0  # a label this far from any restart or kill counts towards the undisturbed peer latency


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--minutes", type=float, default=30.0, help="how long to soak (default 30)")
    p.add_argument("--seconds", type=float, default=None, help="how long to soak, in seconds (overrides --minutes)")
    p.add_argument("--annotators", type=int, default=3)
    p.add_argument("--retrain-every", type=int, default=20, help="labels per annotator between retrains")
    p.add_argument("--restart-every", type=float, default=120.0, help="seconds between PostgreSQL restarts")
    p.add_argument("--kill-every", type=float, nargs=2, default=(10.0, 40.0), metavar=("MIN", "MAX"),
                   help="seconds between SIGKILLs of a random annotator, drawn uniformly")
    p.add_argument("--think", type=float, default=0.3, help="seconds an annotator looks at an example")
    p.add_argument("--examples", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--worker", nargs=3, metavar=("URL", "NAME", "DIR"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ------------------------------------------------------------------ annotator process
def annotate(url: str, name: str, workdir: Path, args: argparse.Namespace) -> None:
    """Label until the stop file appears; log each label after it committed."""
    from activeloop import Loop, Pool
    from activeloop.errors import LeaseError, PoolExhaustedError, UnreachableError
    from activeloop.model import FocalLossClassifier

    stop = workdir / "stop"
    log = open(workdir / f"{name}.log", "a", buffering=1)
    pool = Pool.open(url)
    model = FocalLossClassifier(hidden=(16,), max_epochs=15, random_state=0)
    loop = Loop(pool, model=model, strategy="margin", batch_size=10)
    pending = [lease.example_id for lease in pool.active_leases(name)]  # what a killed run of mine left leased
    done = 0
    while not stop.exists():
        if not pending:
            try:
                pending = [q.example_id for q in loop.query(10, annotator=name)]
            except UnreachableError as exc:
                log.write(f"unreachable query {exc}\n")
                continue
            except PoolExhaustedError:
                break
        eid = pending.pop(0)
        truth = pool.payloads([eid])[0]["y"]
        time.sleep(args.think)
        key = uuid.uuid4().hex
        log.write(f"try {eid} {key}\n")
        t = time.perf_counter()
        while True:
            try:
                pool.label(eid, truth, annotator=name, key=key)
            except UnreachableError as exc:  # the same key again: the label is written once however often we try
                log.write(f"unreachable label {exc}\n")
                continue
            except LeaseError as exc:
                log.write(f"lease {eid} {exc}\n")
                break
            log.write(f"ok {eid} {key} {time.perf_counter() - t:.6f} {time.time():.3f}\n")
            done += 1
            break
        if done and done % args.retrain_every == 0:
            try:
                loop.retrain()
                log.write(f"round {time.time():.3f}\n")
            except Exception as exc:  # noqa: BLE001 - a failed round keeps the old model; the soak goes on
                log.write(f"retrain-failed {type(exc).__name__}: {exc}\n")
    pool.close()


# ------------------------------------------------------------------ the soak
@contextmanager
def database(backend: str, workdir: Path):
    """A fresh database and, on PostgreSQL, the server the soak may restart."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'soak.db'}", None
        return
    from activeloop.bench.pgserver import PgServer

    with PgServer() as server:
        yield server.url, server


def setup(url: str, n: int, seed: int) -> None:
    """A 2-class pool, 5% minority, 16 features; 200 labeled eval examples; truth in each payload."""
    from activeloop import Pool

    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n + 200) < 0.05, "rare", "common")
    X = rng.normal(size=(n + 200, 16)).astype(np.float32) + (y == "rare")[:, None] * 1.5
    with Pool.create(url, "soak", ["common", "rare"]) as pool:
        pool.add(X[:n], payloads=[{"y": c} for c in y[:n]])
        pool.add(X[n:], labels=list(y[n:]), split="eval")


def spawn(url: str, name: str, workdir: Path, argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    err = open(workdir / f"{name}.err", "a")
    return subprocess.Popen([sys.executable, __file__, *argv, "--worker", url, name, str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=err, env=env)


def soak(args: argparse.Namespace) -> dict:
    duration = args.seconds if args.seconds is not None else args.minutes * 60
    rng = random.Random(args.seed)
    worker_argv = ["--think", str(args.think), "--retrain-every", str(args.retrain_every)]
    with tempfile.TemporaryDirectory(prefix="activeloop-soak-") as tmp, database(args.backend, Path(tmp)) as (url, server):
        workdir = Path(tmp)
        setup(url, args.examples, args.seed)
        names = [f"annotator{i}" for i in range(args.annotators)]
        procs = {n: spawn(url, n, workdir, worker_argv) for n in names}
        events: list[float] = []
        restarts = kills = crashes = 0
        start = time.time()
        next_restart = start + args.restart_every if server is not None else float("inf")
        next_kill = start + rng.uniform(*args.kill_every)
        while (now := time.time()) < start + duration:
            if now >= next_restart:
                server.restart()
                restarts += 1
                events.append(now)
                next_restart = now + args.restart_every
            if now >= next_kill:
                name = rng.choice(names)
                procs[name].send_signal(signal.SIGKILL)
                procs[name].wait()
                procs[name] = spawn(url, name, workdir, worker_argv)
                kills += 1
                events.append(now)
                next_kill = now + rng.uniform(*args.kill_every)
            for name, proc in procs.items():
                if proc.poll() is not None:  # died on its own: counted, and started again
                    crashes += 1
                    procs[name] = spawn(url, name, workdir, worker_argv)
            time.sleep(0.2)
        (workdir / "stop").touch()
        for proc in procs.values():
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        result = verify(url, workdir, names, events)
        errors = "".join((workdir / f"{n}.err").read_text() for n in names).strip()
    return {"backend": args.backend, "seconds": round(time.time() - start), "annotators": args.annotators,
            "restarts": restarts, "kills": kills, "crashes": crashes, **result,
            "last_error": errors.splitlines()[-1] if crashes and errors else None}


def verify(url: str, workdir: Path, names: list[str], events: list[float]) -> dict:
    """Every logged label is in the database exactly once; no example carries two labels."""
    import sqlalchemy as sa

    from activeloop.store import db

    logged: dict[str, int] = {}
    latency, quiet, rounds, lease_refusals = [], [], 0, 0
    for name in names:
        for line in (workdir / f"{name}.log").read_text().splitlines():
            kind, *rest = line.split()
            if kind == "ok":
                eid, key, seconds, at = int(rest[0]), rest[1], float(rest[2]), float(rest[3])
                logged[key] = eid
                latency.append(seconds)
                if all(abs(at - e) > QUIET_S for e in events):
                    quiet.append(seconds)
            elif kind == "round":
                rounds += 1
            elif kind == "lease":
                lease_refusals += 1
    engine = db.make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT example_id, idempotency_key FROM labels WHERE source = 'human'")).all()
    engine.dispose()
    by_key = Counter(k for _, k in rows)
    stored = {k: e for e, k in rows}
    lost = sum(1 for k, e in logged.items() if stored.get(k) != e)
    doubled = sum(n - 1 for n in by_key.values() if n > 1) + sum(n - 1 for n in Counter(e for e, _ in rows).values() if n > 1)
    ms = lambda xs, q: round(float(np.percentile(xs, q)) * 1000, 2) if xs else None  # noqa: E731
    return {"labels_written": len(rows), "labels_logged": len(logged), "lost": lost, "doubled": doubled,
            "rounds": rounds, "lease_refusals": lease_refusals,
            "p50_ms": ms(latency, 50), "p99_ms": ms(latency, 99), "max_ms": ms(latency, 100),
            "quiet_p50_ms": ms(quiet, 50), "quiet_p99_ms": ms(quiet, 99)}


def main(argv=None) -> int:
    args = parse(argv)
    if args.worker:
        url, name, workdir = args.worker
        annotate(url, name, Path(workdir), args)
        return 0
    r = soak(args)
    ratio = r["p99_ms"] / r["quiet_p99_ms"] if r["p99_ms"] and r["quiet_p99_ms"] else float("nan")
    print(f"soak {r['backend']}: {r['seconds']} s, {r['annotators']} annotators, {r['restarts']} server restarts, "
          f"{r['kills']} SIGKILLs survived, {r['crashes']} crashes")
    print(f"  labels written {r['labels_written']} (logged as committed {r['labels_logged']}), lost {r['lost']}, "
          f"doubled {r['doubled']}, rounds {r['rounds']}, lease refusals {r['lease_refusals']}")
    print(f"  label latency p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms; "
          f"peer (>{QUIET_S:g} s from any fault) p50 {r['quiet_p50_ms']} ms, p99 {r['quiet_p99_ms']} ms; "
          f"p99 ratio {ratio:.1f}x")
    if r["last_error"]:
        print(f"  last worker error: {r['last_error']}")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2) + "\n")
    return 0 if r["lost"] == 0 and r["doubled"] == 0 and r["labels_logged"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
