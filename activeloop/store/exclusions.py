"""What a query must leave out, kept up to date incrementally from the label and lease logs.

A query needs the examples that are labeled, leased to anyone or skipped by its annotator, and the
labeled count per class. Reading them afresh costs a pass over both logs per query; an
:class:`ExclusionTracker` instead reads, per refresh, only what an index finds at once:

* label rows added since its last look (on PostgreSQL, where ids can commit out of order, the
  last ``OVERLAP_ROWS`` again), and the examples of retracted labels when their count changed;
* the open leases (``ix_leases_open``: unreleased and unexpired): their ids, only when the
  newest lease id or the count of unreleased ones changed (leases are inserted and released,
  never extended), and the rows of ids not seen before; else expired in memory;
* this annotator's skips: new skip rows, and the outcome of its own leases that closed since.

One statement (``_SIGNATURE``) first says which of these changed; on SQLite, where ids commit in
order, the others run only then. Re-reading is idempotent; leasing re-checks every pick in its own transaction anyway.
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
_OPEN = ("SELECT s.id, NULL FROM leases s WHERE s.released_at IS NULL AND s.expires_at > :now AND "
         + _IN_SPLIT.format(t="s"))  # the ids of the open leases; rows are read only for ids not seen before
_OPEN_IDS = sa.text(_OPEN).bindparams(sa.bindparam("now", type_=LS.c.expires_at.type))
_OPEN_IDS_AND_SKIPS = sa.text(  # both at once, when both are due: open lease ids (tag NULL), this annotator's new skips
    _OPEN + " UNION ALL SELECT s.example_id, 'skipped' FROM leases s "
    "WHERE s.id > :after AND s.annotator = :me AND s.outcome = 'skipped' AND " + _IN_SPLIT.format(t="s")
).bindparams(sa.bindparam("now", type_=LS.c.expires_at.type))
_NEW_SKIPS = sa.text(
    "SELECT s.example_id FROM leases s WHERE s.id > :after AND s.annotator = :me AND s.outcome = 'skipped' AND "
    + _IN_SPLIT.format(t="s")
)
_LEASE_ROWS = sa.select(LS.c.id, LS.c.example_id, LS.c.annotator, LS.c.expires_at).where(
    LS.c.id.in_(sa.bindparam("ids", expanding=True)))
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
        self.leased: set[int] = set()  # examples with an open (unexpired, unreleased) lease
        self._open: dict[str, set[int]] = {}  # annotator -> examples with an open lease of theirs
        self._open_rows: dict[int, tuple] = {}  # lease id -> (example, annotator, expires) of the open leases
        self._lease_sig: tuple | None = None
        self._skips: dict[str, _Skips] = {}
        self._arrays: dict[str, np.ndarray] = {}  # sorted ids of labeled / leased examples, until they change

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
                    self._arrays.pop("labeled", None)
                self._label_id = max(self._label_id, lid)
        if n_retracted != self._retracted:  # an undo since: re-read those examples' current labels
            retracted = conn.execute(_RETRACTED, args).scalars().all()
            self._relabel(conn, set(retracted) & self.labeled.keys())
            self._retracted = n_retracted
        skips = self._skips.setdefault(annotator, _Skips())
        new_skips = not in_order or newest > skips.lease_id
        after = {"after": skips.lease_id - overlap}
        changed = False
        if (newest, n_open) != self._lease_sig:
            open_ids = set()
            for value, tag in conn.execute(_OPEN_IDS_AND_SKIPS if new_skips else _OPEN_IDS, {**args, **after}):
                (skips.skipped if tag else open_ids).add(value)
            changed = self._follow_open(conn, open_ids)
            self._lease_sig = (newest, n_open)
        elif new_skips:
            skips.skipped.update(conn.execute(_NEW_SKIPS, {**args, **after}).scalars())
        expired = [lid for lid, row in self._open_rows.items() if row[2] <= now]
        for lid in expired:
            del self._open_rows[lid]
        if changed or expired:
            self.leased, self._open = set(), {}
            for eid, who, _ in self._open_rows.values():
                self.leased.add(eid)
                self._open.setdefault(who, set()).add(eid)
            self._arrays.pop("leased", None)
        mine = self._open.get(annotator, set())
        closed = sorted(skips.mine - mine)  # this annotator's leases closed since: skipped, or released?
        for lo in range(0, len(closed), LOOKUP_CHUNK):
            skips.skipped.update(conn.scalars(
                sa.select(LS.c.example_id).where(LS.c.example_id.in_(closed[lo : lo + LOOKUP_CHUNK]),
                                                 LS.c.annotator == annotator, LS.c.outcome == "skipped")))
        skips.mine = set(mine)
        skips.lease_id = max(skips.lease_id, newest)

    def _follow_open(self, conn, open_ids: set[int]) -> bool:
        """Keep the rows of the leases in ``open_ids``, reading only those not seen before; whether any changed."""
        gone = self._open_rows.keys() - open_ids
        for lid in gone:
            del self._open_rows[lid]
        new = sorted(open_ids - self._open_rows.keys())
        for lo in range(0, len(new), LOOKUP_CHUNK):
            for lid, eid, who, expires in conn.execute(_LEASE_ROWS, {"ids": new[lo : lo + LOOKUP_CHUNK]}):
                self._open_rows[lid] = (eid, who, expires)
        return bool(gone or new)

    def _relabel(self, conn, ids: set[int]) -> None:
        """Read the current label of just these examples."""
        todo = sorted(ids)
        self._arrays.pop("labeled", None)
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
        parts = [self._sorted("labeled", self.labeled.keys()), self._sorted("leased", self.leased)]
        if skips is not None and skips.skipped:
            if len(skips.array) != len(skips.skipped):  # skips are only ever added
                skips.array = np.sort(np.fromiter(skips.skipped, dtype=np.int64, count=len(skips.skipped)))
            parts.append(skips.array)
        ids = np.sort(np.concatenate(parts))
        return ids[np.concatenate(([True], ids[1:] != ids[:-1]))] if len(ids) else ids

    def _sorted(self, name: str, ids) -> np.ndarray:
        """``ids`` as a sorted array, kept until the refresh that changes them."""
        got = self._arrays.get(name)
        if got is None:
            got = self._arrays[name] = np.sort(np.fromiter(ids, dtype=np.int64, count=len(ids)))
        return got

    def counts(self) -> np.ndarray:
        """Current labels per class position."""
        pos = np.fromiter(self.labeled.values(), dtype=np.int64, count=len(self.labeled))
        return np.bincount(pos, minlength=self.n_classes)[: self.n_classes]


class _Skips:
    """One annotator's skips, and what the tracker saw of their open leases."""

    def __init__(self) -> None:
        self.skipped: set[int] = set()
        self.array = np.empty(0, np.int64)  # skipped, sorted
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
