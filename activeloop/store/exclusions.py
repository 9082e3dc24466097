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
_OPEN = "SELECT s.example_id, s.annotator, s.expires_at, NULL FROM leases s " \
    "WHERE s.released_at IS NULL AND s.expires_at > :now AND " + _IN_SPLIT.format(t="s")
_OPEN_LEASES_4 = sa.text(_OPEN).bindparams(sa.bindparam("now", type_=LS.c.expires_at.type)).columns(
    sa.column("example_id"), sa.column("annotator"), LS.c.expires_at, sa.column("outcome"))
_NEW_SKIPS = sa.text(
    "SELECT s.example_id FROM leases s WHERE s.id > :after AND s.annotator = :me AND s.outcome = 'skipped' AND "
    + _IN_SPLIT.format(t="s")
)
_LEASES = sa.text(  # both at once, when both are due: open leases (outcome NULL) and this annotator's new skips
    _OPEN + " UNION ALL "
    "SELECT s.example_id, NULL, NULL, 'skipped' FROM leases s "
    "WHERE s.id > :after AND s.annotator = :me AND s.outcome = 'skipped' AND " + _IN_SPLIT.format(t="s")
).bindparams(sa.bindparam("now", type_=LS.c.expires_at.type)).columns(
    sa.column("example_id"), sa.column("annotator"), LS.c.expires_at, sa.column("outcome"))
# What changed, in one statement (each part an index lookup): the latest round; the newest label
# id and the count of retracted labels (labels are inserted and retracted, never un-retracted);
# the newest lease id and the count of unreleased leases (leases are inserted and released, never
# extended or reopened), so the set of open leases changed exactly when that pair did. Expiry is
# applied in memory.
_SIGNATURE = sa.text(
    "SELECT (SELECT max(number) FROM rounds WHERE project_id = :p), (SELECT max(id) FROM labels), "
    "(SELECT count(*) FROM labels WHERE retracted_at IS NOT NULL), (SELECT max(id) FROM leases), "
    "(SELECT count(*) FROM leases WHERE released_at IS NULL)"
)


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

    def refresh(self, conn, now: datetime, annotator: str, signature: tuple | None = None) -> None:
        """Apply what changed in the logs since the last refresh (and in ``annotator``'s skips).

        ``signature``: the row of ``_SIGNATURE`` read on ``conn`` just before (read here when None).
        On SQLite (ids commit in order) a log whose newest id and count did not change is not read.
        """
        if signature is None:
            signature = tuple(conn.execute(_SIGNATURE, {"p": self.project_id}).one())
        _, newest_label, n_retracted, newest, n_open = signature
        newest_label, newest = newest_label or 0, newest or 0
        in_order = conn.dialect.name == "sqlite"  # SQLite commits ids in order
        overlap = 0 if in_order else OVERLAP_ROWS
        args = {"p": self.project_id, "split": self.split, "me": annotator, "now": now}
        if not in_order or newest_label > self._label_id:
            for lid, eid, pos, retracted in conn.execute(_NEW_LABELS, {**args, "after": self._label_id - overlap}):
                if retracted is None:
                    self.labeled[eid] = pos
                self._label_id = max(self._label_id, lid)
        if n_retracted != self._retracted:  # an undo since: re-read those examples' current labels
            retracted = conn.execute(_RETRACTED, args).scalars().all()
            self._relabel(conn, set(retracted) & self.labeled.keys())
            self._retracted = n_retracted
        skips = self._skips.setdefault(annotator, _Skips())
        new_skips = not in_order or newest > skips.lease_id
        after = {"after": skips.lease_id - overlap}
        if (newest, n_open) != self._lease_sig:
            self._open_rows = []
            for eid, who, expires, outcome in conn.execute(_LEASES if new_skips else _OPEN_LEASES_4, {**args, **after}):
                if outcome is None:
                    self._open_rows.append((eid, who, expires))
                else:
                    skips.skipped.add(eid)
            self._lease_sig = (newest, n_open)
        elif new_skips:
            skips.skipped.update(conn.execute(_NEW_SKIPS, {**args, **after}).scalars())
        self._open_rows = [r for r in self._open_rows if r[2] > now]
        self.leased, self._open = {}, {}
        for eid, who, expires in self._open_rows:
            self.leased[eid] = max(expires, self.leased.get(eid, expires))
            self._open.setdefault(who, set()).add(eid)
        mine = self._open.get(annotator, set())
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
                signature = tuple(conn.execute(_SIGNATURE, {"p": self.project_id}).one())
                number = signature[0]
                tracker.refresh(conn, now, annotator, signature)
            return number, tracker.excluded(annotator), tracker.counts()
