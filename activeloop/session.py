"""A labeling session's rules: what to ask next, undo, resuming leases, retrain cadence, stale picks.

The Textual app and scripts share these rules; the app only shows picks and maps keys to methods.

Threads: the state (queues, counts, flags) changes only in the fast methods, which a caller runs on
one thread (the app's UI thread). :meth:`LabelingSession.next_batch` and
:meth:`LabelingSession.fit_round` are the slow calls; they read no queue or counter and change none,
so they may run in worker threads, alongside each other and the fast methods (each pool call is its
own transaction, and :class:`~activeloop.loop.Loop` swaps its model only once a round is recorded).
Their results are handed back to :meth:`~LabelingSession.extend` and
:meth:`~LabelingSession.after_round` on the caller's thread.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Literal

from activeloop.errors import ActiveloopError, LeaseError, UnreachableError
from activeloop.loop import EpochCallback, Loop
from activeloop.query import Query
from activeloop.stopping import Verdict
from activeloop.store import Pool, RoundInfo

SPLITS = ("pool", "eval")
AHEAD_BATCHES = 2  # batches kept leased ahead per split; one query fetches them all (it costs about the same)
Origin = Literal["query", "resumed", "undo"]


@dataclass(frozen=True)
class Pick:
    """One example handed to the annotator: the query that chose it, its split, and where it came from.

    ``origin`` is ``"query"`` (chosen by the engine or drawn from the eval split), ``"resumed"`` (a
    lease from an earlier session) or ``"undo"`` (a label just retracted, asked again).
    """

    query: Query
    split: str
    origin: Origin = "query"


class LabelingSession:
    """One annotator labeling one pool through a :class:`~activeloop.loop.Loop`.

    Parameters
    ----------
    pool : Pool
    annotator : str
        Who labels; leases, skips and undo are per annotator.
    loop : Loop, optional
        Default: ``Loop(pool, strategy=strategy, batch_size=batch)``.
    batch : int, default 10
        Pool-split labels between automatic retrains, and the examples fetched per query.
    strategy : str, default "default"
        Query strategy name, used when ``loop`` is None.
    auto_retrain : bool, default True
        Make :attr:`retrain_due` true every ``batch`` labels; False leaves retraining to the caller.

    Attributes
    ----------
    queues : dict of str to deque of Pick
        Leased picks waiting to be shown, per split.
    exhausted : dict of str to bool
        Splits with nothing left to fetch (until an undo or a round makes more possible).
    counts : dict of str to int
        Current pool-split labels per class.
    total : int
        Current labels of the project, all splits and annotators.
    labeled : int
        Labels this session added (less those it undid).
    latest : RoundInfo or None
        The latest recorded round.
    verdict : activeloop.stopping.Verdict or None
        Whether more labels still buy anything, over the recorded rounds (None before the first).
    trained_on : int
        Pool-split labels the latest (or running) round was given.
    retraining : bool
        A round was begun (:meth:`begin_retrain`) and has not landed or failed yet.
    pending : tuple (example id, class, key) or None
        A label the database was unreachable for; :meth:`retry_pending` writes it exactly once.

    Examples
    --------
    From a script, with ``ask`` giving a class name for an example id::

        session = LabelingSession(pool, "ana", batch=10)
        session.resume()
        try:
            while True:
                while (pick := session.take("pool")) is not None:
                    session.label(pick.query.example_id, ask(pick.query.example_id))
                    if session.retrain_due:
                        session.retrain()
                session.extend("pool", session.next_batch("pool"))
        except PoolExhaustedError:  # every pool example is labeled, skipped or leased to someone else
            pass
    """

    def __init__(
        self,
        pool: Pool,
        annotator: str = "default",
        *,
        loop: Loop | None = None,
        batch: int = 10,
        strategy: str = "default",
        auto_retrain: bool = True,
    ):
        if int(batch) < 1:
            raise ActiveloopError(f"batch must be >= 1, got {batch}")
        self.pool = pool
        self.annotator = annotator
        self.batch = int(batch)
        self.auto_retrain = auto_retrain
        self.loop = loop if loop is not None else Loop(pool, strategy=strategy, batch_size=self.batch)
        self.queues: dict[str, deque[Pick]] = {s: deque() for s in SPLITS}
        self.exhausted = {s: False for s in SPLITS}
        self.labeled = 0
        self.pending: tuple[int, str, str] | None = None  # (example id, class, key) of a label not yet written
        self.retraining = False
        self.latest: RoundInfo | None = pool.latest_round()
        self.verdict: Verdict | None = None if self.latest is None else self.loop.stop_verdict()
        self.trained_on = self.latest.n_labels if self.latest is not None else 0
        self._out: dict[int, Pick] = {}  # picks queued or shown, by example id: their split and origin
        self.counts: dict[str, int] = {c: 0 for c in pool.classes}
        self.total = 0
        self.refresh_counts()

    # ------------------------------------------------------------------ picks
    def resume(self) -> list[Pick]:
        """Queue the annotator's live leases from earlier sessions first, oldest first; returns them."""
        picks = []
        for lease in self.pool.active_leases(self.annotator):
            split = self.pool.example(lease.example_id)["split"]
            q = Query(lease.example_id, lease.score if lease.score is not None else 0.0, lease.strategy, None, None,
                      "resumed: reserved for you in an earlier session")
            picks.append(Pick(q, split if split in SPLITS else "pool", "resumed"))
        for pick in picks:
            self._queue(pick)
        return picks

    def wanted(self, split: str) -> int:
        """How many examples to fetch for ``split`` now: ``AHEAD_BATCHES`` batches when the queue runs low, else 0."""
        n = AHEAD_BATCHES * self.batch
        return n if len(self.queues[split]) < n and not self.exhausted[split] else 0

    def next_batch(self, split: str = "pool", n: int | None = None) -> list[Pick]:
        """Choose and lease up to ``n`` (default ``batch``) examples of ``split``; slow, thread-safe.

        The pool split is chosen by the loop's strategy, the eval split by uniform random draws.
        Nothing is queued: hand the result to :meth:`extend`. Raises
        :class:`~activeloop.errors.PoolExhaustedError` when none is left.
        """
        n = self.batch if n is None else n
        if split == "eval":
            queries = self.loop.engine.sample_eval(self.pool, n, annotator=self.annotator)
        else:
            queries = self.loop.query(n, annotator=self.annotator)
        return [Pick(q, split) for q in queries]

    def extend(self, split: str, picks: Iterable[Pick], *, exhausted: bool = False) -> None:
        """Queue fetched picks; ``exhausted`` marks ``split`` as having nothing more to fetch."""
        for pick in picks:
            self._queue(pick)
        if exhausted:
            self.exhausted[split] = True

    def take(self, split: str) -> Pick | None:
        """The next queued pick of ``split`` (removed from the queue), or None."""
        queue = self.queues[split]
        return queue.popleft() if queue else None

    def put_back(self, pick: Pick) -> None:
        """Return a pick taken but not decided to the front of its queue."""
        self._out[pick.query.example_id] = pick
        self.queues[pick.split].appendleft(pick)

    # ------------------------------------------------------------------ decisions
    def label(self, example_id: int, cls: str, *, retry_seconds: float | None = None) -> None:
        """Record the annotator's label (committed on return) and count it toward the next retrain.

        The label gets one idempotency key. When the database stays unreachable past
        ``retry_seconds`` (default: the pool's), :class:`~activeloop.errors.UnreachableError` is
        raised and the label is kept as :attr:`pending`; :meth:`retry_pending` writes it later,
        exactly once, under the same key.
        """
        self.pending = (int(example_id), cls, uuid.uuid4().hex)
        self._write_pending(retry_seconds)

    def retry_pending(self, *, retry_seconds: float | None = None) -> bool:
        """Write the label kept by an unreachable database (False when none is pending); see :meth:`label`."""
        if self.pending is None:
            return False
        self._write_pending(retry_seconds)
        return True

    def _write_pending(self, retry_seconds: float | None) -> None:
        example_id, cls, key = self.pending
        try:
            self.pool.label(example_id, cls, annotator=self.annotator, key=key, retry_seconds=retry_seconds)
        except UnreachableError:
            raise  # kept: the same key goes again
        except LeaseError:  # someone else has it (and may have labeled it): not ours to show again
            self.pending = None
            self._out.pop(example_id, None)
            self.refresh_counts()
            raise
        except BaseException:
            self.pending = None
            raise
        self.pending = None
        pick = self._out.pop(example_id, None)
        split = pick.split if pick is not None else self.pool.example(example_id)["split"]
        self.labeled += 1
        self.total += 1
        if split == "pool":  # counted here; re-read from the database on undo and after a round
            self.counts[cls] += 1

    def skip(self, example_id: int) -> None:
        """Release the example; it is not asked of this annotator again."""
        self.pool.skip(example_id, annotator=self.annotator)
        self._out.pop(example_id, None)

    def undo(self) -> Pick | None:
        """Retract the annotator's last label and lease that example back; returns it to show again (None if none).

        Every split may have more to fetch afterwards, so the ``exhausted`` flags are cleared. Once
        the retraction is committed the example is returned even when the steps after it fail (the
        lease back, reading its split and the counts: a held lock, a server away): it is then
        unleased (and, when even the reads failed, its split taken as the pool's and the counts
        re-read at the next refresh).
        """
        eid = self.pool.undo(annotator=self.annotator)
        if eid is None:
            return None
        self.labeled = max(0, self.labeled - 1)
        self.exhausted = {s: False for s in SPLITS}
        split = "pool"
        with suppress(ActiveloopError):  # the label is retracted all the same: shown again
            split = self.pool.example(eid)["split"]
            self.refresh_counts()
            self.pool.lease([eid], annotator=self.annotator, strategy="undo")  # the one write last
        pick = Pick(Query(eid, 0.0, "undo", None, None, "undone: your last label, asked again"), split, "undo")
        self._out[eid] = pick
        return pick

    def refresh_counts(self) -> None:
        """Re-read the label counts from the database (other annotators' labels included)."""
        self.counts = self.pool.class_counts("pool")
        self.total = self.pool.label_count()

    # ------------------------------------------------------------------ retraining
    @property
    def since_retrain(self) -> int:
        """Pool-split labels the latest (or running) round has not seen."""
        return sum(self.counts.values()) - self.trained_on

    @property
    def until_retrain(self) -> int:
        """Labels left before the next automatic retrain."""
        return max(0, self.batch - self.since_retrain)

    @property
    def retrain_due(self) -> bool:
        """True when an automatic retrain should start now: ``batch`` new pool labels and none running."""
        return self.auto_retrain and not self.retraining and self.since_retrain >= self.batch

    def begin_retrain(self) -> None:
        """Mark a round as running on the pool labels counted now; then run :meth:`fit_round`."""
        self.retraining = True
        self.trained_on = sum(self.counts.values())

    def fit_round(self, *, on_epoch: EpochCallback | None = None) -> RoundInfo:
        """Fit, evaluate and record one round (:meth:`Loop.retrain`); slow, thread-safe, changes no session state."""
        return self.loop.retrain(on_epoch=on_epoch)

    def after_round(self, info: RoundInfo, *, fetch_in_flight: bool = False) -> list[Pick]:
        """Take in a landed round and release the stale picks; returns the released picks.

        Queued pool picks beyond one batch were chosen by the old model and are released, so the
        new one chooses again; one batch stays so labeling never waits for that query. Resumed and
        undone picks are kept. With a pool query in flight (``fetch_in_flight``) nothing is released:
        it may already use the new model. When the release fails (a lock held too long), the picks
        stay leased and queued; the error (an ActiveloopError) is raised once the round is taken in.
        """
        self.retraining = False
        self.latest = info
        self.trained_on = info.n_labels
        self.exhausted["pool"] = False
        self.verdict = self.loop.stop_verdict()
        self.refresh_counts()
        queue = self.queues["pool"]
        keep, stale = [], []
        for k, pick in enumerate(queue):
            (stale if k >= self.batch and pick.origin == "query" else keep).append(pick)
        if not stale or fetch_in_flight:
            return []
        self.pool.release([p.query.example_id for p in stale], annotator=self.annotator)
        queue.clear()
        queue.extend(keep)
        for p in stale:
            self._out.pop(p.query.example_id, None)
        return stale

    def retrain_failed(self) -> None:
        """A round failed: the previous model stays, and the next try comes after another ``batch`` labels."""
        self.retraining = False

    def retrain(self, *, on_epoch: EpochCallback | None = None) -> RoundInfo:
        """Run one round now, in this thread: :meth:`begin_retrain`, :meth:`fit_round`, :meth:`after_round`."""
        self.begin_retrain()
        try:
            info = self.fit_round(on_epoch=on_epoch)
        except BaseException:
            self.retrain_failed()
            raise
        self.after_round(info)
        return info

    def _queue(self, pick: Pick) -> None:
        self._out[pick.query.example_id] = pick
        self.queues[pick.split].append(pick)
