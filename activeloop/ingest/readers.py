"""Readers for CSV, JSONL, ``.npy`` and ``.npz`` files: records in chunks, with the file's own row numbers.

Row numbers are what a person sees in the file: for CSV the header is line 1 and the first
data row is row 2 (a record spanning several lines is numbered by its last line); for JSONL
the row is the line number (first line = 1); for ``.npy`` / ``.npz`` the row is the 0-based
index into the array, as NumPy counts.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from activeloop.errors import IngestError

TABULAR = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
ARRAYS = {".npy": "npy", ".npz": "npz"}

Record = tuple[int, dict[str, Any]]


def file_kind(path: Path) -> str:
    """``csv``, ``jsonl``, ``npy`` or ``npz`` from the suffix; IngestError for a missing or empty file."""
    if not path.exists():
        raise IngestError(path, "no such file")
    if path.is_dir():
        raise IngestError(path, "is a directory, not a file")
    kind = TABULAR.get(path.suffix.lower()) or ARRAYS.get(path.suffix.lower())
    if kind is None:
        raise IngestError(path, f"unknown file type {path.suffix!r} (use .csv, .jsonl, .npy or .npz)")
    if path.stat().st_size == 0:
        raise IngestError(path, "the file is empty")
    return kind


def csv_columns(path: Path) -> list[str]:
    """The header row of a CSV file."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise IngestError(path, f"not valid CSV ({exc})", row=1) from None
        except UnicodeDecodeError:
            raise not_utf8(path) from None
    if not header or all(not h.strip() for h in header):
        raise IngestError(path, "no header row", row=1)
    seen: set[str] = set()
    for h in header:
        if h in seen:
            raise IngestError(path, f"column {h!r} appears twice in the header", row=1, field=h)
        seen.add(h)
    return header


def iter_csv(path: Path, chunk_size: int) -> Iterator[list[Record]]:
    """Chunks of ``(row, {column: str})``; a row whose field count differs from the header's is an error."""
    header = csv_columns(path)
    width = len(header)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        next(reader)
        chunk: list[Record] = []
        try:
            for fields in reader:
                if not fields:
                    continue  # blank line
                if len(fields) != width:
                    raise IngestError(
                        path, f"{len(fields)} fields, but the header has {width}", row=reader.line_num
                    )
                chunk.append((reader.line_num, dict(zip(header, fields))))
                if len(chunk) >= chunk_size:
                    yield chunk
                    chunk = []
        except csv.Error as exc:
            raise IngestError(path, f"not valid CSV ({exc})", row=reader.line_num) from None
        except UnicodeDecodeError:
            raise not_utf8(path) from None
    if chunk:
        yield chunk


def not_utf8(path: Path) -> IngestError:
    """The error for a text file that is not UTF-8, naming the line of its first bad byte.

    The text reader decodes ahead in blocks, so its position says nothing about the row; the
    file is scanned again here, on the error path only.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                bad = exc.object[exc.start : exc.start + 1]
                line += exc.object.count(b"\n", 0, exc.start)
                return IngestError(path, f"byte {bad!r} is not UTF-8 text ({exc.reason}); save the file as UTF-8",
                                   row=line)
            line += block.count(b"\n")
    return IngestError(path, "not UTF-8 text (it ends inside a character); save the file as UTF-8", row=line)


def jsonl_columns(path: Path) -> list[str]:
    """The keys of the first record of a JSONL file."""
    for chunk in iter_jsonl(path, 1):
        return list(chunk[0][1])
    raise IngestError(path, "the file has no records")


def iter_jsonl(path: Path, chunk_size: int) -> Iterator[list[Record]]:
    """Chunks of ``(line, object)``; blank lines are skipped, anything but a JSON object is an error."""
    chunk: list[Record] = []
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, RecursionError) as exc:  # also a number of over 4300 digits, or nesting past the stack
                reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
                raise IngestError(path, f"not valid JSON ({reason})", row=line_no) from None
            if not isinstance(obj, dict):
                raise IngestError(path, f"expected a JSON object, got {type(obj).__name__}", row=line_no)
            chunk.append((line_no, obj))
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def iter_records(path: Path, kind: str, chunk_size: int) -> Iterator[list[Record]]:
    return iter_csv(path, chunk_size) if kind == "csv" else iter_jsonl(path, chunk_size)


def columns(path: Path, kind: str) -> list[str]:
    return csv_columns(path) if kind == "csv" else jsonl_columns(path)


def load_arrays(path: Path, kind: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(X, y, ids)`` from ``.npy`` (X only, memory-mapped) or ``.npz`` (X, optional y and ids); X may be >2-D."""
    try:
        if kind == "npy":
            X = np.load(path, mmap_mode="r", allow_pickle=False)
            y = ids = None
        else:
            with np.load(path, allow_pickle=False) as z:
                if "X" not in z.files:
                    raise IngestError(path, f"no array 'X' (arrays: {', '.join(z.files) or 'none'})", field="X")
                X, y, ids = z["X"], (z["y"] if "y" in z.files else None), (z["ids"] if "ids" in z.files else None)
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file fails in NumPy's, zipfile's, zlib's or tokenize's own way
        raise IngestError(path, f"not a readable NumPy {kind} file ({exc})") from None
    if X.dtype.kind not in "biuf":
        raise IngestError(path, f"features must be numbers, got dtype {X.dtype}", field="X")
    if X.ndim < 2:
        raise IngestError(path, f"features must be an array of rows, got shape {X.shape}", field="X")
    if len(X) == 0:
        raise IngestError(path, "the array has no rows", field="X")
    for name, arr in (("y", y), ("ids", ids)):
        if arr is not None and (arr.ndim != 1 or len(arr) != len(X)):
            raise IngestError(path, f"{name} has shape {arr.shape}, X has {len(X)} rows", field=name)
    return X, y, ids


def first_nonfinite(X: np.ndarray, chunk: int = 100_000) -> tuple[int, int] | None:
    """``(row, column)`` of the first NaN/inf in ``X`` (scanned in chunks), or None."""
    for lo in range(0, len(X), chunk):
        part = np.asarray(X[lo : lo + chunk])
        if part.dtype.kind == "f":
            bad = ~np.isfinite(part)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                return lo + int(r), int(c)
    return None


def array_label(value: Any) -> str | None:
    """A label from a NumPy ``y`` entry: empty strings and NaN are 'unlabeled'."""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            value = int(value)
    text = str(value)
    return text or None
