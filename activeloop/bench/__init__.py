"""Simulated-oracle benchmarks: learning curves of query strategies through the real product path.

``run_curve`` runs one strategy on one split and seed; ``run_suite`` runs strategies x seeds x data
sets (in parallel with ``jobs``); ``summarize`` / ``write_summary`` / ``plot_curves`` turn curves into
the summary table and the PNG. ``activeloop bench`` (:func:`activeloop.bench.cli.bench`) does all of it.
"""

from activeloop.bench.datasets import Dataset, load_dataset, split_dataset
from activeloop.bench.oracle import SimulatedOracle
from activeloop.bench.curve import Curve, read_curves_csv, write_curves_csv
from activeloop.bench.models import make_model
from activeloop.bench.runner import run_curve
from activeloop.bench.suite import run_suite
from activeloop.bench.summary import summarize, write_summary

__all__ = [
    "Curve",
    "Dataset",
    "SimulatedOracle",
    "load_dataset",
    "make_model",
    "read_curves_csv",
    "run_curve",
    "run_suite",
    "split_dataset",
    "summarize",
    "write_curves_csv",
    "write_summary",
]
