"""A round's stored scores: one checksummed blob of NumPy arrays, so any process queries without rescoring.

Per scored example (the pool split's unlabeled examples when the round was recorded): its id, the
strategy's base score, the predicted class and its probability; plus ``order``, the positions
grouped by predicted class and, within a class, best base score first (ties: lower id first), with
``starts[c]:starts[c + 1]`` the slice of class ``c``. A strategy whose final score re-weights the
base score by a positive per-class factor (the minority lean) then finds its top ``k`` by merging
the heads of the per-class orders instead of a pass over every score.

Blob layout: ``MAGIC``, an 8-byte header length, a JSON header (format version, key, round, class
count, array names, dtypes, shapes and the checksum of the array bytes), then the raw arrays. Ids are
stored as 4-byte offsets and classes as 1 byte where they fit: 17 bytes per example, 17 MB at a million.
The checksum catches a truncated or damaged blob: a CRC-32 since format 2 (4 ms at a million rows, a
third of a SHA-256); blobs of format 1 carry a SHA-256 and are still read.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from activeloop.errors import ActiveloopError
from activeloop.store import tables

__all__ = ["Scores", "ScoresError", "class_order", "load", "pack", "save", "unpack"]

MAGIC = b"ALSCORES"
VERSION = 2


class _Sha256:
    """Format 1's checksum of the array bytes."""

    name = "sha256"

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def update(self, data) -> None:
        self._h.update(data)

    def value(self) -> str:
        return self._h.hexdigest()


class _Crc32:
    """Format 2's checksum of the array bytes."""

    name = "crc32"

    def __init__(self) -> None:
        self._v = 0

    def update(self, data) -> None:
        self._v = zlib.crc32(data, self._v)

    def value(self) -> int:
        return self._v


_CHECKSUMS = {1: _Sha256, 2: _Crc32}  # format version -> checksum of its array bytes
_FIELDS = ("ids", "base", "predicted", "confidence", "order", "starts")


class ScoresError(ActiveloopError):
    """A stored-scores blob that is truncated, tampered with or of an unknown format."""


@dataclass(frozen=True, eq=False)
class Scores:
    """Scores of one round for one scoring key, with per-class orders.

    Attributes
    ----------
    key : str
        What produced the base scores (see :meth:`activeloop.query.Strategy.score_key`).
    round : int or None
        The round whose model scored them (None: not tied to a recorded round).
    ids : ndarray of int64, shape (n,)
        Example ids, ascending.
    base : ndarray of float32, shape (n,)
    predicted : ndarray of int16, shape (n,)
        Predicted class index (-1 for none).
    confidence : ndarray of float32, shape (n,)
    order : ndarray of int32, shape (n,)
        Positions into ``ids``, grouped by predicted class, best base score first within a class.
    starts : ndarray of int64, shape (n_classes + 1,)
        Class ``c``'s positions are ``order[starts[c]:starts[c + 1]]``.
    """

    key: str
    round: int | None
    ids: np.ndarray
    base: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    order: np.ndarray
    starts: np.ndarray

    @classmethod
    def build(cls, key: str, round: int | None, ids, base, predicted, confidence, n_classes: int) -> Scores:
        """Scores from per-example arrays (any order of ids); sorts by id and computes the per-class orders."""
        ids = np.asarray(ids, dtype=np.int64)
        sort = np.argsort(ids, kind="stable")
        if len(ids) and not np.all(np.diff(ids) > 0):
            ids = ids[sort]
        else:
            sort = slice(None)
        base = np.asarray(base, dtype=np.float32)[sort]
        predicted = np.asarray(predicted, dtype=np.int16)[sort]
        confidence = np.asarray(confidence, dtype=np.float32)[sort]
        order, starts = class_order(base, predicted, n_classes)
        return cls(key, round, ids, base, predicted, confidence, order, starts)

    @property
    def n_classes(self) -> int:
        return len(self.starts) - 1

    def __len__(self) -> int:
        return len(self.ids)

    def tied_to(self, round: int | None) -> Scores:
        """The same scores, recorded as round ``round``'s."""
        return Scores(self.key, round, self.ids, self.base, self.predicted, self.confidence, self.order, self.starts)


