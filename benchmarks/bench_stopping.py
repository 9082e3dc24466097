"""Where would each stopping criterion have stopped, and what would it have cost? (issue 15)

Runs activeloop's default loop (``strategy="default"``, the Loop's model) with a simulated oracle on
a suite of imbalanced tasks, keeps every round's stopping record, then replays candidate criteria
over the recorded rounds. Per task and criterion: labels at the stop (a seed that never stops counts
as the budget), labels saved against the budget, and macro-F1 given up (F1 at the budget minus F1 at
the stop, on the held-out test set). The peer, measured on the same rounds: κ-stability alone with
Bloodgood & Vijay-Shanker's published setting (window 3, κ 0.99), the rule small-text ships.

A criterion qualifies when it stops before the budget on at least half the tasks and, on every task
where it stops, gives up at most 0.01 macro-F1 (mean over seeds). Among the qualifying ones the
script names the one that saves the most labels.

    python benchmarks/bench_stopping.py --seeds 3 --budget 300 --jobs 2 --out benchmarks/stopping
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from activeloop.bench.datasets import load_dataset, split_dataset
from activeloop.bench.runner import run_curve
from activeloop.stopping import (
    AllOf,
    KappaStability,
    MinorityPlateau,
    OverallUncertainty,
    PredictionChange,
    default_criterion,
)

#: Six tasks from data shipped with scikit-learn or generated: which class is rare, its share,
#: the number of classes, separation and dimension all vary.
TASKS = {
    "digits-8-3pc": "digits-imbalanced:minority=8,share=0.03",
    "digits-3-2pc": "digits-imbalanced:minority=3,share=0.02",
    "digits-5-5pc": "digits-imbalanced:minority=5,share=0.05",
    "synth-2c-3pc": "synthetic:n=2000,classes=2,weights=0.97,class_sep=1.0,features=20,seed=1",
    "synth-3c-3pc-overlap": "synthetic:n=2000,classes=3,weights=0.77/0.2/0.03,class_sep=0.7,features=10,seed=2",
    "synth-4c-2pc": "synthetic:n=2400,classes=4,weights=0.5/0.3/0.18/0.02,class_sep=1.2,features=16,seed=3",
}

PEER = "κ 0.99 / 3 (published)"


def candidates() -> dict[str, object]:
    """Named criteria to replay: each family over a small grid, and κ with a minority plateau."""
    out: dict[str, object] = {PEER: KappaStability(window=3, threshold=0.99)}
    for w in (3, 5, 10):
        for t in (0.99, 0.995, 0.997, 0.998, 0.999):
            out[f"κ {t:g} / {w}"] = KappaStability(window=w, threshold=t)
    for w in (3, 8):
        for t in (0.001, 0.01):
            out[f"change ≤ {t:g} / {w}"] = PredictionChange(window=w, threshold=t)
    for t in (0.05, 0.1):
        out[f"uncertainty ≤ {t:g}"] = OverallUncertainty(threshold=t)
    for p in (50, 100):
        out[f"plateau {p}"] = MinorityPlateau(patience=p)
    for p in (30, 70, 100):
        out[f"κ 0.997 / 5 + plateau {p}"] = AllOf(KappaStability(window=5, threshold=0.997), MinorityPlateau(patience=p))
    out["default: " + repr(default_criterion())] = default_criterion()
    return out


def one_curve(name: str, seed: int, budget: int, batch: int):
    """activeloop's default loop on one task and seed (the suite's split and seed set)."""
    import torch

    torch.set_num_threads(1)
    ds = replace(load_dataset(TASKS[name]), name=name)
    p, t = split_dataset(ds, seed, 0.3)
    return run_curve(ds.X[p], ds.y[p], ds.X[t], ds.y[t], strategy="default", batch=batch, budget=budget, seed=seed,
                     classes=ds.classes, minority=ds.minority, dataset=name, ceiling=False)


def per_task(curves, criterion, budget: int) -> dict[str, dict[str, float]]:
    """Per task: mean labels at the stop, seeds stopped before the budget, F1 at stop and at budget."""
    out: dict[str, dict[str, float]] = {}
    for task in dict.fromkeys(c.dataset for c in curves):
        cs = [c for c in curves if c.dataset == task]
        stops = [c.stop_labels(criterion) for c in cs]
        at = [budget if s is None else s for s in stops]
        f1_stop = np.mean([c.at_stop("macro_f1", criterion) for c in cs])
        f1_budget = np.mean([c.at_budget("macro_f1") for c in cs])
        out[task] = {
            "stop_labels": float(np.mean(at)),
            "stopped": sum(s is not None and s < budget for s in stops),
            "seeds": len(cs),
            "f1_stop": float(f1_stop),
            "f1_budget": float(f1_budget),
            "saved": float(budget - np.mean(at)),
            "given_up": float(f1_budget - f1_stop),
        }
    return out


def judge(table: dict[str, dict[str, float]], tolerance: float = 0.01) -> tuple[bool, int, float]:
    """(qualifies, tasks where it stops, mean labels saved): stops on half the tasks, each within ``tolerance``."""
    stopping = [t for t in table.values() if t["stopped"] * 2 >= t["seeds"] and t["saved"] > 0]
    ok = len(stopping) * 2 >= len(table) and all(t["given_up"] <= tolerance for t in table.values() if t["saved"] > 0)
    return ok, len(stopping), float(np.mean([t["saved"] for t in table.values()]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="Seeds first-seed .. first-seed + seeds - 1.")
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/stopping"))
    ap.add_argument("--reuse", action="store_true", help="Replay the curves saved by an earlier run (curves.pkl).")
    ap.add_argument("--merge", type=Path, action="append", default=[],
                    help="Also replay the curves.pkl of another run's --out folder (e.g. other seeds).")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / "curves.pkl"
    t0 = time.perf_counter()
    if args.reuse and cache.exists():
        curves = pickle.loads(cache.read_bytes())
    else:
        from concurrent.futures import ProcessPoolExecutor

        runs = [(name, seed) for name in TASKS for seed in range(args.first_seed, args.first_seed + args.seeds)]
        with ProcessPoolExecutor(max_workers=args.jobs) as ex:
            futures = [ex.submit(one_curve, name, seed, args.budget, args.batch) for name, seed in runs]
            curves = []
            for f in futures:
                curves.append(f.result())
                print(f"  {curves[-1].dataset} seed {curves[-1].seed}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        cache.write_bytes(pickle.dumps(curves))
    for other in args.merge:
        curves = curves + pickle.loads((other / "curves.pkl").read_bytes())
    seeds = sorted({c.seed for c in curves})
    print(f"{len(curves)} curves ({len(TASKS)} tasks x seeds {seeds}, budget {args.budget}, batch {args.batch}) "
          f"in {time.perf_counter() - t0:.0f} s")
    tasks = list(dict.fromkeys(c.dataset for c in curves))
    print("\nmacro-F1 at the budget: " + ", ".join(
        f"{t} {np.mean([c.at_budget() for c in curves if c.dataset == t]):.3f}" for t in tasks))
    results = {}
    print(f"\n{'criterion':<44} {'ok':>3} {'stops on':>8} {'saved':>6} {'worst F1 given up':>18}")
    for name, crit in candidates().items():
        table = per_task(curves, crit, args.budget)
        ok, n_stop, saved = judge(table)
        worst = max(t["given_up"] for t in table.values())
        results[name] = (ok, n_stop, saved, table)
        print(f"{name:<44} {'yes' if ok else 'no':>3} {n_stop:>5}/{len(table)} {saved:>6.0f} {worst:>18.3f}")
    best = max((n for n, r in results.items() if r[0]), key=lambda n: results[n][2], default=None)
    print(f"\nmost labels saved among qualifying criteria: {best}")
    for name in [PEER, *(n for n in results if n.startswith("default:"))]:
        print(f"\n{name}: per task (labels at stop, seeds stopped, F1 at stop / at budget, labels saved, F1 given up)")
        for task, t in results[name][3].items():
            print(f"  | {task} | {t['stop_labels']:.0f} | {t['stopped']}/{t['seeds']} | {t['f1_stop']:.3f} / "
                  f"{t['f1_budget']:.3f} | {t['saved']:.0f} | {t['given_up']:+.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
