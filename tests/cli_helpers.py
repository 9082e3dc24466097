"""The installed ``activeloop`` command, run as a user runs it, and the one-line error every failure must be."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from activeloop import Pool

ACTIVELOOP = str(Path(sys.executable).parent / "activeloop")


def run(*args, cwd: Path | None = None, env: dict | None = None, preexec=None) -> subprocess.CompletedProcess:
    """``activeloop ARGS`` in a new process (``env`` added to this one's)."""
    return subprocess.run([ACTIVELOOP, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env=None if env is None else {**os.environ, **env}, preexec_fn=preexec)


def one_line_error(proc: subprocess.CompletedProcess, status: int = 1) -> str:
    """Assert exit ``status``, nothing on stdout and one ``error:`` line on stderr; return the line."""
    assert proc.returncode == status, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    assert proc.stdout == ""
    return lines[0]


def two_row_project(path: Path) -> Path:
    """A project ``p`` (classes ok, fraud) in a new SQLite file, with one labeled row of each."""
    with Pool.create(path, "p", ["ok", "fraud"]) as pool:
        pool.add(np.eye(2), external_ids=["a", "b"], labels=["ok", "fraud"])
    return path
