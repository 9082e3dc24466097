"""Scoring a pool on a dask.distributed cluster: each worker scores a range of ids, the client joins them.

The client sends the model once to every worker (``scatter(..., broadcast=True)``), cuts the pool
split's ids into ranges and submits one task per range. A task opens the store by its URL (a
PostgreSQL server, or a SQLite file on a path every worker shares), streams its range through
:func:`activeloop.query.chunks.score_chunks` (the local engine's scoring function) and returns
the compact scores of its range with its candidates sorted per class
(:func:`~activeloop.query.chunks.candidates`). The client joins the parts in id order and k-way
merges each class's candidates, so the round's stored scores, the engine's cache, and hence every
pick, equal a local pass.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import make_url

from activeloop.cluster import distributed, n_workers
from activeloop.errors import ClusterError
from activeloop.query.chunks import Scored, candidates, join, prefetched, score_chunks

__all__ = ["RANGES_PER_WORKER", "check_workers_open", "id_ranges", "score_on_cluster", "shared_url"]

RANGES_PER_WORKER = 4  # a few ranges per worker even out uneven ranges and slow workers
RETRIES = 3
_POOLS: dict[tuple[str, str], Any] = {}  # per worker process: stores opened by earlier tasks


def shared_url(pool: Any) -> str:
    """The pool's URL as a worker on another machine must see it: a SQLite path made absolute.

    An in-memory SQLite database exists only inside this process, so it is refused.
    """
    url = make_url(pool.url)
    if url.get_backend_name() != "sqlite":
        return pool.url
    if url.database in (None, "", ":memory:"):
        raise ClusterError("an in-memory SQLite database cannot be scored on a dask cluster; use a database file on "
                           "a path every worker shares, or PostgreSQL")
    return url.set(database=str(Path(url.database).resolve())).render_as_string(hide_password=False)


def _where(url: str) -> str:
    parsed = make_url(url)
    return parsed.database if parsed.get_backend_name() == "sqlite" else parsed.render_as_string(hide_password=True)


def _open(url: str, project: str) -> Any:
    from activeloop.store import Pool

    pool = _POOLS.get((url, project))
    if pool is None:
        pool = _POOLS[(url, project)] = Pool.open(url, project, auto_upgrade=False)
    return pool


def _can_open(url: str, project: str) -> str | None:
    """Runs on each worker: None when it opens the store, else the reason in one line."""
    try:
        _open(url, project)
    except Exception as exc:  # noqa: BLE001 - reported back to the client in one line
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def check_workers_open(client: Any, url: str, project: str) -> None:
    """A :class:`ClusterError` naming the first worker that cannot open the store, and why."""
    for worker, reason in sorted(client.run(_can_open, url, project).items()):
        if reason is not None:
            hint = ("put the database on a path every worker shares (the same path on each machine), or use "
                    "PostgreSQL") if make_url(url).get_backend_name() == "sqlite" else "check the server and the URL"
            raise ClusterError(f"dask worker {worker} cannot open {_where(url)}: {reason}; {hint}")


def id_ranges(bounds: tuple[int, int] | None, parts: int) -> list[tuple[int, int]]:
    """``parts`` consecutive ``[lo, hi)`` ranges covering ``bounds`` (inclusive ids), none empty."""
    if bounds is None:
        return []
    lo, hi = bounds[0], bounds[1] + 1
    cuts = np.unique(np.linspace(lo, hi, max(1, int(parts)) + 1).round().astype(np.int64))
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]


def _score_range(url: str, project: str, id_range: tuple[int, int], model: Any, strategy: Any, counts: np.ndarray,
                 seed: int, chunk_size: int, keep_proba: bool) -> Scored:
    pool = _open(url, project)
    chunks = prefetched(lambda: pool.iter_features(split="pool", unlabeled=True, chunk_size=chunk_size,
                                                   id_range=id_range))
    part = score_chunks(model, strategy, chunks, list(pool.classes), counts, seed, keep_proba=keep_proba)
    return candidates(part, len(pool.classes))


def score_on_cluster(client: Any, pool: Any, model: Any, strategy: Any, *, counts: np.ndarray, seed: int,
                     chunk_size: int = 50_000, parts: int | None = None, keep_proba: bool = False) -> Scored:
    """The pool split's unlabeled examples scored on ``client``'s workers, joined in id order, candidates merged.

    The result carries the whole pool's per-class orders (``order``/``starts``); ``keep_proba``
    also brings back every row's margins and per-class margin orders (for DIRECT, GALAXY, BASE).
    """
    d = distributed()
    from dask.base import tokenize

    url = shared_url(pool)
    workers = n_workers(client)
    for what, obj in (("model", model), ("strategy", strategy)):
        try:
            pickle.dumps(obj)
        except Exception as exc:  # noqa: BLE001
            raise ClusterError(f"the {what} {obj!r} cannot be sent to dask workers ({exc}); "
                               "a custom strategy must be a module-level function (package.module:function)") from None
    check_workers_open(client, url, pool.name)
    ranges = id_ranges(pool.id_bounds("pool"), parts or RANGES_PER_WORKER * workers)
    if not ranges:
        return join([])
    [model_f] = client.scatter([model], broadcast=True, hash=False)
    token = tokenize(url, pool.name, ranges, model_f.key, strategy, counts, seed, chunk_size, keep_proba)
    futures = [client.submit(_score_range, url, pool.name, r, model_f, strategy, counts, seed, chunk_size, keep_proba,
                             key=f"activeloop-score-{token}-{k}", pure=False, retries=RETRIES)
               for k, r in enumerate(ranges)]
    try:
        parts_ = client.gather(futures)
    except d.KilledWorker as exc:
        raise ClusterError(f"scoring on the dask cluster failed: {exc}") from None
    finally:
        client.cancel(futures + [model_f])
    return join(parts_)
