"""What a query must leave out, kept up to date incrementally from the label and lease logs.

A query needs the examples that are labeled, leased to anyone or skipped by its annotator, and the
labeled count per class. Reading them afresh costs a pass over both logs per query; an
:class:`ExclusionTracker` instead reads, per refresh, only what an index finds at once:

* label rows added since its last look (on PostgreSQL, where ids can commit out of order, the
  last ``OVERLAP_ROWS`` again), and the examples of retracted labels when their count changed;
* the open leases (``ix_leases_open``: unreleased and unexpired), read whole only when the
  newest lease id or the count of unreleased ones changed (leases are inserted and released,
  never extended), else expired in memory;
* this annotator's skips: new skip rows, and the outcome of its own leases that closed since.

Re-reading is idempotent; leasing re-checks every pick in its own transaction anyway.
"""

from __future__ import annotations

import threading
from datetime import datetime

import numpy as np
import sqlalchemy as sa

from activeloop.store.rounds import latest_number
from activeloop.store.rows import LOOKUP_CHUNK
from activeloop.store.schema import ClassDef, Example, Label, Lease

__all__ = ["ExclusionTracker", "QueryStates"]

EX, LB, LS, CL = Example.__table__, Label.__table__, Lease.__table__, ClassDef.__table__
OVERLAP_ROWS = 64  # log rows re-read each refresh where ids may commit out of order (not SQLite)

# Built once (plain SQL, the same on SQLite and PostgreSQL): a refresh runs on every query.
_IN_SPLIT = ("EXISTS (SELECT 1 FROM examples e WHERE e.id = {t}.example_id AND e.project_id = :p "
             "AND e.split = :split)")  # checked per log row by primary key: the logs drive, not the examples
_NEW_LABELS = sa.text(
    "SELECT l.id, l.example_id, c.position, l.retracted_at FROM labels l JOIN classes c ON c.id = l.class_id "
    "WHERE l.id > :after AND " + _IN_SPLIT.format(t="l") + " ORDER BY l.id"
).columns(sa.column("id"), sa.column("example_id"), sa.column("position"), LB.c.retracted_at)
_RETRACTED = sa.text(
    "SELECT l.example_id FROM labels l WHERE l.retracted_at IS NOT NULL AND " + _IN_SPLIT.format(t="l"))
_OPEN_LEASES = sa.text(
    "SELECT s.example_id, s.annotator, s.expires_at FROM leases s "
    "WHERE s.released_at IS NULL AND s.expires_at > :now AND " + _IN_SPLIT.format(t="s")
).bindparams(sa.bindparam("now", type_=LS.c.expires_at.type)).columns(
    sa.column("example_id"), sa.column("annotator"), LS.c.expires_at)
_NEW_SKIPS = sa.text(
    "SELECT s.example_id FROM leases s WHERE s.id > :after AND s.annotator = :me AND s.outcome = 'skipped' AND "
    + _IN_SPLIT.format(t="s")
)
# Leases are only inserted and released (never extended), so (newest id, open count) changes
# whenever the set of open leases does; expiry is applied in memory.
_LEASE_SIG = sa.text("SELECT max(id), (SELECT count(*) FROM leases WHERE released_at IS NULL) FROM leases")


