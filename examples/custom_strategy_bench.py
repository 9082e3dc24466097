"""Benchmark your own query strategy against activeloop's built-ins and a modAL peer, from Python.

A strategy is a plain function from predicted probabilities (and, optionally, a Context with the
labeled class counts) to one score per candidate; higher = ask first. Here: margin, boosted for
candidates predicted as a class that has few labels so far. Needs the modal extra for its modAL peer
(``pip install "activeloop[modal]"``); without it, it says so in one line and exits 1.

    python examples/custom_strategy_bench.py [--seeds 3] [--budget 100] [--out bench-custom]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from activeloop.bench import run_suite, write_curves_csv, write_summary
from activeloop.bench.peers import check_peer
from activeloop.bench.plot import plot_curves
from activeloop.errors import MissingExtraError
from activeloop.query import margin


def rare_first_margin(proba: np.ndarray, ctx) -> np.ndarray:
    """Margin times ``1 / sqrt(1 + labels of the predicted class)``: uncertain AND rare first."""
    counts = np.asarray(ctx.class_counts, dtype=np.float64)
    return margin(proba) / np.sqrt(1.0 + counts[proba.argmax(axis=1)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--dataset", default="digits-imbalanced")
    ap.add_argument("--out", type=Path, default=Path("bench-custom"))
    args = ap.parse_args()
    try:  # before any work: the modAL peer needs activeloop[modal]
        check_peer("peer:modal-margin")
    except MissingExtraError as exc:
        sys.exit(f"error: {exc}")

    strategies = [rare_first_margin, "default", "margin", "peer:modal-margin", "peer:random"]  # peer:modal-*: activeloop[modal]
    # jobs=1: a function defined in __main__ runs in this process (workers could not import it).
    curves = run_suite([args.dataset], strategies, args.seeds, model="logreg", budget=args.budget, jobs=1,
                       on_done=lambda c: print(f"  {c.strategy:<24} seed {c.seed}  AULC macro-F1 {c.aulc():.3f}"))
    args.out.mkdir(parents=True, exist_ok=True)
    write_curves_csv(curves, args.out / "curves.csv")
    rows = write_summary(curves, args.out, command="python examples/custom_strategy_bench.py")
    plot_curves(curves, args.out / "curves.png")
    print(f"\n{'strategy':<24} {'AULC macro-F1':>14} {'AULC min. recall':>17} {'first minority':>15} {'vs random':>10}")
    for r in rows:
        print(f"{r['strategy']:<24} {r['aulc_macro_f1']:>8.3f} ± {r['aulc_macro_f1_std']:.3f} "
              f"{r['aulc_minority_recall']:>17.3f} {r['first_minority']:>15.1f} {r['vs_random']:>10.3f}")
    print(f"\nwrote {args.out}/summary.md, summary.csv, curves.csv, curves.png")


if __name__ == "__main__":
    main()
