"""A process that keeps writing to a pool until it is killed with SIGKILL (tests/test_crash.py).

It logs ``ready`` once the pool is open. Before each write it logs what it is about to do (``begin <what>``); after the write returned
(committed) it logs the result:

    import <batch> <n>          a batch of n examples with external ids ``<batch>/<i>`` (every 3rd labeled)
    label <label_id> <example>  a human label
    round <number> <sha256>     a finished round and its checkpoint's digest

Lines are written unbuffered to the kernel, so SIGKILL cannot lose a line that was written.
"""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np

from activeloop.store import Pool
from activeloop.store.schema import utcnow

MODES = ("import", "label", "retrain")


def work(url: str, mode: str, log_path: str, seed: int) -> None:
    """Write forever (``mode`` = import, label, retrain or mixed); only SIGKILL stops this."""
    rng = random.Random(seed)
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def log(line: str) -> None:
        os.write(fd, (line + "\n").encode())

    pool = Pool.open(url)
    log("ready")
    step = 0
    while True:
        step += 1
        what = rng.choice(MODES) if mode == "mixed" else mode
        if what == "import":
            batch, n = f"{seed}-{step}", rng.randint(20, 200)
            X = np.random.default_rng(seed * 1000 + step).normal(size=(n, pool.dim or 8))
            labels = [pool.classes[i % 2] if i % 3 == 0 else None for i in range(n)]
            payloads = [{"text": f"{batch} row {i} " + "x" * rng.randint(0, 200)} for i in range(n)]
            log(f"begin import {batch}")
            pool.add(X, external_ids=[f"{batch}/{i}" for i in range(n)], labels=labels, payloads=payloads)
            log(f"import {batch} {n}")
        elif what == "label":
            excluded = set(pool.excluded_ids("crash").tolist())
            ids = [int(i) for i in pool.unlabeled_ids() if int(i) not in excluded][: rng.randint(1, 20)]
            if not ids:
                continue
            for eid in pool.lease(ids, annotator="crash", strategy="test", ttl=60):
                log(f"begin label {eid}")
                label_id = pool.label(eid, pool.classes[rng.randrange(len(pool.classes))], annotator="crash")
                log(f"label {label_id} {eid}")
        else:
            log("begin retrain")
            started = utcnow()
            _, X, y = pool.labeled_xy()
            total = 0.0
            for _, chunk in pool.iter_features(unlabeled=False, chunk_size=500):
                total += float(np.abs(chunk).sum())  # "training"
            blob = np.random.default_rng(rng.randrange(2**32)).bytes(rng.randint(1, 8) * 2**20)
            digest = hashlib.sha256(blob).hexdigest()
            log("begin checkpoint")
            rnd = pool.record_round(n_labels=len(y), strategy="crash-test", checkpoint=blob,
                                    metrics={"total": total}, config={"seed": seed}, started_at=started)
            log(f"round {rnd.number} {digest}")