class ExclusionTracker:
    """Labeled and leased examples of one split, and each annotator's skips, refreshed incrementally.

    Parameters
    ----------
    project_id : int
    split : str
    n_classes : int
    """

    def __init__(self, project_id: int, split: str, n_classes: int):
        self.project_id = project_id
        self.split = split
        self.n_classes = n_classes
        self._label_id = 0
        self._retracted = -1
        self.labeled: dict[int, int] = {}  # example -> class position of its current label
        self.leased: dict[int, datetime] = {}  # example -> latest expiry of its open leases
        self._open: dict[str, set[int]] = {}  # annotator -> examples with an open lease of theirs
        self._open_rows: list = []  # (example, annotator, expires) of the open leases
        self._lease_sig: tuple | None = None
        self._skips: dict[str, _Skips] = {}

    def refresh(self, conn, now: datetime, annotator: str) -> None:
        """Apply what changed in the logs since the last refresh (and in ``annotator``'s skips)."""
        overlap = 0 if conn.dialect.name == "sqlite" else OVERLAP_ROWS  # SQLite commits ids in order
        args = {"p": self.project_id, "split": self.split, "me": annotator, "now": now}
        for lid, eid, pos, retracted in conn.execute(_NEW_LABELS, {**args, "after": self._label_id - overlap}):
            if retracted is None:
                self.labeled[eid] = pos
            self._label_id = max(self._label_id, lid)
        retracted = conn.execute(_RETRACTED, args).scalars().all()
        if len(retracted) != self._retracted:  # an undo since: re-read those examples' current labels
            self._relabel(conn, set(retracted) & self.labeled.keys())
            self._retracted = len(retracted)
        newest, n_open = conn.execute(_LEASE_SIG).one()  # first: a row added meanwhile is read next time
        newest = newest or 0
        if (newest, n_open) != self._lease_sig:
            self._open_rows = conn.execute(_OPEN_LEASES, args).all()
            self._lease_sig = (newest, n_open)
        self._open_rows = [r for r in self._open_rows if r[2] > now]
        self.leased, self._open = {}, {}
        for eid, who, expires in self._open_rows:
            self.leased[eid] = max(expires, self.leased.get(eid, expires))
            self._open.setdefault(who, set()).add(eid)
        mine = self._open.get(annotator, set())
        skips = self._skips.setdefault(annotator, _Skips())
        skips.skipped.update(conn.execute(_NEW_SKIPS, {**args, "after": skips.lease_id - overlap}).scalars())
        closed = sorted(skips.mine - mine)  # this annotator's leases closed since: skipped, or released?
        for lo in range(0, len(closed), LOOKUP_CHUNK):
            skips.skipped.update(conn.scalars(
                sa.select(LS.c.example_id).where(LS.c.example_id.in_(closed[lo : lo + LOOKUP_CHUNK]),
                                                 LS.c.annotator == annotator, LS.c.outcome == "skipped")))
        skips.mine = set(mine)
        skips.lease_id = max(skips.lease_id, newest)

    def _relabel(self, conn, ids: set[int]) -> None:
        """Read the current label of just these examples."""
        todo = sorted(ids)
        for eid in todo:
            self.labeled.pop(eid, None)
        for lo in range(0, len(todo), LOOKUP_CHUNK):
            chunk = todo[lo : lo + LOOKUP_CHUNK]
            newest = (sa.select(sa.func.max(LB.c.id)).where(LB.c.retracted_at.is_(None), LB.c.example_id.in_(chunk))
                      .group_by(LB.c.example_id))
            for eid, pos in conn.execute(
                sa.select(LB.c.example_id, CL.c.position).join(CL, CL.c.id == LB.c.class_id).where(LB.c.id.in_(newest))
            ):
                self.labeled[eid] = pos

    def excluded(self, annotator: str) -> np.ndarray:
        """Sorted ids not to hand out to ``annotator`` as of the last refresh: labeled, leased by anyone, or skipped."""
        skips = self._skips.get(annotator)
        ids = np.fromiter(self.labeled.keys() | self.leased.keys() | (skips.skipped if skips else set()),
                          dtype=np.int64)
        ids.sort()
        return ids

    def counts(self) -> np.ndarray:
        """Current labels per class position."""
        pos = np.fromiter(self.labeled.values(), dtype=np.int64, count=len(self.labeled))
        return np.bincount(pos, minlength=self.n_classes)[: self.n_classes]


class _Skips:
    """One annotator's skips, and what the tracker saw of their open leases."""

    def __init__(self) -> None:
        self.skipped: set[int] = set()
        self.mine: set[int] = set()
        self.lease_id = 0


class QueryStates:
    """One :class:`ExclusionTracker` per split of a project, refreshed under a lock (a pool is shared by threads)."""

    def __init__(self, project_id: int, n_classes: int):
        self.project_id = project_id
        self.n_classes = n_classes
        self._trackers: dict[str, ExclusionTracker] = {}
        self._lock = threading.Lock()

    def read(self, engine, annotator: str, split: str, now: datetime) -> tuple[int | None, np.ndarray, np.ndarray]:
        """``(latest round number, excluded ids, labeled counts per class)`` over one connection of ``engine``."""
        with self._lock:
            tracker = self._trackers.get(split)
            if tracker is None:
                tracker = self._trackers[split] = ExclusionTracker(self.project_id, split, self.n_classes)
            with engine.connect() as conn:
                number = latest_number(conn, self.project_id)
                tracker.refresh(conn, now, annotator)
            return number, tracker.excluded(annotator), tracker.counts()
