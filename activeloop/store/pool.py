"""The Pool: one project's examples, label log, leases and rounds, behind one small API.

Each public method is one unit of work (one transaction); helpers take a connection or a
session and never commit.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager, nullcontext
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from activeloop.errors import (
    ActiveloopError,
    CheckpointError,
    DimensionError,
    IngestError,
    UnknownClassError,
    UnknownProjectError,
)
from activeloop.store import db
from activeloop.store.schema import SOURCES, SPLITS, ClassDef, Example, Label, Lease, Project, Round, utcnow

EX = Example.__table__
LB = Label.__table__
LS = Lease.__table__
DEFAULT_HOTKEYS = "123456789abcdfghijklmnoptvwxyz"
INSERT_CHUNK = 50_000
LOOKUP_CHUNK = 900  # ids per IN (...) lookup, under SQLite's bound-parameter limit
NAME_LEN = 200  # projects.name, classes.name, annotators (String(200) columns)
EXTERNAL_ID_LEN = 500


@dataclass(frozen=True)
class RoundInfo:
    """A finished retrain round, as recorded (the checkpoint itself loads on demand)."""

    number: int
    n_labels: int
    strategy: str | None
    metrics: dict[str, Any]
    config: dict[str, Any]
    started_at: datetime
    finished_at: datetime
    has_checkpoint: bool


@dataclass(frozen=True)
class LeaseInfo:
    example_id: int
    annotator: str
    strategy: str
    score: float | None
    expires_at: datetime


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
    """

    def __init__(self, engine: Engine, project_id: int):
        self._engine = engine
        self._writer = engine.execution_options(**db.WRITE)
        self._sessions = sessionmaker(self._writer, expire_on_commit=False)
        self.url = engine.url.render_as_string(hide_password=False)
        self.project_id = project_id
        self._txn: Session | None = None
        self._load_project()

    # ---------------------------------------------------------------- opening
    @classmethod
    def create(
        cls,
        url: str | Path,
        name: str,
        classes: Sequence[str],
        *,
        hotkeys: Sequence[str] | None = None,
    ) -> Pool:
        """Create a project (and the database, when the file does not exist yet)."""
        classes = [_text(c, "class name", NAME_LEN) for c in classes]
        name = _text(name, "project name", NAME_LEN)
        if not name:
            raise ActiveloopError("a project needs a name")
        if len(classes) < 2:
            raise ActiveloopError(f"project {name!r}: needs at least two classes, got {classes}")
        if len(set(classes)) != len(classes) or any(not c for c in classes):
            raise ActiveloopError(f"project {name!r}: class names must be unique and non-empty: {classes}")
        if hotkeys is None:
            if len(classes) > len(DEFAULT_HOTKEYS):
                raise ActiveloopError(f"project {name!r}: {len(classes)} classes need explicit hotkeys")
            hotkeys = list(DEFAULT_HOTKEYS[: len(classes)])
        hotkeys = [_text(h, "hotkey", 16) for h in hotkeys]
        if len(hotkeys) != len(classes) or len(set(hotkeys)) != len(hotkeys):
            raise ActiveloopError(f"project {name!r}: need one distinct hotkey per class, got {hotkeys}")
        engine = db.connect(url, create=True)
        sessions = sessionmaker(engine.execution_options(**db.WRITE))
        with sessions.begin() as s:
            if s.scalar(sa.select(Project.id).where(Project.name == name)) is not None:
                engine.dispose()
                raise ActiveloopError(f"project {name!r} already exists in {db.normalize_url(url)}")
            project = Project(name=name)
            s.add(project)
            s.flush()
            for pos, (cname, key) in enumerate(zip(classes, hotkeys)):
                s.add(ClassDef(project_id=project.id, name=cname, hotkey=key, position=pos))
            pid = project.id
        return cls(engine, pid)

    @classmethod
    def open(cls, url: str | Path, project: str | None = None, *, auto_upgrade: bool = True) -> Pool:
        """Open a project; ``project=None`` picks the only one in the database."""
        engine = db.connect(url, auto_upgrade=auto_upgrade)
        try:
            with Session(engine) as s:
                rows = s.execute(sa.select(Project.id, Project.name).order_by(Project.id)).all()
        except Exception:
            engine.dispose()
            raise
        where = db.normalize_url(url)
        if project is None:
            if len(rows) != 1:
                engine.dispose()
                names = ", ".join(r.name for r in rows) or "none"
                raise UnknownProjectError(f"{where}: name a project with --project (projects: {names})")
            return cls(engine, rows[0].id)
        for r in rows:
            if r.name == project:
                return cls(engine, r.id)
        engine.dispose()
        names = ", ".join(r.name for r in rows) or "none"
        raise UnknownProjectError(f"{where}: no project {project!r} (projects: {names})")

    @staticmethod
    def projects(url: str | Path) -> list[str]:
        """Names of the projects in a database."""
        engine = db.connect(url)
        try:
            with Session(engine) as s:
                return list(s.scalars(sa.select(Project.name).order_by(Project.id)))
        finally:
            engine.dispose()

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Pool({self.url!r}, project={self.name!r}, classes={self.classes})"

    def _load_project(self) -> None:
        with Session(self._engine) as s:
            project = s.get(Project, self.project_id)
            defs = s.scalars(
                sa.select(ClassDef).where(ClassDef.project_id == self.project_id).order_by(ClassDef.position)
            ).all()
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
            with self._sessions.begin() as s:
                self._txn = s
                # Under the write lock: see a dimension or featurizer another process fixed meanwhile.
                project = s.get(Project, self.project_id, with_for_update=True)
                self.dim, self._featurizer = project.dim, (project.featurizer, project.featurizer_state)
                yield self
        except BaseException:
            self.dim, self._featurizer = saved
            raise
        finally:
            self._txn = None

    def _begin(self):
        """The open :meth:`transaction`'s session, or a new unit of work."""
        return nullcontext(self._txn) if self._txn is not None else self._sessions.begin()

    def add(
        self,
        X: Any,
        *,
        payloads: Sequence[Any] | None = None,
        external_ids: Sequence[str] | None = None,
        labels: Sequence[str | None] | None = None,
        split: str = "pool",
        annotator: str = "import",
        progress: Any = None,
        origin: str | None = None,
        first_row: int = 0,
    ) -> np.ndarray:
        """Add examples (and optional labels, recorded with ``source='import'``) in one transaction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite feature vectors; the first call fixes the project's dimension.
        payloads, external_ids, labels : sequences of length n_samples, optional
            What the TUI shows, unique ids (default ``#<n>``), and class names or None.
        split : {"pool", "eval"}
        progress : callable(n_done), optional
            Called after each chunk is written.
        origin, first_row : str and int, optional
            Where the rows come from (a file path) and the number of the first row, for errors.

        Returns
        -------
        ids : ndarray of shape (n_samples,)
        """
        origin = origin or f"project {self.name!r}"
        try:
            X = np.asarray(X)
            if X.dtype != np.float32:
                X = np.asarray(X, dtype=np.float64)  # checked at full precision, then stored as float32
        except (TypeError, ValueError) as exc:
            raise IngestError(origin, f"features must be a 2-D array of numbers ({exc})", field="features") from None
        if X.ndim != 2:
            raise DimensionError(f"project {self.name!r}: features must be 2-D, got shape {X.shape}")
        n = len(X)
        if split not in SPLITS:
            raise ActiveloopError(f"split must be one of {SPLITS}, got {split!r}")
        bad = ~np.isfinite(X)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise IngestError(origin, f"{X[row, col]} is not a finite number", row=int(row) + first_row, field=str(col))
        if X.dtype != np.float32:
            big = np.abs(X) > np.finfo(np.float32).max
            if big.any():
                row, col = np.argwhere(big)[0]
                raise IngestError(origin, f"{X[row, col]} is too large for a 32-bit float", row=int(row) + first_row,
                                  field=str(col))
            X = X.astype(np.float32)
        for what, seq in (("payloads", payloads), ("external_ids", external_ids), ("labels", labels)):
            if seq is not None and len(seq) != n:
                raise ActiveloopError(f"project {self.name!r}: {n} feature rows but {len(seq)} {what}")
        class_pos = {c: i for i, c in enumerate(self.classes)}
        annotator = _text(annotator, "annotator", NAME_LEN)
        if labels is not None:
            for row, lab in enumerate(labels):
                if lab is not None and lab not in class_pos:
                    raise IngestError(
                        origin, f"{lab!r} is not one of the classes {self.classes}", row=row + first_row, field="label"
                    )
        with self._begin() as s:
            conn = s.connection()
            project = s.get(Project, self.project_id, with_for_update=True)
            if project.dim is None:
                project.dim = X.shape[1]
            elif X.shape[1] != project.dim:
                raise IngestError(
                    origin, f"{X.shape[1]} features per example, but project {self.name!r} has {project.dim}",
                    row=first_row, field="features",
                )
            if external_ids is None:
                start = conn.scalar(sa.select(sa.func.count()).select_from(EX).where(EX.c.project_id == self.project_id))
                ext = [f"#{start + i}" for i in range(n)]
            else:
                ext = [str(e) for e in external_ids]
            for row, e in enumerate(ext):
                if "\x00" in e or len(e) > EXTERNAL_ID_LEN:
                    raise IngestError(
                        origin, f"id {e[:40]!r} has a NUL character or more than {EXTERNAL_ID_LEN} characters",
                        row=row + first_row, field="external_id",
                    )
            self._check_unique_ids(conn, ext, origin, first_row)
            before = conn.scalar(sa.select(sa.func.coalesce(sa.func.max(EX.c.id), 0)))
            now = utcnow()
            columns = ["project_id", "external_id", "payload", "features", "split", "created_at"]
            to_json = _json_checker(_bind(conn, EX.c.payload), origin, first_row)
            const = (self.project_id, split, _bind(conn, EX.c.created_at)(now))
            for lo in range(0, n, INSERT_CHUNK):
                hi = min(n, lo + INSERT_CHUNK)
                _bulk_insert(
                    conn,
                    EX,
                    columns,
                    [
                        (
                            const[0],
                            ext[i],
                            None if payloads is None or payloads[i] is None else to_json(payloads[i], i),
                            X[i].tobytes(),
                            const[1],
                            const[2],
                        )
                        for i in range(lo, hi)
                    ],
                )
                if progress is not None:
                    progress(hi)
            ids = self._inserted_ids(conn, before, ext)
            if labels is not None:
                rows = [
                    {
                        "example_id": int(ids[i]),
                        "class_id": self._class_ids[class_pos[lab]],
                        "annotator": annotator,
                        "source": "import",
                        "round": None,
                        "created_at": now,
                    }
                    for i, lab in enumerate(labels)
                    if lab is not None
                ]
                if rows:
                    conn.execute(sa.insert(LB), rows)
            self.dim = project.dim
        return ids

    def _inserted_ids(self, conn, before: int, ext: list[str]) -> np.ndarray:
        """Ids of the rows just inserted, in input order."""
        mine = sa.and_(EX.c.project_id == self.project_id, EX.c.id > before)
        n, lo, hi = conn.execute(sa.select(sa.func.count(), sa.func.min(EX.c.id), sa.func.max(EX.c.id)).where(mine)).one()
        if n == len(ext) and (n == 0 or (lo == before + 1 and hi == before + n)):
            return np.arange(before + 1, before + 1 + n, dtype=np.int64)  # contiguous: SQLite under its write lock
        by_ext = dict(conn.execute(sa.select(EX.c.external_id, EX.c.id).where(mine)).all())
        return np.fromiter((by_ext[e] for e in ext), dtype=np.int64, count=len(ext))

    def _check_unique_ids(self, conn, ext: list[str], origin: str, first_row: int) -> None:
        seen: dict[str, int] = {}
        for row, e in enumerate(ext):
            if e in seen:
                raise IngestError(
                    origin, f"{e!r} repeats row {seen[e] + first_row}", row=row + first_row, field="external_id"
                )
            seen[e] = row
        clash = next((e for e in self._existing_ids(conn, ext) if e in seen), None)
        if clash is not None:
            raise IngestError(origin, f"{clash!r} is already in the pool", row=seen[clash] + first_row, field="external_id")

    def _existing_ids(self, conn, ext: list[str]) -> Iterator[str]:
        """External ids of the project that may clash with ``ext``.

        A small batch is looked up through the unique index; a large one streams the project's
        ids once, which is cheaper than thousands of lookups.
        """
        mine = EX.c.project_id == self.project_id
        if len(ext) > 20 * LOOKUP_CHUNK:
            yield from conn.scalars(sa.select(EX.c.external_id).where(mine))
            return
        for lo in range(0, len(ext), LOOKUP_CHUNK):
            yield from conn.scalars(sa.select(EX.c.external_id).where(mine, EX.c.external_id.in_(ext[lo : lo + LOOKUP_CHUNK])))

    def iter_features(
        self, *, split: str = "pool", unlabeled: bool = True, chunk_size: int = 50_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Stream ``(ids, X)`` chunks of one split, ordered by id; payloads are never read."""
        stmt = sa.select(EX.c.id, EX.c.features).where(EX.c.project_id == self.project_id, EX.c.split == split)
        if unlabeled:
            stmt = stmt.where(~_has_label(EX.c.id))
        with self._engine.connect() as conn:
            for rows in _stream_rows(conn, stmt.order_by(EX.c.id), chunk_size):
                yield self._unpack(rows)

    def _unpack(self, rows) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        X = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), self._known_dim())
        return ids, X

    def _known_dim(self) -> int:
        """The feature dimension, re-read once it may have been fixed by another process's first add."""
        if self.dim is None:
            with self._engine.connect() as conn:
                self.dim = conn.scalar(sa.select(Project.dim).where(Project.id == self.project_id))
        return self.dim or 0

    def features(self, ids: Sequence[int]) -> np.ndarray:
        """Feature rows for ``ids``, in that order."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.empty((0, self._known_dim()), dtype=np.float32)
        got: dict[int, bytes] = {}
        with self._engine.connect() as conn:
            for lo in range(0, len(ids), LOOKUP_CHUNK):
                chunk = [int(i) for i in ids[lo : lo + LOOKUP_CHUNK]]
                # By primary key alone (SQLite would otherwise walk the (project, split) index).
                for i, project, blob in conn.execute(
                    sa.select(EX.c.id, EX.c.project_id, EX.c.features).where(EX.c.id.in_(chunk))
                ):
                    if project == self.project_id:
                        got[i] = blob
        missing = [int(i) for i in ids if int(i) not in got]
        if missing:
            raise ActiveloopError(f"project {self.name!r}: no examples with ids {missing[:5]}")
        return np.frombuffer(b"".join(got[int(i)] for i in ids), dtype=np.float32).reshape(len(ids), self._known_dim())

    def payloads(self, ids: Sequence[int]) -> list[Any]:
        """Payloads for ``ids``, in that order."""
        with self._engine.connect() as conn:
            got = dict(
                conn.execute(
                    sa.select(EX.c.id, EX.c.payload).where(
                        EX.c.project_id == self.project_id, EX.c.id.in_([int(i) for i in ids])
                    )
                ).all()
            )
        return [got.get(int(i)) for i in ids]

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
            label = conn.scalar(_current_labels(self.project_id, ids=[int(example_id)]).with_only_columns(ClassDef.name))
        return {"id": row.id, "external_id": row.external_id, "payload": row.payload, "split": row.split, "label": label}

    def count(self, split: str | None = None) -> int:
        stmt = sa.select(sa.func.count()).select_from(EX).where(EX.c.project_id == self.project_id)
        if split is not None:
            stmt = stmt.where(EX.c.split == split)
        with self._engine.connect() as conn:
            return conn.scalar(stmt)

    def unlabeled_ids(self, split: str = "pool") -> np.ndarray:
        stmt = (
            sa.select(EX.c.id)
            .where(EX.c.project_id == self.project_id, EX.c.split == split, ~_has_label(EX.c.id))
            .order_by(EX.c.id)
        )
        with self._engine.connect() as conn:
            return np.fromiter(conn.scalars(stmt), dtype=np.int64)

    # ---------------------------------------------------------------- labels
    def labeled(self, split: str = "pool") -> tuple[np.ndarray, np.ndarray]:
        """Current labels of one split: ``(ids, y)`` with ``y`` indices into :attr:`classes`."""
        stmt = _current_labels(self.project_id, split=split).order_by(LB.c.example_id)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        ids = np.array([r.example_id for r in rows], dtype=np.int64)
        y = np.array([r.position for r in rows], dtype=np.int64)
        return ids, y

    def labeled_xy(self, split: str = "pool") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Current labels of one split with their features: ``(ids, X, y)``."""
        ids, y = self.labeled(split)
        return ids, self.features(ids), y

    def label(self, example_id: int, cls: str, *, annotator: str = "default", source: str = "human") -> int:
        """Record a label (and close the annotator's lease on it); commits before returning."""
        if cls not in self.classes:
            raise UnknownClassError(f"project {self.name!r}: {cls!r} is not one of {self.classes}")
        if source not in SOURCES:
            raise ActiveloopError(f"label source must be one of {SOURCES}, got {source!r}")
        annotator = _text(annotator, "annotator", NAME_LEN)
        now = utcnow()
        with self._sessions.begin() as s:
            self._require_example(s, example_id)
            rnd = self._latest_round_number(s)
            label = Label(
                example_id=int(example_id),
                class_id=self._class_ids[self.classes.index(cls)],
                annotator=annotator,
                source=source,
                round=rnd,
                created_at=now,
            )
            s.add(label)
            _close_leases(s, [example_id], annotator, "labeled", now)
            s.flush()
            return label.id

    def undo(self, *, annotator: str) -> int | None:
        """Retract ``annotator``'s newest unretracted label; returns its example id (None if none)."""
        with self._sessions.begin() as s:
            row = s.execute(
                sa.select(LB.c.id, LB.c.example_id)
                .join(EX, EX.c.id == LB.c.example_id)
                .where(EX.c.project_id == self.project_id, LB.c.annotator == annotator, LB.c.retracted_at.is_(None))
                .order_by(LB.c.id.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            s.execute(sa.update(LB).where(LB.c.id == row.id).values(retracted_at=utcnow()))
            return row.example_id

    def current_label(self, example_id: int) -> str | None:
        with self._engine.connect() as conn:
            return conn.scalar(
                _current_labels(self.project_id, ids=[int(example_id)]).with_only_columns(ClassDef.name)
            )

    def class_counts(self, split: str = "pool") -> dict[str, int]:
        """Current labels per class in one split, zeros included."""
        _, y = self.labeled(split)
        counts = np.bincount(y, minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, counts)}

    def label_count(self, *, annotator: str | None = None) -> int:
        """Unretracted labels, optionally of one annotator."""
        stmt = (
            sa.select(sa.func.count())
            .select_from(LB.join(EX, EX.c.id == LB.c.example_id))
            .where(EX.c.project_id == self.project_id, LB.c.retracted_at.is_(None))
        )
        if annotator is not None:
            stmt = stmt.where(LB.c.annotator == annotator)
        with self._engine.connect() as conn:
            return conn.scalar(stmt)

    def export_labels(self) -> list[dict[str, Any]]:
        """Current labels with their example, annotator, source and time, ordered by example id."""
        stmt = (
            _current_labels(self.project_id)
            .with_only_columns(
                EX.c.id, EX.c.external_id, EX.c.split, ClassDef.name, LB.c.annotator, LB.c.source, LB.c.created_at
            )
            .order_by(EX.c.id)
        )
        with self._engine.connect() as conn:
            return [
                {
                    "example_id": r[0],
                    "external_id": r[1],
                    "split": r[2],
                    "label": r[3],
                    "annotator": r[4],
                    "source": r[5],
                    "labeled_at": r[6].isoformat(sep=" ", timespec="seconds"),
                }
                for r in conn.execute(stmt)
            ]

    def _latest_round_number(self, s: Session) -> int | None:
        return s.scalar(sa.select(sa.func.max(Round.number)).where(Round.project_id == self.project_id))

    def _require_example(self, s: Session, example_id: int) -> None:
        found = s.scalar(
            sa.select(EX.c.id).where(EX.c.id == int(example_id), EX.c.project_id == self.project_id)
        )
        if found is None:
            raise ActiveloopError(f"project {self.name!r}: no example with id {example_id}")

    # ---------------------------------------------------------------- leases
    def lease(
        self,
        ids: Sequence[int],
        *,
        annotator: str,
        strategy: str,
        scores: Sequence[float] | None = None,
        ttl: float = 1800.0,
    ) -> list[int]:
        """Hand ``ids`` to ``annotator`` until ``ttl`` seconds from now; returns those not already taken."""
        now = utcnow()
        ids = [int(i) for i in ids]
        annotator = _text(annotator, "annotator", NAME_LEN)
        strategy = _label_text(strategy) or ""
        with self._sessions.begin() as s:
            # Serialises leasing per project on PostgreSQL; SQLite's BEGIN IMMEDIATE already does.
            s.get(Project, self.project_id, with_for_update=True)
            taken = set()
            for lo in range(0, len(ids), LOOKUP_CHUNK):
                chunk = ids[lo : lo + LOOKUP_CHUNK]
                taken |= set(
                    s.scalars(
                        sa.select(LS.c.example_id).where(LS.c.example_id.in_(chunk), _active_lease(now))
                    )
                )
                taken |= set(s.scalars(sa.select(LB.c.example_id).where(LB.c.example_id.in_(chunk), LB.c.retracted_at.is_(None))))
            rnd = self._latest_round_number(s)
            rows = [
                {
                    "example_id": i,
                    "annotator": annotator,
                    "strategy": strategy,
                    "score": None if scores is None else float(scores[k]),
                    "round": rnd,
                    "created_at": now,
                    "expires_at": now + timedelta(seconds=ttl),
                }
                for k, i in enumerate(ids)
                if i not in taken
            ]
            if rows:
                s.execute(sa.insert(LS), rows)
        return [r["example_id"] for r in rows]

    def release(self, ids: Sequence[int], *, annotator: str, outcome: str = "released") -> None:
        """Give ``annotator``'s active leases on ``ids`` back to the pool."""
        with self._sessions.begin() as s:
            _close_leases(s, ids, annotator, outcome, utcnow())

    def skip(self, example_id: int, *, annotator: str) -> None:
        """Release the example and remember that ``annotator`` skipped it (it is not asked of them again)."""
        annotator = _text(annotator, "annotator", NAME_LEN)
        now = utcnow()
        with self._sessions.begin() as s:
            self._require_example(s, example_id)
            if not _close_leases(s, [example_id], annotator, "skipped", now):
                s.execute(
                    sa.insert(LS).values(
                        example_id=int(example_id), annotator=annotator, strategy="manual", created_at=now,
                        expires_at=now, released_at=now, outcome="skipped",
                    )
                )

    def active_leases(self, annotator: str | None = None) -> list[LeaseInfo]:
        """Unexpired, unreleased leases (of one annotator, or all), oldest first."""
        now = utcnow()
        stmt = (
            sa.select(LS.c.example_id, LS.c.annotator, LS.c.strategy, LS.c.score, LS.c.expires_at)
            .join(EX, EX.c.id == LS.c.example_id)
            .where(EX.c.project_id == self.project_id, _active_lease(now), ~_has_label(LS.c.example_id))
            .order_by(LS.c.id)
        )
        if annotator is not None:
            stmt = stmt.where(LS.c.annotator == annotator)
        with self._engine.connect() as conn:
            return [LeaseInfo(*r) for r in conn.execute(stmt)]

    def excluded_ids(self, annotator: str | None = None, split: str = "pool") -> np.ndarray:
        """Ids not to hand out now: labeled, leased by anyone, or skipped by ``annotator``."""
        now = utcnow()
        # Driven from the (small) label and lease tables, each row checked by primary key;
        # an IN over the split's ids would walk every example of the project.
        def in_split(col):
            return sa.exists().where(EX.c.id == col, EX.c.project_id == self.project_id, EX.c.split == split)

        labeled = sa.select(LB.c.example_id).where(LB.c.retracted_at.is_(None), in_split(LB.c.example_id))
        leased = sa.select(LS.c.example_id).where(_active_lease(now), in_split(LS.c.example_id))
        parts = [labeled, leased]
        if annotator is not None:
            parts.append(
                sa.select(LS.c.example_id).where(
                    LS.c.annotator == annotator, LS.c.outcome == "skipped", in_split(LS.c.example_id)
                )
            )
        with self._engine.connect() as conn:
            return np.unique(np.fromiter(conn.scalars(sa.union(*parts)), dtype=np.int64))

    # ---------------------------------------------------------------- rounds
    def record_round(
        self,
        *,
        n_labels: int,
        strategy: str | None,
        checkpoint: bytes | None,
        metrics: dict[str, Any],
        config: dict[str, Any],
        started_at: datetime,
    ) -> RoundInfo:
        """Write a finished round, its checkpoint and metrics in one transaction."""
        with self._sessions.begin() as s:
            s.get(Project, self.project_id, with_for_update=True)
            number = (self._latest_round_number(s) or 0) + 1
            row = Round(
                project_id=self.project_id,
                number=number,
                started_at=started_at,
                finished_at=utcnow(),
                n_labels=n_labels,
                strategy=_label_text(strategy),
                checkpoint=checkpoint,
                checkpoint_sha256=None if checkpoint is None else hashlib.sha256(checkpoint).hexdigest(),
                metrics=metrics,
                config=config,
            )
            s.add(row)
            s.flush()
            return _round_info(row)

    def rounds(self) -> list[RoundInfo]:
        with Session(self._engine) as s:
            rows = s.scalars(
                sa.select(Round).where(Round.project_id == self.project_id).order_by(Round.number)
                .options(sa.orm.defer(Round.checkpoint))
            ).all()
            return [_round_info(r) for r in rows]

    def latest_round(self) -> RoundInfo | None:
        with Session(self._engine) as s:
            row = s.scalars(
                sa.select(Round).where(Round.project_id == self.project_id).order_by(Round.number.desc()).limit(1)
                .options(sa.orm.defer(Round.checkpoint))
            ).first()
            return None if row is None else _round_info(row)

    def load_checkpoint(self, number: int | None = None) -> bytes | None:
        """The checkpoint of round ``number`` (default: the latest with one), checked against its sha256."""
        stmt = sa.select(Round.number, Round.checkpoint, Round.checkpoint_sha256).where(
            Round.project_id == self.project_id, Round.checkpoint.is_not(None)
        )
        stmt = stmt.where(Round.number == number) if number is not None else stmt.order_by(Round.number.desc())
        with self._engine.connect() as conn:
            row = conn.execute(stmt.limit(1)).first()
        if row is None:
            return None
        if hashlib.sha256(row.checkpoint).hexdigest() != row.checkpoint_sha256:
            raise CheckpointError(
                f"project {self.name!r}: checkpoint of round {row.number} fails its sha256 check (truncated or tampered)"
            )
        return row.checkpoint

    # ---------------------------------------------------------------- featurizer
    @property
    def featurizer(self) -> tuple[dict[str, Any] | None, bytes | None]:
        """The project's featurizer spec (JSON) and fitted state (an ``.npz`` blob), if any."""
        return self._featurizer

    def set_featurizer(self, spec: dict[str, Any], state: bytes | None) -> None:
        with self._begin() as s:
            project = s.get(Project, self.project_id, with_for_update=True)
            project.featurizer = spec
            project.featurizer_state = state
        self._featurizer = (spec, state)


def _text(value: Any, what: str, limit: int) -> str:
    """A name as stored: refused (ActiveloopError) when the column cannot hold it on every back end."""
    value = str(value)
    if "\x00" in value:
        raise ActiveloopError(f"{what} {value!r} contains a NUL character")
    if len(value) > limit:
        raise ActiveloopError(f"{what} {value[:40]!r}... is {len(value)} characters long (at most {limit})")
    return value


def _label_text(value: Any, limit: int = 200) -> str | None:
    """A descriptive text (a strategy's repr) cut to its column's width, NULs dropped."""
    return None if value is None else str(value).replace("\x00", "")[:limit]


def _json_checker(to_json, origin: str, first_row: int):
    """``to_json`` that names the row whose payload cannot be stored as JSON."""

    def convert(value, row: int):
        try:
            return to_json(value)
        except (TypeError, ValueError) as exc:
            raise IngestError(origin, f"payload is not JSON-serialisable ({exc})", row=row + first_row,
                              field="payload") from None

    return convert


def _bind(conn, column):
    """The driver-level converter SQLAlchemy would apply to ``column``'s values (identity if none)."""
    return column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect) or (lambda value: value)


def _bulk_insert(conn, table: sa.Table, columns: list[str], rows: list[tuple]) -> None:
    """One driver ``executemany`` of already-converted rows: the import's only hot loop.

    SQLAlchemy's per-row parameter processing costs ~3x the insert itself at a million rows,
    so the values are converted once above (with the columns' own bind processors) and the
    statement goes straight to the DBAPI cursor inside the same transaction.
    """
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}[conn.dialect.paramstyle]
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    conn.exec_driver_sql(sql, rows)


