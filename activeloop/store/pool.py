"""The Pool: one project's examples, label log, leases and rounds, behind one small API.

Each public method is one unit of work (one transaction, on SQLAlchemy Core: the ORM is never
imported); helpers take a connection and never commit.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from activeloop.errors import (
    ActiveloopError,
    DimensionError,
    UnknownClassError,
    UnknownProjectError,
)
from activeloop.store import db, examples, faults, leases, rounds
from activeloop.store import scores as stored_scores
from activeloop.store.exclusions import QueryStates
from activeloop.store import labels as label_log
from activeloop.store.labels import has_label
from activeloop.store.leases import LeaseInfo
from activeloop.store.names import KEY_LEN, NAME_LEN, label_text, project_spec, text
from activeloop.store.rounds import RoundInfo
from activeloop.store.rows import resumable_rows
from activeloop.store.tables import SOURCES, SPLITS, stored_time, utcnow
from activeloop.store.tables import classes as CL, examples as EX, labels as LB, projects as PJ

__all__ = ["Pool", "RoundInfo", "LeaseInfo"]


def _retried(method):
    """Run the method again after a dropped connection, for the pool's ``retry_seconds`` (each call is one
    unit of work; inside :meth:`Pool.transaction` the block's owner decides)."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        if self._txn is not None:
            return method(self, *args, **kwargs)
        return faults.call(self.retry_seconds, self._engine.url, method, self, *args, **kwargs)

    return run


