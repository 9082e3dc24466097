"""Labeler and retrainer processes for the concurrency tests (run through conftest's ``workers`` fixture).

The labeler takes the TUI's code path: ``QueryEngine.query`` then ``Pool.label`` per example. It
logs ``<example id> <time.time()>`` to its log file only after ``label()`` returned (committed),
and writes a JSON summary (labels, latencies, or the error that killed it) at the end.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from datetime import timedelta

import numpy as np
import sklearn.utils.validation  # noqa: F401  (the engine's fitted check imports it; preload it in the server)

from activeloop.errors import PoolExhaustedError
from activeloop.query import QueryEngine
from activeloop.store import Pool
from activeloop.store.schema import utcnow


class HashModel:
    """A fitted stand-in for the classifier: fixed pseudo-random probabilities per feature row.

    Every annotator scores the pool the same way, so they all want the same examples first and
    only the leases keep them apart. (The real model's cost is not what these tests measure.)
    """

    def __init__(self, n_classes: int):
        self.classes_ = np.arange(n_classes)

    def predict_proba(self, X):
        seeds = np.abs(np.asarray(X, dtype=np.float64)).sum(axis=1) * 1e6
        z = np.sin(seeds[:, None] * (np.arange(len(self.classes_)) + 1.0)) + 1.1
        return z / z.sum(axis=1, keepdims=True)


def _summary(path: str, **data) -> None:
    with open(path, "w") as f:
        json.dump(data, f)


def annotate(url, name, log_path, summary_path, barrier, *, batch=10, limit=None, ttl=1800.0, abandon=False,
             stop_path=None, clock_ahead=0.0) -> None:
    """Label what the engine hands out until the pool runs dry, ``limit`` labels, or ``stop_path`` exists.

    ``clock_ahead`` seconds are added to the pool's clock: leases that far from expiry count as expired.
    """
    latencies: list[float] = []
    leased: list[int] = []
    try:
        pool = Pool.open(url, clock=lambda: utcnow() + timedelta(seconds=clock_ahead))
        engine = QueryEngine(HashModel(len(pool.classes)), strategy="margin", batch_size=batch, diversity="none",
                             lease_ttl=ttl, random_state=0)
        barrier.wait()
        with open(log_path, "a", buffering=1) as log:
            while (limit is None or len(latencies) < limit) and not (stop_path and os.path.exists(stop_path)):
                try:
                    queries = engine.query(pool, annotator=name)
                except PoolExhaustedError:
                    break
                leased += [q.example_id for q in queries]
                if abandon:
                    break
                for q in queries:
                    t = time.perf_counter()
                    pool.label(q.example_id, pool.classes[q.example_id % len(pool.classes)], annotator=name)
                    latencies.append(time.perf_counter() - t)
                    log.write(f"{q.example_id} {time.time()}\n")
        pool.close()
    except BaseException:
        _summary(summary_path, error=traceback.format_exc(), labels=len(latencies))
        raise
    _summary(summary_path, labels=len(latencies), leased=leased, latencies=latencies)


def _lines(path: str) -> int:
    return sum(1 for _ in open(path)) if os.path.exists(path) else 0


def retrain(url, summary_path, barrier, *, labeler_log, labels_during_read=20, checkpoint_mb=16,
            timeout=60.0) -> None:
    """A retrain's database traffic: one read of the whole pool, held open until the labeler has
    committed ``labels_during_read`` more labels (or ``timeout`` s passed), then a big round write."""
    try:
        pool = Pool.open(url)
        barrier.wait()
        started = utcnow()
        ids, _, _ = pool.labeled_xy()
        rows = 0
        committed = None
        for chunk_ids, chunk in pool.iter_features(unlabeled=False, chunk_size=10):  # one read, held open
            if committed is None:  # the read transaction is open now: wait for labels committed meanwhile
                first, deadline = _lines(labeler_log), time.monotonic() + timeout
                while _lines(labeler_log) - first < labels_during_read and time.monotonic() < deadline:
                    time.sleep(0.01)
                committed = _lines(labeler_log) - first
            rows += len(chunk_ids)
            chunk.T.astype(np.float64) @ chunk
        blob = np.random.default_rng(0).bytes(int(checkpoint_mb * 2**20))
        t = time.time()
        rnd = pool.record_round(n_labels=len(ids), strategy="test", checkpoint=blob, metrics={"rows": rows},
                                config={}, started_at=started)
        write = time.time() - t
        pool.close()
    except BaseException:
        _summary(summary_path, error=traceback.format_exc())
        raise
    _summary(summary_path, committed_during_read=committed, write_seconds=write, round=rnd.number, rows=rows)
