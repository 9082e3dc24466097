"""Which (strategy, model) should be the default? Every candidate on the whole imbalanced suite.

Runs each candidate pair and the modAL peers (LogisticRegression(class_weight="balanced") in a real
``modAL.ActiveLearner``) on every task of ``activeloop.bench.tasks.SUITES["imbalanced"]``, same
splits, seed sets and budgets, and prints per candidate: mean and worst paired delta against
``peer:modal-margin`` in AULC macro-F1 and AULC minority recall, and on how many tasks it beats
the peer on both. This is how the default was chosen (on the suite's average and worst case, not on
one data set).

    python benchmarks/bench_suite_candidates.py --seeds 5 --jobs 16 --out /tmp/cands
    python benchmarks/bench_suite_candidates.py --seeds 10 --first-seed 10 --out /tmp/cands2
    python benchmarks/bench_suite_candidates.py --report /tmp/cands/runs.csv /tmp/cands2/runs.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from activeloop.errors import ActiveloopError



def _model(key: str):
    """sized: the default (L-BFGS linear weighted CE or focal MLP, chosen per round by CV once the rarest class
    has the linear model's weights per class); sized-total: the same with the floor on all labels against all
    weights ("sized" until the fifth pass); sized0: the previous default (Adam linear, CV every round); mlp:
    the focal MLP; linear: focal, no hidden layer; lin0: no hidden layer, weighted cross-entropy with balanced
    class weights (gamma 0), Adam; lin: the same solved by L-BFGS (the default's linear candidate alone);
    logreg: the peers' estimator (``logreg/margin`` in activeloop's engine reproduces ``peer:modal-margin``
    exactly); a ``-noclip`` suffix (lin, sized, sized-total): the same with unclipped standardised inputs;
    blend, blend-ce, cvblend: the eighth pass's screened models (``screened_candidates.py``)."""
    from activeloop.model import BudgetSizedClassifier, FocalLossClassifier
    from activeloop.model.capacity import default_candidates

    from activeloop.bench.models import logreg_balanced

    lin0 = lambda: FocalLossClassifier(hidden=(), gamma=0.0, alpha="balanced")  # noqa: E731
    lin = lambda **kw: default_candidates()[0].set_params(**kw)  # noqa: E731
    if key.endswith("-noclip"):
        pair = lambda: tuple(c.set_params(input_clip=None) for c in default_candidates())  # noqa: E731
        return {"lin": lambda: lin(input_clip=None), "sized": lambda: BudgetSizedClassifier(candidates=pair()),
                "sized-total": lambda: BudgetSizedClassifier(candidates=pair(), floor="parameters")}[
            key.removesuffix("-noclip")]()
    if key == "sized-total":
        return BudgetSizedClassifier(floor="parameters")
    if key in ("blend", "blend-ce", "cvblend"):
        from screened_candidates import Blend, CVBlend

        return CVBlend() if key == "cvblend" else Blend(mlp_loss="ce" if key == "blend-ce" else "focal")
    return {"sized": BudgetSizedClassifier, "mlp": FocalLossClassifier, "logreg": logreg_balanced,
            "sized0": lambda: BudgetSizedClassifier(candidates=(lin0(), FocalLossClassifier()), floor=None),
            "linear": lambda: FocalLossClassifier(hidden=()), "lin0": lin0, "lin": lin}[key]()


CANDIDATES = [
    ("sized", "margin"), ("sized", "direct"), ("sized", "bench_suite_candidates:DIRECT_MIDDLE"), ("sized", "galaxy"),
    ("sized", "base"), ("sized", "default"), ("mlp", "margin"), ("mlp", "default"), ("linear", "margin"),
]
PEERS = ["peer:modal-margin", "peer:modal-entropy"]


def _tasks(data_dir: Path | None) -> list[tuple[str, int]]:
    """The suite's ``(spec, budget)`` tasks, or every ``*.csv`` in ``data_dir`` (a ``label`` column, minority
    ``pos`` or named in a ``NAME.minority`` file beside it; budget 100), e.g. ``outside_tasks.py``'s output."""
    from activeloop.bench.tasks import suite_tasks

    if data_dir is None:
        return suite_tasks("imbalanced")
    out = []
    for csv_path in sorted(data_dir.glob("*.csv")):
        side = csv_path.with_suffix(".minority")
        minority = side.read_text().strip() if side.exists() else "pos"
        out.append((f"{csv_path}:label=label,minority={minority}", 100))
    return out


def _one(task_index: int, seed: int, model_key: str | None, strategy: str, scale: float, data_dir=None,
         init: str = "random", ceiling: float | None = None):
    import torch

    torch.set_num_threads(1)
    from activeloop.bench.datasets import load_dataset, split_dataset
    from activeloop.bench.runner import run_curve

    spec, task_budget = _tasks(data_dir)[task_index]
    ds = load_dataset(spec)
    p, t = split_dataset(ds, seed)
    budget = max(20, int(round(task_budget * scale / 10)) * 10)
    model = None if model_key is None else _model(model_key)
    t0 = time.perf_counter()
    c = run_curve(ds.X[p], ds.y[p], ds.X[t], ds.y[t], strategy=strategy, model=model, init=10, batch=10,
                  budget=budget, seed=seed, start=init if model_key is not None else "random", classes=ds.classes,
                  minority=ds.minority, dataset=spec, ceiling=False if ceiling is None else ceiling)
    return {"task": spec, "seed": seed, "model": model_key or "logreg", "strategy": strategy,
            "aulc_macro_f1": c.aulc("macro_f1"), "aulc_minority_recall": c.aulc("minority_recall"),
            "f1_at_budget": c.at_budget("macro_f1"), "first_minority": c.first_minority or budget + 1,
            "labels_to_95": "" if ceiling is None else (c.labels_to(0.95) or budget + 1),
            "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0, help="Run seeds first-seed .. first-seed + seeds - 1.")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--scale", type=float, default=1.0, help="Multiply every task's budget (smoke runs).")
    ap.add_argument("--tasks", default="", help="Comma-separated task indices (default: all).")
    ap.add_argument("--data-dir", type=Path, help="Run on every .csv here instead of the suite (budget 100), e.g. "
                    "the folder outside_tasks.py writes.")
    ap.add_argument("--candidates", default="", help="model/strategy pairs, e.g. sized/direct,mlp/margin.")
    ap.add_argument("--half", default="", help="Pairs run on the first half of the seeds only.")
    ap.add_argument("--no-peers", action="store_true", help="Skip the modAL peers (merge their rows from another run).")
    ap.add_argument("--peers", default=",".join(PEERS), help="Comma-separated peers to run (default: %(default)s).")
    ap.add_argument("--init", choices=("random", "cold-start"), default="random",
                    help="The candidates' first batch (the peers always start from the random seed set).")
    ap.add_argument("--ceiling", type=float, help="A macro-F1 ceiling for every run: records the labels to 95 %% of it "
                    "(budget + 1 when never reached), e.g. the default model's mean full-pool score.")
    ap.add_argument("--out", type=Path, default=Path("bench-candidates"))
    ap.add_argument("--detail", action="store_true", help="Print one line per task under each candidate.")
    ap.add_argument("--report", nargs="+", type=Path, metavar="RUNS_CSV",
                    help="Run nothing: print the report of saved runs.csv files (several seed ranges merged).")
    a = ap.parse_args()
    if a.report:
        rows = []
        for path in a.report:
            with path.open(newline="") as fh:
                rows += list(csv.DictReader(fh))
        report(rows, detail=a.detail)
        return
    tasks = range(len(_tasks(a.data_dir))) if not a.tasks else [int(i) for i in a.tasks.split(",")]
    cands = CANDIDATES if not a.candidates else [tuple(c.split("/")) for c in a.candidates.split(",")]
    peers = [] if a.no_peers else [p for p in a.peers.split(",") if p]
    seeds = range(a.first_seed, a.first_seed + a.seeds)
    jobs = [(ti, s, None, p) for ti in tasks for s in seeds for p in peers]
    half = [tuple(c.split("/")) for c in a.half.split(",") if c]
    jobs += [(ti, s, m, st) for ti in tasks for s in seeds for m, st in cands]
    jobs += [(ti, s, m, st) for ti in tasks for s in seeds[: (a.seeds + 1) // 2] for m, st in half]
    jobs.sort(key=lambda j: (j[1], j[2] is not None))  # seed by seed, so a cut-short run still covers every task
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "runs.csv"
    cols = ["task", "seed", "model", "strategy", "aulc_macro_f1", "aulc_minority_recall", "f1_at_budget",
            "first_minority", "labels_to_95", "seconds"]
    t0 = time.perf_counter()
    rows = []
    with path.open("w", newline="") as fh, ProcessPoolExecutor(a.jobs) as ex:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        futs = [ex.submit(_one, *j, a.scale, a.data_dir, a.init, a.ceiling) for j in jobs]
        for f in as_completed(futs):
            try:
                r = f.result()
            except ActiveloopError as exc:  # e.g. a budget over a task's pool: stop now, not after every other job
                ex.shutdown(wait=False, cancel_futures=True)
                raise SystemExit(f"bench_suite_candidates: {exc}") from None
            rows.append(r)
            w.writerow(r)
            fh.flush()
    print(f"{len(rows)} runs in {time.perf_counter() - t0:.0f} s with {a.jobs} processes")
    report(rows, detail=a.detail)


def report(rows: list[dict], detail: bool = False) -> None:
    """Per candidate: paired deltas against peer:modal-margin over tasks (mean over seeds first).

    With ``detail``, also one line per task: both means, the paired delta and its standard error."""
    by = {}
    for r in rows:
        by.setdefault((r["model"], r["strategy"]), {}).setdefault(r["task"], {})[int(r["seed"])] = r
    peer = by.get(("logreg", "peer:modal-margin"), {})
    print(f"{'model/strategy':<28} {'dF1 mean':>9} {'dF1 worst':>9} {'dRec mean':>9} {'dRec worst':>10} "
          f"{'wins both':>9} {'F1':>6} {'rec':>6}")
    for key, per_task in by.items():
        dF, dR, both, F, R, lines = [], [], 0, [], [], []
        for task, seeds in per_task.items():
            common = sorted(set(seeds) & set(peer.get(task, {})))
            if not common:
                continue
            f = np.mean([float(seeds[s]["aulc_macro_f1"]) for s in common])
            rc = np.mean([float(seeds[s]["aulc_minority_recall"]) for s in common])
            pf = np.mean([float(peer[task][s]["aulc_macro_f1"]) for s in common])
            pr = np.mean([float(peer[task][s]["aulc_minority_recall"]) for s in common])
            dF.append(f - pf)
            dR.append(rc - pr)
            if detail:
                se = [np.std([float(seeds[s][m]) - float(peer[task][s][m]) for s in common], ddof=1) / np.sqrt(len(common))
                      if len(common) > 1 else np.nan for m in ("aulc_macro_f1", "aulc_minority_recall")]
                first = [np.mean([float(d[s]["first_minority"]) for s in common]) for d in (seeds, peer[task])]
                to95 = [np.mean([float(d[s]["labels_to_95"]) for s in common]) if all(d[s].get("labels_to_95") for s in common)
                        else np.nan for d in (seeds, peer[task])]
                lines.append(f"  {task[:58]:<58} n={len(common):<3} F1 {f:.3f} vs {pf:.3f} ({f - pf:+.4f} ± {se[0]:.4f})"
                             f"  recall {rc:.3f} vs {pr:.3f} ({rc - pr:+.4f} ± {se[1]:.4f})"
                             f"  first minority {first[0]:.1f} vs {first[1]:.1f}"
                             + (f"  labels to 95 % {to95[0]:.0f} vs {to95[1]:.0f}" if not np.isnan(to95).any() else ""))
            both += (f > pf) and (rc > pr)
            F.append(f)
            R.append(rc)
        if dF:
            print(f"{key[0] + '/' + key[1]:<28} {np.mean(dF):+9.4f} {np.min(dF):+9.4f} {np.mean(dR):+9.4f} "
                  f"{np.min(dR):+10.4f} {both:>5}/{len(dF):<3} {np.mean(F):6.3f} {np.mean(R):6.3f}")
            if lines:
                print("\n".join(lines))


if __name__ == "__main__":
    main()


def _direct_middle():
    from activeloop.query.imbalance import Direct

    return Direct(place="middle")


#: ``--candidates sized/bench_suite_candidates:DIRECT_MIDDLE`` (resolvable by name in worker processes)
DIRECT_MIDDLE = _direct_middle()
