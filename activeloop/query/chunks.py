"""Scoring a stream of ``(ids, X)`` chunks: the one scoring function of the local and the cluster engine.

The engine passes the pool's chunks here; on a dask cluster each worker passes the chunks of its
id range here and the client joins the parts with :func:`join`. Rows are scored independently,
so the result depends neither on the chunk size nor on how the id ranges are cut. Both read the
next chunk while scoring this one (:func:`prefetched`).
"""

from __future__ import annotations

from dataclasses import dataclass
import queue
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from activeloop.model.adapter import proba_by_class
from activeloop.query.strategies import Context, Strategy

__all__ = ["PROBE_ROWS", "Scored", "join", "prefetched", "score_chunks"]

PROBE_ROWS = 8


@dataclass
class Scored:
    """Compact per-example scores, ids ascending (about 22 bytes an example), and a few probe rows.

    ``probe_X`` / ``probe_proba`` are the first rows and their probabilities, kept so the engine can
    notice a refitted model; ``n`` counts the rows passed through ``predict_proba``; ``proba`` is
    every row's probabilities, kept only for a strategy that reads per-class orders.
    """

    ids: np.ndarray
    base: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    probe_X: np.ndarray | None
    probe_proba: np.ndarray | None
    n: int
    proba: np.ndarray | None = None


def score_chunks(
    model: Any,
    strategy: Strategy,
    chunks: Iterable[tuple[np.ndarray, np.ndarray]],
    classes: Sequence[str],
    counts: np.ndarray,
    seed: int,
    *,
    keep_proba: bool = False,
) -> Scored:
    """Score every ``(ids, X)`` chunk with ``model`` and ``strategy.score``; keep the compact scores (and ``proba``)."""
    ctx = Context(class_counts=counts, classes=tuple(classes), rng=np.random.default_rng(seed), seed=seed)
    ids_l, base_l, pred_l, conf_l, proba_l = [], [], [], [], []
    probe_X = probe_proba = None
    for ids, X in chunks:
        if len(ids) == 0:
            continue
        proba = proba_by_class(model, X, list(classes))
        if probe_X is None:
            probe_X, probe_proba = np.array(X[:PROBE_ROWS]), proba[:PROBE_ROWS].copy()
        base = np.asarray(strategy.score(proba, ctx.with_rows(ids=ids, features=X)), dtype=np.float64)
        ids_l.append(ids)
        base_l.append(base)
        pred_l.append(proba.argmax(axis=1).astype(np.int16))
        conf_l.append(proba.max(axis=1).astype(np.float32))
        if keep_proba:
            proba_l.append(proba)
        del proba
    out = _concat(ids_l, base_l, pred_l, conf_l, probe_X, probe_proba)
    out.proba = np.concatenate(proba_l) if proba_l else None
    return out


def join(parts: Sequence[Scored]) -> Scored:
    """One :class:`Scored` from parts over consecutive, disjoint id ranges, given in range order.

    Each part is already sorted by id and the ranges do not overlap, so the k-way merge by id is
    their concatenation; the probe rows are the first part's (the lowest ids, as a local pass has).
    """
    first = next((p for p in parts if p.probe_X is not None), None)
    for a, b in zip(parts, parts[1:]):
        if len(a.ids) and len(b.ids) and a.ids[-1] >= b.ids[0]:
            raise ValueError("scored parts overlap or are out of id order")
    out = _concat([p.ids for p in parts], [p.base for p in parts], [p.predicted for p in parts],
                  [p.confidence for p in parts], None if first is None else first.probe_X,
                  None if first is None else first.probe_proba)
    out.n = sum(p.n for p in parts)
    probas = [p.proba for p in parts if p.proba is not None]
    out.proba = np.concatenate(probas) if probas else None
    return out


def _concat(ids_l, base_l, pred_l, conf_l, probe_X, probe_proba) -> Scored:
    def cat(parts: list, dtype) -> np.ndarray:
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)

    ids = cat(ids_l, np.int64)
    return Scored(ids, cat(base_l, np.float64), cat(pred_l, np.int16), cat(conf_l, np.float32), probe_X, probe_proba,
                  len(ids))


_DONE = object()


def prefetched(make_iter: Callable[[], Iterator[Any]]) -> Iterator[Any]:
    """Iterate ``make_iter()`` in a background thread, one item ahead.

    Reading the next chunk from the database (sqlite releases the GIL while stepping) then
    overlaps with scoring the current one (torch and NumPy release it too); memory grows by one
    chunk. Exceptions of the reader are re-raised here; leaving the loop early stops the reader.
    """
    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            it = make_iter()
            try:
                for item in it:
                    if not put((True, item)):
                        return
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()
            put((True, _DONE))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put((False, exc))

    t = threading.Thread(target=work, name="activeloop-prefetch", daemon=True)
    t.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        t.join()
