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
_NOW = sa.bindparam("now", type_=LS.c.expires_at.type)
# Every open lease of the database (all projects), by the covering index ix_leases_open: ids only.
_OPEN_IDS = sa.text("SELECT id FROM leases WHERE released_at IS NULL AND expires_at > :now").bindparams(_NOW)
_NEW_LEASES = sa.text(  # lease rows added since: whether open now, and whether in this split
    "SELECT s.id, s.example_id, s.annotator, s.expires_at, s.released_at, " + _IN_SPLIT.format(t="s")
    + " FROM leases s WHERE s.id > :after"
).columns(sa.column("id"), sa.column("example_id"), sa.column("annotator"), LS.c.expires_at, LS.c.released_at,
          sa.column("here"))
_NEW_SKIPS = sa.text(
    "SELECT s.example_id FROM leases s WHERE s.id > :after AND s.annotator = :me AND s.outcome = 'skipped' AND "
    + _IN_SPLIT.format(t="s")
)
_LEASE_ROWS = sa.select(LS.c.id, LS.c.example_id, LS.c.annotator, LS.c.expires_at).where(  # not a join (see above)
    LS.c.id.in_(sa.bindparam("ids", expanding=True)),
    sa.exists().where(EX.c.id == LS.c.example_id, EX.c.project_id == sa.bindparam("p"),
                      EX.c.split == sa.bindparam("split")))
# What changed, in one statement (each part an index lookup): the latest round; the newest label
# id and the count of retracted labels (labels are inserted and retracted, never un-retracted);
# the newest lease id and the count of open leases (leases are inserted and released or expire,
# never extended or reopened): with every lease added since known, a count that differs from the
# leases known to be open means one was released or expired, and only then are the open ids re-read.
_SIGNATURE = sa.text(
    "SELECT (SELECT max(number) FROM rounds WHERE project_id = :p), (SELECT max(id) FROM labels), "
    "(SELECT count(*) FROM labels WHERE retracted_at IS NOT NULL), (SELECT max(id) FROM leases), "
    "(SELECT count(*) FROM leases WHERE released_at IS NULL AND expires_at > :now)"
).bindparams(_NOW)


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
        self._lease_id = 0  # newest lease row seen
        self._unreleased: set[int] = set()  # ids of every open lease of the database, as far as known
        self._foreign: set[int] = set()  # open lease ids of other projects or splits (their rows are not kept)
        self._skips: dict[str, _Skips] = {}
        self._arrays: dict[str, np.ndarray] = {}  # sorted ids of labeled / leased examples, until they change

    def refresh(self, conn, now: datetime, annotator: str, signature: tuple | None = None) -> None:
        """Apply what changed in the logs since the last refresh (and in ``annotator``'s skips).

        ``signature``: the row of ``_SIGNATURE`` read on ``conn`` just before (read here when None).
        On SQLite (ids commit in order) a log whose newest id and count did not change is not read.
        """
        if signature is None:
            signature = tuple(conn.execute(_SIGNATURE, {"p": self.project_id, "now": now}).one())
        _, newest_label, n_retracted, newest, n_open = signature
        newest_label, newest = newest_label or 0, newest or 0
        # SQLite commits ids in order, and a refresh is one read transaction (one snapshot)
        in_order = conn.dialect.name == "sqlite"
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
        if not in_order or newest > skips.lease_id:
            skips.skipped.update(conn.execute(_NEW_SKIPS, {**args, "after": skips.lease_id - overlap}).scalars())
        changed = False
        if in_order and self._lease_sig is not None:  # follow the new lease rows; re-read when the count disagrees
            if newest > self._lease_id:
                rows = conn.execute(_NEW_LEASES, {**args, "after": self._lease_id})
                for lid, eid, who, expires, released, here in rows:
                    if released is None and expires > now:
                        self._unreleased.add(lid)
                        if here:
                            self._open_rows[lid], changed = (eid, who, expires), True
                        else:
                            self._foreign.add(lid)
            stale = len(self._unreleased) != n_open
        else:
            stale = (newest, n_open) != self._lease_sig
        if stale:
            self._unreleased = set(conn.execute(_OPEN_IDS, args).scalars())
            changed = self._follow_open(conn, self._unreleased, args) or changed
        self._lease_sig, self._lease_id = (newest, n_open), max(self._lease_id, newest)
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

    def _follow_open(self, conn, open_ids: set[int], args: dict) -> bool:
        """Keep the rows of this split's leases in ``open_ids``, reading only new ones; whether any changed."""
        gone = self._open_rows.keys() - open_ids
        for lid in gone:
            del self._open_rows[lid]
        self._foreign &= open_ids
        new = sorted(open_ids - self._open_rows.keys() - self._foreign)
        for lo in range(0, len(new), LOOKUP_CHUNK):
            chunk = new[lo : lo + LOOKUP_CHUNK]
            for lid, eid, who, expires in conn.execute(_LEASE_ROWS, {**args, "ids": chunk}):
                self._open_rows[lid] = (eid, who, expires)
            self._foreign.update(lid for lid in chunk if lid not in self._open_rows)
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
                signature = tuple(conn.execute(_SIGNATURE, {"p": self.project_id, "now": now}).one())
                number = signature[0]
                tracker.refresh(conn, now, annotator, signature)
            return number, tracker.excluded(annotator), tracker.counts()
