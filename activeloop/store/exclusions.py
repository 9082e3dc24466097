"""What a query must leave out, kept up to date incrementally from the label and lease logs.

A query needs the examples that are labeled, leased to anyone or skipped by its annotator, and the
labeled count per class. Reading them afresh costs a pass over both logs per query; an
:class:`ExclusionTracker` instead reads, per refresh, only what an index finds at once:

* label rows added since its last look, and the examples of retracted labels when their count changed.
  On PostgreSQL ids can commit out of order (a long import's labels behind an annotator's newer
  one), so it reads from the newest id below which no row can still appear: the newest one seen by a
  read all of whose then-running transactions had ended before a later read (server snapshots);
* the open leases (``ix_leases_open``: unreleased and unexpired): their ids, only when the
  newest lease id or the count of unreleased ones changed (leases are inserted and released,
  never extended), and the rows of ids not seen before; else expired in memory;
* this annotator's skips: new skip rows, and the outcome of its own leases that closed since.

One statement (:func:`signature`) first says which of these changed; on SQLite, where ids commit in
order, the others run only then. Re-reading is idempotent; leasing re-checks every pick in its own transaction anyway.
On SQLite a query's lease (one that names its split) also reports the rows it wrote (:meth:`QueryStates.wrote`), so
they are not read back, and skips that check when, under its write lock, the signature is still the one this
state was read at and no pick is labeled or leased in it (:meth:`QueryStates.known_free`): the check's answer.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime
from functools import lru_cache

import numpy as np
import sqlalchemy as sa

from activeloop.store.leases import Written
from activeloop.store.rows import LOOKUP_CHUNK, bind, mark, marks, run
from activeloop.store import tables

__all__ = ["ExclusionTracker", "QueryStates"]

EX, LB, LS, CL = tables.examples, tables.labels, tables.leases, tables.classes
OVERLAP_ROWS = 64  # skip rows re-read each refresh where ids may commit out of order (not SQLite)

# Plain driver SQL, the same on SQLite and PostgreSQL, run through :func:`~activeloop.store.rows.run`
# (a refresh runs on every query: no statement compiling, no result objects). ``{m}`` is the driver's
# parameter marker; times are compared in the database's own form (a column's bind processor: on
# SQLite, fixed-width ISO text, whose order is the times' order), so no row's time is converted back.
_IN_SPLIT = ("EXISTS (SELECT 1 FROM examples e WHERE e.id = {t}.example_id AND e.project_id = {{m}} "
             "AND e.split = {{m}})")  # checked per log row by primary key: the logs drive, not the examples
_SQL = {
    "new_labels": "SELECT l.id, l.example_id, c.position, l.retracted_at FROM labels l JOIN classes c ON "
                  "c.id = l.class_id WHERE l.id > {m} AND " + _IN_SPLIT.format(t="l") + " ORDER BY l.id",
    "retracted": "SELECT l.example_id FROM labels l WHERE l.retracted_at IS NOT NULL AND " + _IN_SPLIT.format(t="l"),
    # every open lease of the database (all projects), by the covering index ix_leases_open: ids only
    "open_ids": "SELECT id FROM leases WHERE released_at IS NULL AND expires_at > {m}",
    # lease rows added since: whether open now, a skip or not, and whether in this split
    "new_leases": "SELECT s.id, s.example_id, s.annotator, s.expires_at, s.released_at, s.outcome, "
                  + _IN_SPLIT.format(t="s") + " FROM leases s WHERE s.id > {m}",
    "new_skips": "SELECT s.example_id FROM leases s WHERE s.id > {m} AND s.annotator = {m} AND "
                 "s.outcome = 'skipped' AND " + _IN_SPLIT.format(t="s"),
    "lease_rows": "SELECT s.id, s.example_id, s.annotator, s.expires_at FROM leases s WHERE s.id IN ({ids}) AND "
                  + _IN_SPLIT.format(t="s"),  # not a join (see above)
    # What changed, in one statement (each part an index lookup): the latest round; the newest label
    # id and the count of retracted labels (labels are inserted and retracted, never un-retracted);
    # the newest lease id and the count of open leases (leases are inserted and released or expire,
    # never extended or reopened): with every lease added since known, a count that differs from the
    # leases known to be open means one was released or expired, and only then are the open ids re-read.
    # PostgreSQL: the oldest running transaction and the first not yet started, now (txid_* also on servers before 13)
    "snapshot": "SELECT txid_snapshot_xmin(s), txid_snapshot_xmax(s) FROM (SELECT txid_current_snapshot() AS s) q",
    "signature": "SELECT (SELECT max(number) FROM rounds WHERE project_id = {m}), (SELECT max(id) FROM labels), "
                 "(SELECT count(*) FROM labels WHERE retracted_at IS NOT NULL), (SELECT max(id) FROM leases), "
                 "(SELECT count(*) FROM leases WHERE released_at IS NULL AND expires_at > {m})",
}


@lru_cache(maxsize=4)
def _statements(marker: str) -> dict[str, str]:
    return {name: sql.replace("{m}", marker) for name, sql in _SQL.items()}


def _run(conn, name: str, params: tuple, ids: int = 0) -> list[tuple]:
    """Rows of statement ``name`` (with ``ids`` markers in its ``IN``), run on the driver."""
    sql = _statements(mark(conn))[name]
    return run(conn, sql.replace("{ids}", marks(conn, ids)) if ids else sql, params)


def signature(conn, project_id: int, now_db) -> tuple:
    """``(latest round, newest label id, retracted labels, newest lease id, open leases)`` at ``now_db``."""
    return tuple(_run(conn, "signature", (project_id, now_db))[0])


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
        self._settled = 0  # label ids up to this one that will ever commit are applied (PostgreSQL; SQLite: _label_id)
        self._unsettled: deque[tuple[int, int]] = deque()  # (first txid not started, newest label id) after each read
        self._xmin: int | None = None  # oldest transaction running just after the last read
        self._recent: dict[int, int] = {}  # example -> id of the label applied to it, for ids above _settled
        self.labeled: dict[int, int] = {}  # example -> class position of its current label
        self.leased: set[int] = set()  # examples with an open (unexpired, unreleased) lease
        self._open: dict[str, set[int]] = {}  # annotator -> examples with an open lease of theirs
        self._open_rows: dict[int, tuple] = {}  # lease id -> (example, annotator, expires) of the open leases
        self._next_expiry = None  # at most the earliest expiry among them (None: none open)
        self._lease_sig: tuple | None = None
        self._sig: tuple | None = None  # the signature the tracker's state is that of (None: not known)
        self._at = None  # the time (the database's form) that signature and state were read at
        self._lease_id = 0  # newest lease row seen
        self._unreleased: set[int] = set()  # ids of every open lease of the database, as far as known
        self._foreign: set[int] = set()  # open lease ids of other projects or splits (their rows are not kept)
        self._skips: dict[str, _Skips] = {}
        self._base: np.ndarray | None = None  # sorted ids of the labeled and leased examples (None: rebuild)
        self._added: list[int] = []  # examples labeled or leased since ``_base`` was built (only ever added)
        self._counts: np.ndarray | None = None  # labels per class position (None: recount)

    def refresh(self, conn, now: datetime, annotator: str, sig: tuple | None = None) -> None:
        """Apply what changed in the logs since the last refresh (and in ``annotator``'s skips).

        ``sig``: the row of :func:`signature` read on ``conn`` just before (read here when None).
        On SQLite (ids commit in order) a log whose newest id and count did not change is not read.
        """
        now = bind(conn, LS.c.expires_at)(now)  # the database's form, compared with its rows' as they come
        p, split = self.project_id, self.split
        if sig is None:
            sig = signature(conn, p, now)
        _, newest_label, n_retracted, newest, n_open = sig
        newest_label, newest = newest_label or 0, newest or 0
        # SQLite commits ids in order, and a refresh is one read transaction (one snapshot)
        in_order = conn.dialect.name == "sqlite"
        overlap = 0 if in_order else OVERLAP_ROWS
        if in_order and newest_label > self._label_id:
            for lid, eid, pos, retracted in _run(conn, "new_labels", (self._label_id, p, split)):
                if retracted is None:
                    self._label(eid, pos)
                self._label_id = lid
        elif not in_order:
            self._labels_out_of_order(conn)
        if n_retracted != self._retracted:  # an undo since: re-read those examples' current labels
            retracted = [eid for (eid,) in _run(conn, "retracted", (p, split))]
            self._relabel(conn, set(retracted) & self.labeled.keys())
            self._retracted = n_retracted
        skips = self._skips.setdefault(annotator, _Skips())
        follow = in_order and self._lease_sig is not None  # follow the new lease rows; re-read when the count disagrees
        with_skips = follow and skips.lease_id == self._lease_id  # the new lease rows bring this annotator's skips
        if (not in_order or newest > skips.lease_id) and not with_skips:
            new_skips = _run(conn, "new_skips", (skips.lease_id - overlap, annotator, p, split))
            skips.skipped.update(eid for (eid,) in new_skips)
        if follow:
            if newest > self._lease_id:
                for lid, eid, who, expires, released, outcome, here in _run(conn, "new_leases", (p, split,
                                                                                                self._lease_id)):
                    if here and with_skips and outcome == "skipped" and who == annotator:
                        skips.skipped.add(eid)
                    if released is None and expires > now:
                        self._unreleased.add(lid)
                        if here:
                            self._add_open(lid, (eid, who, expires))
                        else:
                            self._foreign.add(lid)
            stale = len(self._unreleased) != n_open
        else:
            stale = (newest, n_open) != self._lease_sig
        gone = False
        if stale or (self._at is not None and now < self._at):  # a clock stepped back: an expired lease may be live
            self._unreleased = {lid for (lid,) in _run(conn, "open_ids", (now,))}
            gone = self._follow_open(conn, self._unreleased)
        self._lease_sig, self._lease_id = (newest, n_open), max(self._lease_id, newest)
        self._sig, self._at = ((newest_label, n_retracted, newest, n_open) if in_order else None), now
        if self._next_expiry is not None and self._next_expiry <= now:  # else none has expired: no pass over them
            expired = [lid for lid, row in self._open_rows.items() if row[2] <= now]
            for lid in expired:
                del self._open_rows[lid]
            self._next_expiry = min((row[2] for row in self._open_rows.values()), default=None)
            gone = gone or bool(expired)
        if gone:
            self._rebuild_open()
        closed = sorted(skips.closed)  # this annotator's leases closed since: skipped, or released?
        for lo in range(0, len(closed), LOOKUP_CHUNK):
            skips.skipped.update(conn.scalars(
                sa.select(LS.c.example_id).where(LS.c.example_id.in_(closed[lo : lo + LOOKUP_CHUNK]),
                                                 LS.c.annotator == annotator, LS.c.outcome == "skipped")))
        skips.closed = set()
        skips.lease_id = max(skips.lease_id, newest)

    def _labels_out_of_order(self, conn) -> None:
        """Read the label rows above ``_settled`` (PostgreSQL), applying each once and never an older over a newer one.

        A read's missing rows belong to transactions running during it. Once a snapshot taken after it shows
        them all ended (its oldest running transaction is past the read's first unstarted one), the next read
        sees them all, after which every id up to the newest that read saw is settled.
        """
        settle = 0
        while self._unsettled and self._xmin is not None and self._unsettled[0][0] <= self._xmin:
            settle = self._unsettled.popleft()[1]  # its stragglers are visible to the read below
        for lid, eid, pos, retracted in _run(conn, "new_labels", (self._settled, self.project_id, self.split)):
            if retracted is None and self._recent.get(eid, 0) < lid:  # not seen, and newer than what it has
                self._recent[eid] = lid
                self._label(eid, pos)
            self._label_id = max(self._label_id, lid)
        if settle > self._settled:
            self._settled = settle
            self._recent = {eid: lid for eid, lid in self._recent.items() if lid > settle}
        xmin, xmax = _run(conn, "snapshot", ())[0]
        self._unsettled.append((int(xmax), self._label_id))
        self._xmin = int(xmin)

    def _label(self, eid: int, pos: int) -> None:
        if eid in self.labeled:  # a relabel: the count of its old class goes down
            self._counts = None
        self.labeled[eid] = pos
        self._added.append(eid)
        if self._counts is not None:
            self._counts[pos] += 1

    def wrote(self, written: Written, here: bool) -> None:
        """Follow lease rows this process wrote and committed without reading them back (``here``: in this split).

        Only when no row before them is unseen (else the next refresh reads them all); they hold no skips.
        """
        if self._lease_sig is None or self._lease_id != written.first - 1:
            return
        last = written.first + len(written.examples) - 1
        if written.open:
            for lid, eid in enumerate(written.examples, written.first):
                self._unreleased.add(lid)
                if here:
                    self._add_open(lid, (eid, written.annotator, written.expires))
                else:
                    self._foreign.add(lid)
        for skips in self._skips.values():
            if skips.lease_id == self._lease_id:
                skips.lease_id = last
        self._lease_id = last
        if self._sig is not None:  # what the signature says now
            newest_label, n_retracted, _, n_open = self._sig
            self._sig = (newest_label, n_retracted, last, n_open + len(written.examples) * written.open)

    def free(self, ids: list[int]) -> bool:
        """Whether none of ``ids`` is labeled or leased, as of the tracker's state."""
        return not any(i in self.labeled or i in self.leased for i in ids)

    def current(self, sig: tuple, now) -> bool:
        """Whether the tracker's state is that of the logs with signature ``sig`` (the round aside) at ``now`` (the
        database's form): not before the read, when a lease it saw expired could be live again."""
        _, newest_label, n_retracted, newest, n_open = sig
        return (self._sig is not None and now >= self._at
                and self._sig == (newest_label or 0, n_retracted, newest or 0, n_open))

    def _add_open(self, lid: int, row: tuple) -> None:
        """Follow a newly seen open lease ``row`` (example, annotator, expires): leases only add here."""
        self._open_rows[lid] = row
        eid, who, expires = row
        if eid not in self.leased:
            self.leased.add(eid)
            self._added.append(eid)
        self._open.setdefault(who, set()).add(eid)
        if self._next_expiry is None or expires < self._next_expiry:
            self._next_expiry = expires

    def _rebuild_open(self) -> None:
        """Recount the leased examples after some open leases went; tell each annotator's skips which of theirs."""
        before = self._open
        self.leased, self._open = set(), {}
        for eid, who, _ in self._open_rows.values():
            self.leased.add(eid)
            self._open.setdefault(who, set()).add(eid)
        for who, eids in before.items():
            if who in self._skips:
                self._skips[who].closed |= eids - self._open.get(who, set())
        self._base = None

    def _follow_open(self, conn, open_ids: set[int]) -> bool:
        """Keep the rows of this split's leases in ``open_ids``, reading only new ones; whether any went."""
        gone = self._open_rows.keys() - open_ids
        for lid in gone:
            del self._open_rows[lid]
        self._foreign &= open_ids
        new = sorted(open_ids - self._open_rows.keys() - self._foreign)
        for lo in range(0, len(new), LOOKUP_CHUNK):
            chunk = new[lo : lo + LOOKUP_CHUNK]
            for lid, eid, who, expires in _run(conn, "lease_rows", (*chunk, self.project_id, self.split), len(chunk)):
                self._add_open(lid, (eid, who, expires))
            self._foreign.update(lid for lid in chunk if lid not in self._open_rows)
        return bool(gone)

    def _relabel(self, conn, ids: set[int]) -> None:
        """Read the current label of just these examples."""
        todo = sorted(ids)
        self._base = self._counts = None
        for eid in todo:
            self.labeled.pop(eid, None)
            self._recent.pop(eid, None)  # read afresh below: an older label committing later may be its current one
        for lo in range(0, len(todo), LOOKUP_CHUNK):
            chunk = todo[lo : lo + LOOKUP_CHUNK]
            newest = (sa.select(sa.func.max(LB.c.id)).where(LB.c.retracted_at.is_(None), LB.c.example_id.in_(chunk))
                      .group_by(LB.c.example_id))
            for eid, pos in conn.execute(
                sa.select(LB.c.example_id, CL.c.position).join(CL, CL.c.id == LB.c.class_id).where(LB.c.id.in_(newest))
            ):
                self._label(eid, pos)

    def excluded(self, annotator: str) -> np.ndarray:
        """Sorted ids not to hand out to ``annotator`` as of the last refresh: labeled, leased by anyone, or skipped."""
        skips = self._skips.get(annotator)
        base = self._merged()
        if skips is None or not skips.skipped:
            return base
        if len(skips.array) != len(skips.skipped):  # skips are only ever added
            skips.array = np.sort(np.fromiter(skips.skipped, dtype=np.int64, count=len(skips.skipped)))
        return union_ids(base, skips.array)

    def _merged(self) -> np.ndarray:
        """The labeled and leased examples, sorted (read-only): rebuilt after one went, else merged with those added."""
        if self._base is None:
            ids = self.labeled.keys() | self.leased
            self._base = np.sort(np.fromiter(ids, dtype=np.int64, count=len(ids)))
        elif self._added:
            self._base = union_ids(self._base, np.array(self._added, dtype=np.int64))
        else:
            return self._base
        self._added = []
        self._base.flags.writeable = False  # handed out as it is: the next change builds a new array
        return self._base

    def counts(self) -> np.ndarray:
        """Current labels per class position (a copy)."""
        if self._counts is None:
            pos = np.fromiter(self.labeled.values(), dtype=np.int64, count=len(self.labeled))
            self._counts = np.bincount(pos, minlength=self.n_classes)[: self.n_classes]
        return self._counts.copy()


def union_ids(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted unique ids of sorted unique ``a`` and any ``b`` (a timsort merges the sorted run with the few new ones)."""
    ids = np.sort(np.concatenate((a, b)), kind="stable")
    return ids[np.concatenate(([True], ids[1:] != ids[:-1]))] if len(ids) else ids


class _Skips:
    """One annotator's skips, and which of their open leases went since (skipped, or released?)."""

    def __init__(self) -> None:
        self.skipped: set[int] = set()
        self.array = np.empty(0, np.int64)  # skipped, sorted
        self.closed: set[int] = set()  # examples whose open lease of theirs went since their last refresh
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
            with engine.connect() as conn, conn.begin():  # one snapshot (the statements run on the driver)
                sig = signature(conn, self.project_id, bind(conn, LS.c.expires_at)(now))
                tracker.refresh(conn, now, annotator, sig)
            number = sig[0]
            return number, tracker.excluded(annotator), tracker.counts()

    def known_free(self, split: str, conn, ids: list[int], now_db) -> bool:
        """Whether ``ids`` (examples of ``split``) are known to be neither labeled nor leased at ``now_db`` without
        the lease's check: on SQLite, in a write transaction (nothing changes under its lock), when the logs'
        signature is the one the last refresh (and this process's own leases since) left."""
        if conn.dialect.name != "sqlite":
            return False
        with self._lock:
            tracker = self._trackers.get(split)
            if tracker is None or not tracker.free(ids):
                return False
            return tracker.current(signature(conn, self.project_id, now_db), now_db)

    def wrote(self, split: str, written: Written) -> None:
        """Lease rows this process just committed, all on examples of ``split`` (see :meth:`ExclusionTracker.wrote`)."""
        with self._lock:
            for tracker in self._trackers.values():
                tracker.wrote(written, tracker.split == split)