class Pool:
    """One project in an activeloop database.

    Open with :meth:`Pool.open` or make with :meth:`Pool.create`; never build directly.

    Attributes
    ----------
    url : str
        The SQLAlchemy URL of the database.
    name : str
        The project name.
    classes : list of str
        The class names, in hotkey order; labels are reported as indices into this list.
    hotkeys : list of str
        One key per class.
    dim : int or None
        The feature dimension, fixed by the first examples added.
    clock : callable() -> datetime
        "Now" for label, lease and round times (default ``utcnow``): naive UTC, or timezone-aware (converted to
        naive UTC); tests pass a fake clock to expire leases without waiting.
    retry_seconds : float
        How long a call keeps retrying after a dropped connection (a server restart, a killed
        connection) before :class:`~activeloop.errors.UnreachableError`; default
        ``$ACTIVELOOP_RETRY_SECONDS`` or 30 s.
    """

    def __init__(self, engine: Engine, project_id: int, *, clock: Callable[[], datetime] = utcnow,
                 retry_seconds: float | None = None):
        self.clock = clock
        self.retry_seconds = faults.retry_seconds(retry_seconds)
        self._engine = engine
        self._writer = engine.execution_options(**db.WRITE)
        self.url = engine.url.render_as_string(hide_password=False)
        self.project_id = project_id
        self._txn: Connection | None = None
        self._load_project()
        self._query_states = QueryStates(project_id, len(self.classes))

    # ---------------------------------------------------------------- opening
    @classmethod
    def create(
        cls,
        url: str | Path,
        name: str,
        classes: Sequence[str],
        *,
        hotkeys: Sequence[str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        retry_seconds: float | None = None,
    ) -> Pool:
        """Create a project (and the database, when the file does not exist yet)."""
        name, classes, hotkeys = project_spec(name, classes, hotkeys)
        retry_seconds = faults.retry_seconds(retry_seconds)
        engine = faults.call(retry_seconds, db.normalize_url(url), db.connect, url, create=True)
        with engine.execution_options(**db.WRITE).begin() as conn:
            if conn.scalar(sa.select(PJ.c.id).where(PJ.c.name == name)) is not None:
                engine.dispose()
                raise ActiveloopError(f"project {name!r} already exists in {db.normalize_url(url)}")
            pid = conn.execute(sa.insert(PJ).values(name=name)).inserted_primary_key[0]
            conn.execute(sa.insert(CL), [{"project_id": pid, "name": cname, "hotkey": key, "position": pos}
                                         for pos, (cname, key) in enumerate(zip(classes, hotkeys))])
        return cls(engine, pid, clock=clock, retry_seconds=retry_seconds)

    @classmethod
    def open(
        cls,
        url: str | Path,
        project: str | None = None,
        *,
        auto_upgrade: bool = True,
        clock: Callable[[], datetime] = utcnow,
        retry_seconds: float | None = None,
    ) -> Pool:
        """Open a project; ``project=None`` picks the only one in the database (retrying a server that is away)."""
        retry_seconds = faults.retry_seconds(retry_seconds)

        def projects():
            engine = db.connect(url, auto_upgrade=auto_upgrade)
            try:
                with engine.connect() as conn:
                    return engine, conn.execute(sa.select(PJ.c.id, PJ.c.name).order_by(PJ.c.id)).all()
            except Exception:
                engine.dispose()
                raise

        engine, rows = faults.call(retry_seconds, db.normalize_url(url), projects)
        where = db.normalize_url(url)
        if project is None:
            if len(rows) != 1:
                engine.dispose()
                names = ", ".join(r.name for r in rows) or "none"
                raise UnknownProjectError(f"{where}: name a project with --project (projects: {names})")
            return cls(engine, rows[0].id, clock=clock, retry_seconds=retry_seconds)
        for r in rows:
            if r.name == project:
                return cls(engine, r.id, clock=clock, retry_seconds=retry_seconds)
        engine.dispose()
        names = ", ".join(r.name for r in rows) or "none"
        raise UnknownProjectError(f"{where}: no project {project!r} (projects: {names})")

    @staticmethod
    def projects(url: str | Path) -> list[str]:
        """Names of the projects in a database."""
        engine = db.connect(url)
        try:
            with engine.connect() as conn:
                return list(conn.scalars(sa.select(PJ.c.name).order_by(PJ.c.id)))
        finally:
            engine.dispose()

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _now(self) -> datetime:
        return stored_time(self.clock())

    def __repr__(self) -> str:
        return f"Pool({self.url!r}, project={self.name!r}, classes={self.classes})"

    def _load_project(self) -> None:
        with self._engine.connect() as conn:
            project = conn.execute(sa.select(PJ).where(PJ.c.id == self.project_id)).one()
            defs = conn.execute(sa.select(CL).where(CL.c.project_id == self.project_id).order_by(CL.c.position)).all()
            self.name = project.name
            self.dim = project.dim
            self.classes = [c.name for c in defs]
            self.hotkeys = [c.hotkey for c in defs]
            self._class_ids = [c.id for c in defs]
            self._featurizer = (project.featurizer, project.featurizer_state)

    # ---------------------------------------------------------------- examples
    @contextmanager
    def transaction(self) -> Iterator[Pool]:
        """Group several :meth:`add` and :meth:`set_featurizer` calls into one transaction.

        Everything done inside the block commits at its end or not at all: an exception
        rolls back every call made inside it (the import of many files uses this). Other
        methods keep their own transactions; blocks do not nest.
        """
        if self._txn is not None:
            raise ActiveloopError("Pool.transaction() blocks do not nest")
        saved = (self.dim, self._featurizer)
        try:
            with self._writer.begin() as s:
                self._txn = s
                # Under the write lock: see a dimension or featurizer another process fixed meanwhile.
                project = s.execute(sa.select(PJ).where(PJ.c.id == self.project_id).with_for_update()).one()
                self.dim, self._featurizer = project.dim, (project.featurizer, project.featurizer_state)
                yield self
        except BaseException:
            self.dim, self._featurizer = saved
            raise
        finally:
            self._txn = None

    def _begin(self):
        """The open :meth:`transaction`'s connection, or a new unit of work."""
        return nullcontext(self._txn) if self._txn is not None else self._writer.begin()

    def add(
        self,
        X: Any,
        *,
        payloads: Sequence[Any] | None = None,
        external_ids: Sequence[str] | None = None,
        labels: Sequence[str | None] | None = None,
        split: str = "pool",
        annotator: str = "import",
    ) -> np.ndarray:
        """Add examples (and optional labels, recorded with ``source='import'``) in one transaction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite feature vectors; the first call fixes the project's dimension.
        payloads, external_ids, labels : sequences of length n_samples, optional
            What the TUI shows, unique ids (default ``#<n>``), and class names or None.
        split : {"pool", "eval"}

        Returns
        -------
        ids : ndarray of shape (n_samples,)

        Raises
        ------
        RowError
            A row the store cannot hold (not finite, id repeated or already in the pool, payload
            not JSON); ``row`` is its index in this call. Files are checked by
            :mod:`activeloop.ingest` first, which names the file's own rows.
        UnknownClassError, DimensionError
        """
        where = f"project {self.name!r}"
        X = examples.as_features(X, where)
        n = len(X)
        if split not in SPLITS:
            raise ActiveloopError(f"split must be one of {SPLITS}, got {split!r}")
        for what, seq in (("payloads", payloads), ("external_ids", external_ids), ("labels", labels)):
            if seq is not None and len(seq) != n:
                raise ActiveloopError(f"{where}: {n} feature rows but {len(seq)} {what}")
        class_ids = None if labels is None else [self._class_id(lab, row) for row, lab in enumerate(labels)]
        annotator = text(annotator, "annotator", NAME_LEN)
        with self._begin() as conn:
            dim = conn.scalar(sa.select(PJ.c.dim).where(PJ.c.id == self.project_id).with_for_update())
            if dim is None:
                dim = X.shape[1]
                conn.execute(sa.update(PJ).where(PJ.c.id == self.project_id).values(dim=dim))
            elif X.shape[1] != dim:
                raise DimensionError(f"{where}: {X.shape[1]} features per example, but the project has {dim}")
            ext = examples.external_ids(conn, self.project_id, external_ids, n, where)
            ids = examples.insert(conn, self.project_id, X, ext, payloads=payloads, class_ids=class_ids, split=split,
                                  annotator=annotator, now=self._now(), where=where)
            self.dim = dim
        return ids

    def _class_id(self, name: str | None, row: int) -> int | None:
        if name is None:
            return None
        if name not in self.classes:
            raise UnknownClassError(f"project {self.name!r} row {row}: {name!r} is not one of the classes {self.classes}")
        return self._class_ids[self.classes.index(name)]

    def iter_features(
        self, *, split: str = "pool", unlabeled: bool = True, chunk_size: int = 50_000,
        id_range: tuple[int, int] | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Stream ``(ids, X)`` chunks of one split (ids in ``[lo, hi)`` with ``id_range``), by id; never payloads."""
        stmt = sa.select(EX.c.id, EX.c.features).where(EX.c.project_id == self.project_id, EX.c.split == split)
        if id_range is not None:
            stmt = stmt.where(EX.c.id >= int(id_range[0]), EX.c.id < int(id_range[1]))
        if unlabeled:
            stmt = stmt.where(~has_label(EX.c.id))
        retry = functools.partial(faults.retrying, self.retry_seconds, self._engine.url)
        for rows in resumable_rows(self._engine, stmt, EX.c.id, chunk_size, retry):
            yield self._unpack(rows)

    def _unpack(self, rows) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        X = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), self._known_dim())
        return ids, X

    def _known_dim(self) -> int:
        """The feature dimension, re-read once it may have been fixed by another process's first add."""
        if self.dim is None:
            with self._engine.connect() as conn:
                self.dim = conn.scalar(sa.select(PJ.c.dim).where(PJ.c.id == self.project_id))
        return self.dim or 0

    @_retried
    def features(self, ids: Sequence[int]) -> np.ndarray:
        """Feature rows for ``ids``, in that order."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.empty((0, self._known_dim()), dtype=np.float32)
        with self._engine.connect() as conn:
            got = examples.feature_blobs(conn, self.project_id, ids)
        missing = [int(i) for i in ids if int(i) not in got]
        if missing:
            raise ActiveloopError(f"project {self.name!r}: no examples with ids {missing[:5]}")
        return np.frombuffer(b"".join(got[int(i)] for i in ids), dtype=np.float32).reshape(len(ids), self._known_dim())

    @_retried
    def payloads(self, ids: Sequence[int]) -> list[Any]:
        """Payloads for ``ids``, in that order."""
        with self._engine.connect() as conn:
            return examples.column(conn, self.project_id, ids, "payload")

    @_retried
    def external_ids(self, ids: Sequence[int]) -> list[str | None]:
        """External ids of ``ids``, in that order (one statement; None for an id not in the project)."""
        with self._engine.connect() as conn:
            return examples.column(conn, self.project_id, ids, "external_id")

    @_retried
    def example(self, example_id: int) -> dict[str, Any]:
        """One example with its payload, split and current label."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(EX.c.id, EX.c.external_id, EX.c.payload, EX.c.split).where(
                    EX.c.project_id == self.project_id, EX.c.id == int(example_id)
                )
            ).first()
            if row is None:
                raise ActiveloopError(f"project {self.name!r}: no example with id {example_id}")
            label = label_log.current_name(conn, self.project_id, example_id)
        return {"id": row.id, "external_id": row.external_id, "payload": row.payload, "split": row.split, "label": label}

    @_retried
    def count(self, split: str | None = None) -> int:
        stmt = sa.select(sa.func.count()).select_from(EX).where(EX.c.project_id == self.project_id)
        if split is not None:
            stmt = stmt.where(EX.c.split == split)
        with self._engine.connect() as conn:
            return conn.scalar(stmt)

    @_retried
    def id_bounds(self, split: str = "pool") -> tuple[int, int] | None:
        """The lowest and highest example id of one split (None when it is empty), from the index alone."""
        with self._engine.connect() as conn:
            lo, hi = conn.execute(sa.select(sa.func.min(EX.c.id), sa.func.max(EX.c.id)).where(
                EX.c.project_id == self.project_id, EX.c.split == split)).one()
        return None if lo is None else (int(lo), int(hi))

    @_retried
    def unlabeled_ids(self, split: str = "pool") -> np.ndarray:
        stmt = (
            sa.select(EX.c.id)
            .where(EX.c.project_id == self.project_id, EX.c.split == split, ~has_label(EX.c.id))
            .order_by(EX.c.id)
        )
        with self._engine.connect() as conn:
            return np.fromiter(conn.scalars(stmt), dtype=np.int64)

    # ---------------------------------------------------------------- labels
    @_retried
    def labeled(self, split: str = "pool") -> tuple[np.ndarray, np.ndarray]:
        """Current labels of one split: ``(ids, y)`` with ``y`` indices into :attr:`classes`."""
        stmt = label_log.current(self.project_id, split=split).order_by(LB.c.example_id)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        ids = np.array([r.example_id for r in rows], dtype=np.int64)
        y = np.array([r.position for r in rows], dtype=np.int64)
        return ids, y

    def labeled_xy(self, split: str = "pool") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Current labels of one split with their features: ``(ids, X, y)``."""
        ids, y = self.labeled(split)
        return ids, self.features(ids), y

    def label(self, example_id: int, cls: str, *, annotator: str = "default", source: str = "human",
              key: str | None = None, retry_seconds: float | None = None) -> int:
        """Record a label (and close the annotator's lease on it); commits before returning; returns its id.

        Written exactly once: ``key`` (default: a fresh one) names this label across retries, so a
        retry after an ambiguous commit, or a second call with the same key, returns the label
        already written instead of writing another. ``retry_seconds`` overrides the pool's for this
        call (0: one try, as the app makes in its UI thread).

        Raises
        ------
        LeaseError
            Another annotator holds a live lease on the example (a lapsed one is taken over).
        """
        if cls not in self.classes:
            raise UnknownClassError(f"project {self.name!r}: {cls!r} is not one of {self.classes}")
        if source not in SOURCES:
            raise ActiveloopError(f"label source must be one of {SOURCES}, got {source!r}")
        annotator = text(annotator, "annotator", NAME_LEN)
        key = uuid.uuid4().hex if key is None else text(key, "label key", KEY_LEN)
        seconds = self.retry_seconds if retry_seconds is None else faults.retry_seconds(retry_seconds)
        write = functools.partial(self._write_label, int(example_id), self._class_ids[self.classes.index(cls)],
                                  annotator, source, key)
        return faults.call(seconds, self._engine.url, label_log.once, self._writer, key, write)

    def _write_label(self, example_id: int, class_id: int, annotator: str, source: str, key: str, s: Connection) -> int:
        now = self._now()
        self._require_example(s, example_id)
        leases.claim(s, example_id, annotator, now)
        label_id = label_log.record(s, example_id, class_id, annotator=annotator, source=source,
                                    round=rounds.latest_number(s, self.project_id), key=key, now=now)
        leases.close(s, [example_id], annotator, "labeled", now)
        return label_id

    def undo(self, *, annotator: str) -> int | None:
        """Retract ``annotator``'s newest unretracted label; returns its example id (None if none).

        Only ``annotator``'s own labels are ever retracted; a retry after an ambiguous commit
        retracts the label the first attempt chose, never a second one.
        """
        return self._undo_once(annotator, [])

    @_retried
    def _undo_once(self, annotator: str, chosen: list) -> int | None:
        with self._writer.begin() as s:
            if not chosen:
                chosen.append(label_log.newest(s, self.project_id, annotator))
            if chosen[0] is None:
                return None
            label_id, example_id = chosen[0]
            label_log.retract(s, label_id, self._now())
            return example_id

    @_retried
    def current_label(self, example_id: int) -> str | None:
        with self._engine.connect() as conn:
            return label_log.current_name(conn, self.project_id, example_id)

    def class_counts(self, split: str = "pool") -> dict[str, int]:
        """Current labels per class in one split, zeros included."""
        _, y = self.labeled(split)
        counts = np.bincount(y, minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, counts)}

    @_retried
    def label_count(self, *, annotator: str | None = None) -> int:
        """Unretracted labels, optionally of one annotator."""
        with self._engine.connect() as conn:
            return label_log.count(conn, self.project_id, annotator)

    @_retried
    def export_labels(self) -> list[dict[str, Any]]:
        """Current labels with their example, annotator, source and time, ordered by example id."""
        with self._engine.connect() as conn:
            return label_log.export_rows(conn, self.project_id)

    def _require_example(self, s: Connection, example_id: int) -> None:
        found = s.scalar(
            sa.select(EX.c.id).where(EX.c.id == int(example_id), EX.c.project_id == self.project_id)
        )
        if found is None:
            raise ActiveloopError(f"project {self.name!r}: no example with id {example_id}")

    # ---------------------------------------------------------------- leases
    @_retried
    def lease(
        self,
        ids: Sequence[int],
        *,
        annotator: str,
        strategy: str,
        scores: Sequence[float] | None = None,
        ttl: float = 1800.0,
        split: str | None = None,
    ) -> list[int]:
        """Hand ``ids`` to ``annotator`` until ``ttl`` seconds from now; returns those not already taken. ``split``: the
        split all ``ids`` are in, when known (a query's lease; see :mod:`activeloop.store.exclusions`): it must be
        right, as the held check may be skipped on what that split's query state knows."""
        annotator = text(annotator, "annotator", NAME_LEN)
        strategy = label_text(strategy) or ""
        free = None if split is None else functools.partial(self._query_states.known_free, split)
        with self._writer.begin() as conn:
            got, written = leases.lease(conn, self.project_id, ids, annotator=annotator, strategy=strategy,
                                        scores=scores, ttl=ttl, now=self._now(), known_free=free)
        if written is not None and split is not None:  # committed
            self._query_states.wrote(split, written)
        return got

    @_retried
    def release(self, ids: Sequence[int], *, annotator: str, outcome: str = "released") -> None:
        """Give ``annotator``'s active leases on ``ids`` back to the pool (a skip is :meth:`skip`'s own row)."""
        if outcome == "skipped":  # a closed row's outcome is not what the query state follows: skip() writes one
            raise ActiveloopError("release() cannot record a skip; call skip(example_id, annotator=...) instead")
        with self._writer.begin() as conn:
            leases.close(conn, ids, annotator, outcome, self._now())

    @_retried
    def skip(self, example_id: int, *, annotator: str) -> None:
        """Release the example and remember that ``annotator`` skipped it (it is not asked of them again)."""
        annotator = text(annotator, "annotator", NAME_LEN)
        with self._writer.begin() as s:
            self._require_example(s, example_id)
            leases.skip(s, example_id, annotator, self._now())

    @_retried
    def active_leases(self, annotator: str | None = None) -> list[LeaseInfo]:
        """Unexpired, unreleased leases (of one annotator, or all), oldest first."""
        with self._engine.connect() as conn:
            return leases.active(conn, self.project_id, annotator, self._now())

    @_retried
    def excluded_ids(self, annotator: str | None = None, split: str = "pool") -> np.ndarray:
        """Ids not to hand out now: labeled, leased by anyone, or skipped by ``annotator``."""
        with self._engine.connect() as conn:
            return leases.excluded_ids(conn, self.project_id, annotator, split, self._now())

    @_retried
    def query_state(self, annotator: str, split: str = "pool") -> tuple[int | None, np.ndarray, np.ndarray]:
        """``(latest round number, excluded ids, labeled counts per class)`` for a query, read incrementally.

        The same as :meth:`latest_round_number`, :meth:`excluded_ids` and :meth:`class_counts`, but
        one connection and, after the first call per split, only the label and lease log rows that
        changed since (see :mod:`activeloop.store.exclusions`).
        """
        return self._query_states.read(self._engine, annotator, split, self._now())

    # ---------------------------------------------------------------- rounds
    @_retried
    def record_round(
        self,
        *,
        n_labels: int,
        strategy: str | None,
        checkpoint: bytes | None,
        metrics: dict[str, Any],
        config: dict[str, Any],
        started_at: datetime,
        scores: stored_scores.Scores | None = None,
    ) -> RoundInfo:
        """Write a finished round, its checkpoint, metrics and (optionally) its scores of the pool in one transaction.

        A crash leaves either the whole round with its scores or none of it, so stored scores never
        disagree with their round.
        """
        with self._writer.begin() as s:
            return rounds.record(
                s, self.project_id, n_labels=n_labels, strategy=label_text(strategy), checkpoint=checkpoint,
                metrics=metrics, config=config, started_at=stored_time(started_at), now=self._now(), scores=scores,
            )

    @_retried
    def latest_round_number(self) -> int | None:
        """The number of the newest round (None before the first); one indexed lookup."""
        with self._engine.connect() as conn:
            return rounds.latest_number(conn, self.project_id)

    @_retried
    def load_scores(self, number: int, key: str) -> stored_scores.Scores | None:
        """Round ``number``'s stored scores for scoring ``key`` (None when it has none), checksum-checked."""
        with self._engine.connect() as conn:
            return stored_scores.load(conn, self.project_id, number, key, where=f"project {self.name!r}: ")

    @_retried
    def rounds(self) -> list[RoundInfo]:
        """Every recorded round, oldest first."""
        with self._engine.connect() as conn:
            return rounds.all_rounds(conn, self.project_id)

    @_retried
    def latest_round(self) -> RoundInfo | None:
        """The newest round, None before the first."""
        with self._engine.connect() as conn:
            return rounds.latest(conn, self.project_id)

    @_retried
    def load_checkpoint(self, number: int | None = None) -> bytes | None:
        """The checkpoint of round ``number`` (default: the latest with one), checked against its sha256."""
        with self._engine.connect() as conn:
            return rounds.load_checkpoint(conn, self.project_id, self.name, number)

    # ---------------------------------------------------------------- featurizer
    @property
    def featurizer(self) -> tuple[dict[str, Any] | None, bytes | None]:
        """The project's featurizer spec (JSON) and fitted state (an ``.npz`` blob), if any."""
        return self._featurizer

    def set_featurizer(self, spec: dict[str, Any], state: bytes | None) -> None:
        with self._begin() as s:
            s.execute(sa.update(PJ).where(PJ.c.id == self.project_id).values(featurizer=spec, featurizer_state=state))
        self._featurizer = (spec, state)

