"""``activeloop bench``: simulated-oracle learning curves for strategies x seeds on a data set.

Registered by :mod:`activeloop.cli` as the ``bench`` command (``from activeloop.bench.cli import bench``).
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import click

from activeloop.errors import ActiveloopError

__all__ = ["bench", "run_bench"]

DEFAULT_STRATEGIES = "default,margin,peer:modal-uncertainty,peer:modal-margin,peer:modal-entropy,peer:random"
#: With ``--suite``: the default, its same-model reference and the two modAL peers of the suite table.
SUITE_STRATEGIES = "default,margin,peer:modal-margin,peer:modal-entropy"
#: What a run writes into --out; an earlier run's are replaced only with --force.
OUTPUTS = ("curves.csv", "summary.csv", "summary.md", "curves.png")


def _default_strategies(default: str) -> str:
    """A default list; without the modal extra its modAL peers are left out, with a note saying so."""
    from activeloop.errors import MissingExtraError
    from activeloop.extras import require_modal

    try:
        require_modal("modAL.models", "the bench's modAL peers")
    except MissingExtraError as exc:
        click.echo(f"note: leaving out the default modAL peers: {exc}", err=True)
        return ",".join(s for s in default.split(",") if not s.startswith("peer:modal-"))
    return default


def _check_sizes(budgets: int | dict[str, int], batch: int, init_size: int) -> None:
    """--batch and --init-size >= 1 and every budget >= --init-size, before any work."""
    smallest = min(budgets.values()) if isinstance(budgets, dict) else budgets
    if batch < 1 or init_size < 1 or smallest < init_size:
        raise ActiveloopError(f"need --batch >= 1 and 1 <= --init-size <= --budget, got --batch {batch}, "
                              f"--init-size {init_size}, --budget {smallest}")


def _check_pools(names: list[str], datasets: list, budgets: int | dict[str, int]) -> None:
    """Every data set's pool (its part outside the test split) holds its budget, before any work."""
    from activeloop.bench.datasets import split_dataset

    for name, ds in zip(names, datasets):
        budget = budgets[name] if isinstance(budgets, dict) else budgets
        pool = len(split_dataset(ds, 0)[0])  # the same size for every seed
        if budget > pool:
            raise ActiveloopError(f"data set {name!r}: --budget {budget} exceeds its pool of {pool} examples "
                                  f"(of {len(ds.y)} rows, the rest is the test set)")


