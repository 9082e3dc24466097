"""Faults on a SQLite file, in a real subprocess: a full disk, a read-only file, a lock held too long.

Each prints one line on stderr naming the file and what to do, exits non-zero, shows no SQL
parameters, and leaves the database exactly as it was (it opens cleanly afterwards).
"""

from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from activeloop import Pool

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
CLI = "from activeloop.cli import app; app(prog_name='activeloop')"


@pytest.fixture
def small_db(tmp_path) -> Path:
    path = tmp_path / "p.db"
    with Pool.create(path, "p", ["a", "b"]) as pool:
        pool.add(np.arange(40, dtype=np.float32).reshape(20, 2), labels=["a", "b"] * 10)
    return path


@pytest.fixture
def big_file(tmp_path) -> Path:
    """4 MB of features: far more than a write may add under the tests' file-size limit."""
    path = tmp_path / "big.npz"
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.normal(size=(16_000, 2)).astype(np.float32) + 1e-3,
             ids=np.array([f"row-{i}-{'x' * 200}" for i in range(16_000)]))
    return path


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return list(conn.iterdump())


def _cli(*args, preexec=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *map(str, args)], capture_output=True, text=True,
                          preexec_fn=preexec, env={**os.environ, **(env or {})}, timeout=120)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[:2000]
    assert "Traceback" not in proc.stderr and "parameters" not in proc.stderr.lower()
    return lines[0]


def test_a_full_disk_during_an_import_is_one_line_and_the_database_is_unchanged(small_db, big_file):
    before = _dump(small_db)
    limit = os.path.getsize(small_db) + 256 * 1024  # any file this process writes stops growing there (EFBIG)

    def file_size_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    line = _one_line(_cli("import", small_db, big_file, "--id-column", "ids", preexec=file_size_limit))
    assert line.startswith(f"error: {small_db}: disk full") and "nothing was written" in line
    assert _dump(small_db) == before
    with Pool.open(small_db) as pool:
        assert pool.count() == 20


def _without_root_override():
    """Make file permissions bind in the child even for root (drop CAP_DAC_OVERRIDE before exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_read_only_database_file_is_one_line(small_db, big_file):
    before = _dump(small_db)
    os.chmod(small_db, 0o444)
    if os.geteuid() == 0:
        try:
            subprocess.run(["true"], preexec_fn=_without_root_override, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"root cannot drop CAP_DAC_OVERRIDE here, so no file is read-only to it: {exc}")
    line = _one_line(_cli("import", small_db, big_file, "--id-column", "ids", preexec=_without_root_override))
    assert line.startswith(f"error: {small_db}: the database is read-only") and "writable" in line
    os.chmod(small_db, 0o644)
    assert _dump(small_db) == before


@contextmanager
def _write_lock_held(path: Path):
    """Another writer that does not let go."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_lock_held_too_long_is_one_line(small_db, big_file):
    before = _dump(small_db)
    with _write_lock_held(small_db):
        line = _one_line(_cli("import", small_db, big_file, "--id-column", "ids",
                              env={"ACTIVELOOP_LOCK_SECONDS": "0.5"}))
    assert line.startswith(f"error: {small_db}: another process held the database lock for over 0.5 s")
    assert _dump(small_db) == before


def test_a_lock_held_too_long_while_a_query_leases_is_one_line(small_db):
    """The query path runs its statements on the driver cursor; its faults still read as the engine's."""
    with Pool.open(small_db) as pool:
        pool.add(np.arange(20, dtype=np.float32).reshape(10, 2))  # unlabeled: something to lease
    before = _dump(small_db)
    with _write_lock_held(small_db):
        line = _one_line(_cli("query", small_db, "-n", "3", env={"ACTIVELOOP_LOCK_SECONDS": "0.5"}))
    assert line.startswith(f"error: {small_db}: another process held the database lock for over 0.5 s")
    assert _dump(small_db) == before


def test_a_driver_error_on_the_driver_path_is_sqlalchemys_without_its_parameters(small_db):
    import sqlalchemy as sa

    from activeloop.store import db
    from activeloop.store.rows import run

    engine = db.connect(small_db)
    try:
        with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError) as err:
            run(conn, "INSERT INTO leases (example_id, annotator, strategy, created_at, expires_at) "
                      "VALUES (?, ?, ?, ?, ?)", (999_999, "secret-annotator", "s", "2026-01-01", "2026-01-02"))
    finally:
        engine.dispose()
    assert "FOREIGN KEY constraint failed" in str(err.value) and "secret-annotator" not in str(err.value)
    with Pool.open(small_db) as pool:
        assert pool.active_leases() == []
