"""Simulated-oracle benchmarks: learning curves of query strategies through the real product path.

``run_curve`` runs one strategy on one split and seed; ``run_suite`` runs strategies x seeds x data
sets (in parallel with ``jobs``); ``summarize`` / ``write_summary`` / ``plot_curves`` turn curves into
the summary table and the PNG. ``activeloop bench`` (:func:`activeloop.bench.cli.bench`) does all of it.
"""

from __future__ import annotations

from activeloop.lazy import lazy_exports

_EXPORTS = {
    "Curve": "activeloop.bench.curve",
    "read_curves_csv": "activeloop.bench.curve",
    "write_curves_csv": "activeloop.bench.curve",
    "Dataset": "activeloop.bench.datasets",
    "load_dataset": "activeloop.bench.datasets",
    "split_dataset": "activeloop.bench.datasets",
    "SimulatedOracle": "activeloop.bench.oracle",
    "make_model": "activeloop.bench.models",
    "run_curve": "activeloop.bench.runner",
    "run_suite": "activeloop.bench.suite",
    "summarize": "activeloop.bench.summary",
    "write_summary": "activeloop.bench.summary",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