def run_bench(
    datasets: list[str],
    strategies: list[str],
    *,
    seeds: int,
    budget: int | dict[str, int],
    batch: int,
    init_size: int,
    inits: list[str],
    model: str,
    jobs: int,
    out_dir: Path,
    command: str | None = None,
    progress: bool = True,
    suite_table: bool = False,
    ceiling: bool = True,
    scheduler: str | None = None,
):
    """Run the suite, write curves.csv, summary.csv, summary.md and curves.png into ``out_dir``; return the rows.

    ``budget`` may map each data set to its own budget; ``suite_table`` adds the per-task and suite
    tables (the default against the modAL peers) to summary.md. With ``scheduler`` (a dask
    scheduler's address) each run is a task on that cluster instead of a local process.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from activeloop.bench.curve import write_curves_csv
    from activeloop.bench.plot import plot_curves
    from activeloop.bench.suite import run_suite
    from activeloop.bench.summary import suite_markdown, write_summary
    from activeloop.cluster import session

    out_dir.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    t0 = time.perf_counter()
    with session(scheduler) as client, Progress(
        TextColumn("[bold]bench[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
        TimeElapsedColumn(), console=console, disable=not progress, transient=False,
    ) as bar:
        task = bar.add_task("ceilings", total=None)

        def on_start(total: int) -> None:
            bar.update(task, total=total, description="ceilings")

        def on_done(curve) -> None:
            bar.update(task, advance=1, description=f"{curve.strategy} seed {curve.seed}")

        curves = run_suite(datasets, strategies, seeds, model=None if model == "default" else model, inits=inits,
                           init=init_size, batch=batch, budget=budget, jobs=jobs, ceiling=ceiling,
                           on_start=on_start, on_done=on_done, client=client)
    write_curves_csv(curves, out_dir / "curves.csv")
    where = f"on the dask cluster at {scheduler}." if scheduler else f"with --jobs {jobs}."
    notes = f"Wall time: {time.perf_counter() - t0:.0f} s {where}"
    if suite_table:
        notes = suite_markdown(curves) + "\n\n" + notes
    rows = write_summary(curves, out_dir, command=command, notes=notes)
    title = f"{len(datasets)} tasks" if len(datasets) > 2 else ", ".join(datasets)
    plot_curves(curves, out_dir / "curves.png", title=f"{title}: {seeds} seeds, batch {batch}")
    return rows


@click.command("bench")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path),
              help="Output folder (curves.csv, summary.md/.csv, curves.png).")
@click.option("--dataset", "-d", multiple=True,
              help="Built-in data set (repeat for several): digits-imbalanced[:minority=8,share=0.03], "
                   "synthetic[:n=3000,classes=2,weights=0.97,class_sep=1.0].")
@click.option("--data", type=click.Path(path_type=Path),
              help="A labeled .csv (label/y/class/target or last column) or .npz (X, y) file.")
@click.option("--suite", help="A named suite of tasks, each with its own budget: imbalanced. Adds the suite table "
                              "(the default against peer:modal-margin and peer:modal-entropy); "
                              "skips the full-pool ceilings.")
@click.option("--strategies", "-s",
              help="Comma-separated: activeloop strategies (default, margin, ..., modal:NAME = a modAL measure in "
                   "activeloop's engine, package.module:function) and peers run outside activeloop: "
                   "peer:modal-uncertainty|margin|entropy (modAL ActiveLearner + logistic regression; needs "
                   "activeloop[modal]), peer:random. "
                   f"Default: {DEFAULT_STRATEGIES} ({SUITE_STRATEGIES} with --suite); without the modal extra, "
                   "less the modAL peers.")
@click.option("--seeds", default=5, help="Seeds 0..N-1 (each its own split, seed set and model seed).")
@click.option("--budget", default=300, help="Labels in total per run (with --suite each task has its own).")
@click.option("--batch", default=10, help="Labels per round.")
@click.option("--init-size", default=10, help="Size of the random seed set.")
@click.option("--init", default="random",
              help="random, cold-start, or both (random,cold-start): how activeloop runs get their first labels.")
@click.option("--model", default="default", help="default (the Loop's model), focal, or logreg.")
@click.option("--jobs", "-j", default=1, help="Parallel processes (one torch thread each).")
@click.option("--scheduler", help="A dask scheduler's address (tcp://HOST:8786): run each run as a task on that "
                                  "cluster (pip install \"activeloop[dask]\").")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--force", is_flag=True, help="Replace an earlier benchmark's results in --out.")
def bench(
    out: Path, dataset: tuple[str, ...], data: Path | None, suite: str | None, strategies: str | None, seeds: int,
    budget: int, batch: int, init_size: int, init: str, model: str, jobs: int, scheduler: str | None, quiet: bool,
    force: bool,
) -> None:
    """Benchmark query strategies with a simulated oracle; writes learning curves and a summary table."""
    if sum((bool(dataset), data is not None, suite is not None)) != 1:
        raise ActiveloopError("give exactly one of --dataset NAME, --data FILE or --suite NAME")
    from activeloop.bench.datasets import load_dataset
    from activeloop.bench.tasks import suite_tasks

    budgets: int | dict[str, int] = budget
    if suite is not None:
        budgets = dict(suite_tasks(suite))
        names = list(budgets)
    else:
        names = [s.strip() for s in (dataset or [str(data)]) if s.strip()]
    if strategies is None:
        strategies = _default_strategies(SUITE_STRATEGIES if suite is not None else DEFAULT_STRATEGIES)

    names = list(dict.fromkeys(names))  # a name given twice would count its runs twice as seeds
    datasets = [load_dataset(name) for name in names]  # fail before any work on a bad name or file
    strats = [s.strip() for s in strategies.split(",") if s.strip()]
    inits = list(dict.fromkeys(s.strip() for s in init.split(",") if s.strip()))
    if not strats:
        raise ActiveloopError("--strategies is empty")
    if seeds < 1 or jobs < 1:
        raise ActiveloopError(f"--seeds and --jobs must be >= 1, got {seeds} and {jobs}")
    _check_sizes(budgets, batch, init_size)
    from activeloop.bench.models import MODEL_NAMES
    from activeloop.bench.runner import INITS

    if model not in MODEL_NAMES:
        raise ActiveloopError(f"--model must be one of {', '.join(MODEL_NAMES)}, got {model!r}")
    if not inits or any(s not in INITS for s in inits):
        raise ActiveloopError(f"--init must be random, cold-start or both (random,cold-start), got {init!r}")
    if out.exists() and not out.is_dir():
        raise ActiveloopError(f"{out}: exists and is not a folder (--out names the folder for the results)")
    if not force and (earlier := [name for name in OUTPUTS if (out / name).exists()]):
        raise ActiveloopError(f"{out}: holds an earlier benchmark's results ({', '.join(earlier)}); choose another "
                              "--out, or pass --force to replace them")
    from activeloop.bench.peers import check_peer, peer_name
    from activeloop.query import resolve

    strats = list(dict.fromkeys(peer_name(s, warn=lambda msg: click.echo(f"note: {msg}", err=True)) or s
                                for s in strats))
    for s in strats:  # fail before any work on an unknown name or a missing extra
        if s.startswith("peer:"):
            check_peer(s)
        else:
            resolve(s)
    _check_pools(names, datasets, budgets)
    command = "activeloop bench " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 2 else None
    rows = run_bench(names, strats, seeds=seeds, budget=budgets, batch=batch, init_size=init_size, inits=inits,
                     model=model, jobs=jobs, out_dir=out, command=command, progress=not quiet,
                     suite_table=suite is not None, ceiling=suite is None, scheduler=scheduler)
    from activeloop.bench.summary import number

    for r in rows:
        click.echo(f"{r['dataset']:>20} {r['strategy']:<28} {r['init']:<10} AULC macro-F1 {r['aulc_macro_f1']:.3f} "
                   f"± {r['aulc_macro_f1_std']:.3f}  minority recall {r['aulc_minority_recall']:.3f}  "
                   f"labels to 95% {number(r['labels_to_95'], 0)}  first minority {number(r['first_minority'], 1)}")
    click.echo(f"wrote {out / 'summary.md'}, {out / 'summary.csv'}, {out / 'curves.csv'}, {out / 'curves.png'}")
