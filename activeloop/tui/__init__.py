"""The Textual labeling app (``activeloop label``): :func:`run` opens a pool and labels it."""

from __future__ import annotations

import sys
from pathlib import Path

from activeloop.errors import ActiveloopError

__all__ = ["LabelApp", "run"]


def run(
    db: str | Path,
    *,
    project: str | None = None,
    annotator: str = "default",
    batch: int = 10,
    strategy: str = "default",
) -> int:
    """Open ``db`` and run the labeling app until the user quits.

    Parameters
    ----------
    db : str or Path
        A SQLAlchemy URL or a path to an activeloop SQLite file.
    project : str, optional
        Needed when the database holds several projects.
    annotator : str
        Who labels (leases, skips and undo are per annotator).
    batch : int
        Labels between automatic retrains.
    strategy : str
        Query strategy name.

    Returns
    -------
    int
        The exit status: 0 after a normal quit, 1 (with a one-line message on stderr) when the
        database or project cannot be opened.
    """
    from activeloop.store import Pool
    from activeloop.tui.app import LabelApp

    try:
        pool = Pool.open(db, project=project)
    except ActiveloopError as exc:
        print(f"activeloop label: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # e.g. a path that is a directory: still one line, never a traceback
        print(f"activeloop label: cannot open {db}: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    try:
        try:
            app = LabelApp(pool, annotator=annotator, batch=batch, strategy=strategy)
        except ActiveloopError as exc:
            print(f"activeloop label: {exc}", file=sys.stderr)
            return 1
        result = app.run()
        return int(result or 0) if app.return_code in (None, 0) else int(app.return_code)
    finally:
        pool.close()


def __getattr__(name: str):
    if name == "LabelApp":
        from activeloop.tui.app import LabelApp

        return LabelApp
    raise AttributeError(name)
