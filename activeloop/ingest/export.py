"""Export a project's current labels as CSV or JSONL, written atomically (temp file + rename)."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from activeloop.errors import ActiveloopError
from activeloop.store.db import sqlite_path

FORMATS = ("csv", "jsonl")
FIELDS = ["example_id", "external_id", "split", "label", "annotator", "source", "labeled_at"]


def check_format(format: str) -> None:
    """Refuse an unknown export format before any work."""
    if format not in FORMATS:
        raise ActiveloopError(f"format must be csv or jsonl, got {format!r}")


def labels_text(pool: Any, format: str = "csv") -> tuple[str, int]:
    """The pool's current labels rendered as ``format``, and how many there are."""
    check_format(format)
    rows = pool.export_labels()
    buf = io.StringIO()
    if format == "csv":
        writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        for r in rows:
            buf.write(json.dumps(r, ensure_ascii=False) + "\n")
    return buf.getvalue(), len(rows)


def export_labels(pool: Any, path: str | Path, format: str = "csv") -> int:
    """Write the pool's current labels to ``path``; returns how many. Readers never see half a file."""
    path = Path(path)
    store = sqlite_path(pool.url)
    if store is not None and path.resolve() in {Path(f"{store}{end}").resolve() for end in ("", "-wal", "-shm", "-journal")}:
        raise ActiveloopError(f"{path}: is the project's database; export to another file")
    text, n = labels_text(pool, format)
    write_atomic(path, text)
    return n


def write_atomic(path: Path, text: str) -> None:
    """Write to a temp file beside ``path``, fsync it and rename it over ``path``."""
    path = path.resolve()
    if not path.parent.is_dir():
        raise ActiveloopError(f"{path.parent}: no such directory")
    if path.is_dir():
        raise ActiveloopError(f"{path}: is a directory; name a file in it")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # the folder is not writable: name it, not the temp file that could not be made
        raise ActiveloopError(f"{path.parent}: cannot write there ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk: the file named is the one asked for; the old one is untouched
            raise ActiveloopError(f"{path}: not written ({exc.strerror or exc}); any earlier file there is unchanged") from None
        raise
