"""activeloop: active-learning annotation for class-imbalanced data.

The public API, re-exported (loaded on first use, so ``activeloop --help`` stays fast)::

    import activeloop as al
    pool = al.Pool.create("sqlite:///tickets.db", name="tickets", classes=["ok", "fraud"])
    loop = al.Loop(pool)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from activeloop import errors as _errors  # light: no third-party imports

#: Every exception class defined in activeloop.errors, plus scikit-learn's NotFittedError (re-exported there).
_ERRORS = sorted(
    [name for name, obj in vars(_errors).items()
     if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == "activeloop.errors"]
    + ["NotFittedError"]
)
_EXPORTS = {
    **{name: "activeloop.errors" for name in _ERRORS},
    "Pool": "activeloop.store",
    "RoundInfo": "activeloop.store",
    "FocalLossClassifier": "activeloop.model",
    "BudgetSizedClassifier": "activeloop.model",
    "classification_metrics": "activeloop.model",
    "QueryEngine": "activeloop.query",
    "Query": "activeloop.query",
    "resolve_strategy": ("activeloop.query", "resolve"),
    "Loop": "activeloop.loop",
    "LabelingSession": "activeloop.session",
    "import_file": "activeloop.ingest",
}
_SUBMODULES = {"bench", "query", "model", "store", "ingest", "loop", "session", "errors", "stopping", "report"}

__all__ = sorted([*_EXPORTS, *_SUBMODULES])

if TYPE_CHECKING:  # pragma: no cover
    from activeloop import bench, errors, ingest, loop, model, query, report, session, stopping, store  # noqa: F401
    from activeloop.errors import (  # noqa: F401
        ActiveloopError, CheckpointError, ClusterError, DatabaseError, DimensionError, DiskFullError, IngestError, LeaseError,
        LockTimeoutError, MissingExtraError, NotFittedError, PoolExhaustedError, ReadOnlyError, RowError,
        SchemaOutdatedError, SchemaTooNewError, StrategyError, UnknownClassError, UnknownProjectError,
        UnreachableError,
    )
    from activeloop.ingest import import_file  # noqa: F401
    from activeloop.loop import Loop  # noqa: F401
    from activeloop.model import BudgetSizedClassifier, FocalLossClassifier, classification_metrics  # noqa: F401
    from activeloop.query import Query, QueryEngine  # noqa: F401
    from activeloop.query import resolve as resolve_strategy  # noqa: F401
    from activeloop.session import LabelingSession  # noqa: F401
    from activeloop.store import Pool, RoundInfo  # noqa: F401


def __getattr__(name: str) -> Any:
    if name == "evaluate":  # renamed: Loop.evaluate scores the eval split, this scores any labels and probabilities
        import warnings

        warnings.warn("activeloop.evaluate is now activeloop.classification_metrics", FutureWarning, stacklevel=2)
        name = "classification_metrics"
    if name in _SUBMODULES:
        return importlib.import_module(f"activeloop.{name}")
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'activeloop' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