def class_order(base: np.ndarray, predicted: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions grouped by predicted class (0..n_classes-1; -1 goes nowhere), best ``base`` first, ties by position.

    Returns ``(order, starts)``: class ``c``'s positions are ``order[starts[c]:starts[c + 1]]``.
    """
    base = np.asarray(base)
    predicted = np.asarray(predicted)
    valid = np.flatnonzero((predicted >= 0) & (predicted < n_classes))
    # lexsort: last key is primary -> class, then descending base, then ascending position
    key = np.lexsort((valid, -base[valid].astype(np.float64), predicted[valid]))
    order = valid[key].astype(np.int32)
    counts = np.bincount(predicted[valid].astype(np.int64), minlength=n_classes)[:n_classes]
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return order, starts


def pack(scores: Scores, *, version: int = VERSION, project: int | None = None) -> bytes:
    """One blob: magic, header length, JSON header with the arrays' checksum, then the raw arrays.

    ``version``: the format to write (1: a SHA-256 checksum, as older activeloop wrote; 2: a CRC-32).
    ``project``: the id of the project whose pool was scored, kept in the header so that a blob
    moved to another project's round is refused (see :func:`load`).
    """
    arrays = [np.ascontiguousarray(getattr(scores, f)) for f in _FIELDS]
    offset = int(scores.ids[0]) if len(scores.ids) else 0
    if len(scores.ids) and int(scores.ids[-1]) - offset < 2**32:  # ids as uint32 offsets: 4 bytes, not 8
        arrays[0] = (scores.ids - offset).astype("<u4")
    else:
        offset = 0
    if scores.n_classes <= 127:
        arrays[2] = scores.predicted.astype(np.int8)
    digest = _CHECKSUMS[version]()
    for a in arrays:
        digest.update(memoryview(a).cast("B"))
    header = json.dumps({
        "version": version,
        "key": scores.key,
        "round": scores.round,
        "ids_offset": offset,
        **({} if project is None else {"project": int(project)}),
        "arrays": [[f, a.dtype.str, list(a.shape)] for f, a in zip(_FIELDS, arrays)],
        digest.name: digest.value(),
    }).encode()
    return b"".join([MAGIC, struct.pack("<Q", len(header)), header, *(a.tobytes() for a in arrays)])


def unpack(blob: bytes | memoryview, *, where: str = "stored scores", project: int | None = None) -> Scores:
    """The :class:`Scores` of a :func:`pack` blob (arrays are read-only views of it); checks its checksum.

    Raises :class:`ScoresError` naming ``where`` when the blob is truncated, altered or unknown, or
    (given ``project``) packed for another project.
    """
    view = memoryview(blob).cast("B")
    head = len(MAGIC) + 8
    if len(view) < head or bytes(view[: len(MAGIC)]) != MAGIC:
        raise ScoresError(f"{where}: not an activeloop scores blob")
    (size,) = struct.unpack("<Q", view[len(MAGIC) : head])
    try:
        header = json.loads(bytes(view[head : head + size]))
        if header["version"] not in _CHECKSUMS:
            raise ScoresError(f"{where}: scores format {header['version']} is not one of "
                              f"{', '.join(map(str, _CHECKSUMS))}; retrain to rewrite them")
        specs = header["arrays"]
    except (ValueError, KeyError, TypeError):
        raise ScoresError(f"{where}: unreadable header (truncated or altered)") from None
    pos = head + size
    digest = _CHECKSUMS[header["version"]]()
    out = {}
    for name, dtype, shape in specs:
        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        if pos + nbytes > len(view):
            raise ScoresError(f"{where}: truncated ({len(view)} bytes)")
        chunk = view[pos : pos + nbytes]
        digest.update(chunk)
        out[name] = np.frombuffer(chunk, dtype=dt).reshape(shape)
        pos += nbytes
    if pos != len(view) or digest.value() != header.get(digest.name) or set(out) != set(_FIELDS):
        raise ScoresError(f"{where}: fails its {digest.name} check (truncated or altered); retrain to rewrite them")
    if project is not None and header.get("project", project) != project:
        raise ScoresError(f"{where}: scored project id {header['project']}, not this one ({project}); retrain to rewrite them")
    out["ids"] = np.add(out["ids"], int(header.get("ids_offset", 0)), dtype=np.int64)  # one pass, not two
    out["predicted"] = out["predicted"].astype(np.int16)
    return Scores(header["key"], header["round"], *(out[f] for f in _FIELDS))


# ------------------------------------------------------------------ in the database (table round_scores)
def save(session, round_id: int, scores: Scores, *, project_id: int | None = None) -> None:
    """Insert ``scores`` for the round with primary key ``round_id`` (of project ``project_id``) inside the caller's
    transaction."""
    session.execute(sa.insert(tables.round_scores).values(
        round_id=round_id, key=scores.key[:200], n=len(scores), data=pack(scores, project=project_id)))


def load(conn, project_id: int, number: int, key: str, *, where: str = "") -> Scores | None:
    """Round ``number``'s stored scores for ``key`` (None when that round has none).

    Checked on unpacking (checksum, project), and against the row: a blob whose header names another
    round or key, or whose length is not the row's ``n``, was not written for it (:class:`ScoresError`).
    """
    rs, rd = tables.round_scores, tables.rounds
    stmt = (sa.select(rs.c.n, rs.c.data).join(rd, rd.c.id == rs.c.round_id)
            .where(rd.c.project_id == project_id, rd.c.number == int(number), rs.c.key == key[:200]))
    row = conn.execute(stmt).first()
    if row is None:
        return None
    where = f"{where}round {number}'s stored scores"
    scores = unpack(row.data, where=where, project=project_id)
    if (scores.round, scores.key, len(scores)) != (int(number), key, row.n):
        raise ScoresError(f"{where}: written for round {scores.round}, key {scores.key!r} with {len(scores)} rows, "
                          f"not round {number}, key {key!r} with {row.n}; retrain to rewrite them")
    return scores