def _stream_rows(conn, stmt: sa.Select, chunk_size: int) -> Iterator[list[tuple]]:
    """Chunks of plain row tuples straight from the DBAPI cursor.

    Building SQLAlchemy ``Row`` objects costs about half again the read itself at a million
    feature rows, so the hot scoring path compiles with SQLAlchemy and fetches with the driver.
    """
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(chunk_size):
            yield rows
    finally:
        cursor.close()


def _close_leases(s: Session, ids: Sequence[int], annotator: str, outcome: str, now: datetime) -> int:
    """End ``annotator``'s open leases on ``ids`` with ``outcome``; returns how many were open."""
    return s.execute(
        sa.update(LS)
        .where(LS.c.example_id.in_([int(i) for i in ids]), LS.c.annotator == annotator, LS.c.released_at.is_(None))
        .values(released_at=now, outcome=outcome)
    ).rowcount


def _has_label(example_id_col) -> sa.Exists:
    return sa.exists().where(LB.c.example_id == example_id_col, LB.c.retracted_at.is_(None))


def _active_lease(now: datetime):
    return sa.and_(LS.c.released_at.is_(None), LS.c.expires_at > now)


def _current_labels(project_id: int, *, split: str | None = None, ids: list[int] | None = None) -> sa.Select:
    """Newest unretracted label per example, joined to its class and example."""
    newest = (
        sa.select(sa.func.max(LB.c.id))
        .where(LB.c.retracted_at.is_(None))
        .group_by(LB.c.example_id)
    )
    if ids is not None:
        newest = newest.where(LB.c.example_id.in_(ids))
    stmt = (
        sa.select(LB.c.example_id, ClassDef.position)
        .join(ClassDef, ClassDef.id == LB.c.class_id)
        .join(EX, EX.c.id == LB.c.example_id)
        .where(LB.c.id.in_(newest), EX.c.project_id == project_id)
    )
    if split is not None:
        stmt = stmt.where(EX.c.split == split)
    return stmt


def _round_info(row: Round) -> RoundInfo:
    return RoundInfo(
        number=row.number,
        n_labels=row.n_labels,
        strategy=row.strategy,
        metrics=row.metrics or {},
        config=row.config or {},
        started_at=row.started_at,
        finished_at=row.finished_at,
        has_checkpoint=row.checkpoint_sha256 is not None,
    )
