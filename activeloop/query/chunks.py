"""Scoring a stream of ``(ids, X)`` chunks: the one scoring function of the local and the cluster engine.

The engine passes the pool's chunks here; on a dask cluster each worker passes the chunks of its
id range here, sorts its part's candidates per class (:func:`candidates`), and the client joins
the parts with :func:`join`, k-way merging each class's sorted runs with :func:`heapq.merge`.
Rows are scored independently, so the result depends neither on the chunk size nor on how the id
ranges are cut. Both read the next chunk while scoring this one (:func:`prefetched`).
"""

from __future__ import annotations

from dataclasses import dataclass
import heapq
import queue
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from activeloop.model.adapter import proba_by_class
from activeloop.query.orders import class_orders
from activeloop.query.strategies import Context, Strategy
from activeloop.store.scores import class_order

__all__ = ["PROBE_ROWS", "Scored", "candidates", "join", "merge_runs", "prefetched", "score_chunks"]

PROBE_ROWS = 8


@dataclass
class Scored:
    """Compact per-example scores, ids ascending (about 22 bytes an example), and a few probe rows.

    ``probe_X`` / ``probe_proba`` are the first rows and their probabilities, kept so the engine can
    notice a refitted model; ``n`` counts the rows passed through ``predict_proba``; ``proba`` is
    every row's probabilities, kept only for a strategy that reads per-class orders.

    A cluster part also carries its candidates (:func:`candidates`): ``order``/``starts``, its
    positions per predicted class, best base score first (the stored scores' layout), and, instead
    of ``proba``, ``margins`` with ``orders``, the per-class margin orders DIRECT, GALAXY and BASE read.
    """

    ids: np.ndarray
    base: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    probe_X: np.ndarray | None
    probe_proba: np.ndarray | None
    n: int
    proba: np.ndarray | None = None
    order: np.ndarray | None = None
    starts: np.ndarray | None = None
    margins: np.ndarray | None = None
    orders: np.ndarray | None = None


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


def candidates(part: Scored, n_classes: int) -> Scored:
    """``part`` with its per-class candidate runs (what a worker sends): sorted here, merged by :func:`join`.

    ``order``/``starts`` use :func:`~activeloop.store.scores.class_order` on the base scores as
    they are stored (float32); with ``proba``, its margins and per-class margin orders replace it.
    """
    part.base = part.base.astype(np.float32)
    part.order, part.starts = class_order(part.base, part.predicted, n_classes)
    if part.proba is not None:
        part.margins, part.orders = class_orders(part.proba)
        part.proba = None
    return part


def join(parts: Sequence[Scored]) -> Scored:
    """One :class:`Scored` from parts over consecutive, disjoint id ranges, given in range order.

    Each part is already sorted by id and the ranges do not overlap, so the merge by id is their
    concatenation; the probe rows are the first part's (the lowest ids, as a local pass has).
    Parts with candidates (:func:`candidates`) give the per-class orders of the whole pool: each
    class's runs are k-way merged (:func:`merge_runs`), equal to sorting everything at once.
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
    offsets = np.cumsum([0] + [len(p.ids) for p in parts[:-1]])
    with_order = [(p, o) for p, o in zip(parts, offsets) if p.order is not None]
    if with_order:
        C = len(with_order[0][0].starts) - 1
        base = out.base.astype(np.float32)
        runs = [[p.order[p.starts[c] : p.starts[c + 1]].astype(np.int64) + o for p, o in with_order] for c in range(C)]
        merged = [merge_runs(base, r) for r in runs]
        out.base = base
        out.order = np.concatenate(merged).astype(np.int32) if merged else np.empty(0, np.int32)
        out.starts = np.concatenate([[0], np.cumsum([len(m) for m in merged])]).astype(np.int64)
    with_margins = [(p, o) for p, o in zip(parts, offsets) if p.margins is not None]
    if with_margins:
        out.margins = np.concatenate([p.margins for p, _ in with_margins])
        out.orders = np.stack([merge_runs(out.margins[:, k], [p.orders[k] + o for p, o in with_margins])
                               for k in range(out.margins.shape[1])])
    return out


def merge_runs(values: np.ndarray, runs: Sequence[np.ndarray]) -> np.ndarray:
    """Positions of ``runs`` (each sorted by ``values`` descending, ties by position) merged into one such run.

    A k-way :func:`heapq.merge` over one sortable integer per position (the value's order, then
    the position), so it costs about ``len * log(k)`` and never sorts everything again. Orders
    like ``np.lexsort((pos, -values))``: ``-0.0`` equals ``0.0`` and NaN goes last.
    """
    runs = [np.asarray(r, dtype=np.int64) for r in runs if len(r)]
    if not runs:
        return np.empty(0, np.int64)
    if len(runs) == 1:
        return runs[0]
    values = np.asarray(values)
    keyed = []
    for r in runs:
        rank = _descending_key(values[r])
        if rank.dtype.itemsize > 4:  # float64: Python ints of 96 bits
            keyed.append([(k << 32) | p for k, p in zip(rank.tolist(), r.tolist())])
        else:
            keyed.append(((rank.astype(np.uint64) << np.uint64(32)) | r.astype(np.uint64)).tolist())
    total = sum(len(r) for r in runs)
    low = (1 << 32) - 1
    return np.fromiter((k & low for k in heapq.merge(*keyed)), dtype=np.int64, count=total)


def _descending_key(values: np.ndarray) -> np.ndarray:
    """Unsigned integers that sort ascending as ``values`` sort descending (IEEE bits; -0.0 as 0.0, NaN last)."""
    v = values + values.dtype.type(0)  # -0.0 + 0.0 is +0.0
    utype = np.dtype(f"u{v.dtype.itemsize}")
    bits = v.view(utype)
    sign = utype.type(1) << utype.type(8 * v.dtype.itemsize - 1)
    ascending = np.where(bits & sign, ~bits, bits | sign)
    key = ~ascending
    key[np.isnan(v)] = np.iinfo(utype).max
    return key


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
