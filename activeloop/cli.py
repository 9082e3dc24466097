"""The ``activeloop`` command line: thin click commands over the library.

Results go to stdout, progress and errors to stderr. Every error a user can cause is an
:class:`~activeloop.errors.ActiveloopError`; :class:`_Commands` catches it in one place,
prints it as one line and exits with status 1. Heavy modules (torch, sklearn, textual) are
imported inside the commands that need them, so ``activeloop --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from activeloop.errors import ActiveloopError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


class _Commands(click.Group):
    """Runs a command; an ActiveloopError (or a file or database fault) becomes one line on stderr and exit status 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in the order of a project's life (init, import, ...), not alphabetical

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:  # bare `activeloop`: help on stdout, status 2
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit(2)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:  # `activeloop --bogus`
            _usage_error(exc, ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # unknown command or option, missing argument, bad value: one line, status 2
            _usage_error(exc, ctx)
        except ActiveloopError as exc:
            line = str(exc)
        except OSError as exc:  # a file this command writes: full disk, read-only, no such directory
            line = f"{exc.filename or 'write'}: {exc.strerror or exc}"
        except Exception as exc:  # a database fault no layer below named: the driver's first line, never parameters
            if type(exc).__module__.split(".")[0] != "sqlalchemy":  # click's Exit from --help among them
                raise
            from activeloop.store.faults import describe

            line = describe(exc)
        err.print(f"error: {line}", markup=False, soft_wrap=True)
        ctx.exit(1)


def _usage_error(exc: click.UsageError, ctx: click.Context) -> None:
    """Wrong usage as one line on stderr (not click's usage block), naming the command's --help; exit status 2."""
    path = (exc.ctx or ctx).command_path
    message = " ".join(exc.format_message().split()).rstrip(".")
    err.print(f"error: {path}: {message} (see {path} --help)", markup=False, soft_wrap=True)
    ctx.exit(exc.exit_code)


@click.group(cls=_Commands, name="activeloop", no_args_is_help=True, context_settings={"show_default": True})
def app() -> None:
    """Active-learning annotation for class-imbalanced data."""


# A str, not a Path: Path would fold the "//" of a SQLAlchemy URL such as postgresql://host/db.
DB = click.argument("db", help="The activeloop database (a .db file or a SQLAlchemy URL).")
ProjectOpt = click.option("--project", "-p", help="Project name (default: the only one).")
SchedulerOpt = click.option(
    "--scheduler", help="A dask scheduler's address (tcp://HOST:8786): score the pool on that cluster; the workers "
                        "open the database by its URL (pip install \"activeloop[dask]\").")
JsonOpt = click.option("--json", "as_json", is_flag=True, help="One JSON object per line (for jq and scripts).")


def _json(obj: dict[str, Any]) -> None:
    from activeloop.store.db import json_line

    click.echo(json_line(obj))


def _status_json(pool) -> None:
    """``status --json``: a ``project`` line (splits and labels per class), then one ``round`` line per round."""
    splits = {}
    for s in ("pool", "eval"):
        counts = pool.class_counts(s)
        n, k = pool.count(s), sum(counts.values())
        splits[s] = {"examples": n, "labeled": k, "unlabeled": n - k, "labels": counts}
    _json({"record": "project", "project": pool.name, "classes": pool.classes, "hotkeys": pool.hotkeys, "splits": splits})
    from activeloop.loop import model_summary

    for r in pool.rounds():
        _json({"record": "round", "round": r.number, "labels": r.n_labels, "strategy": r.strategy,
               "model": model_summary(r.config), "metrics": r.metrics, "finished_at": r.finished_at.isoformat()})


def _csv_list(text: str | None) -> list[str] | None:
    return None if text is None else [p.strip() for p in text.split(",") if p.strip()]


def _open(db: str, project: str | None):
    from activeloop.store import Pool

    return Pool.open(db, project)


# ---------------------------------------------------------------- init / import
@app.command()
@DB
@click.option("--name", "-n", required=True, help="Project name.")
@click.option("--classes", "-c", required=True, help="Comma-separated class names, e.g. ok,fraud.")
@click.option("--hotkeys", help="Comma-separated keys, one per class (default 1,2,3...; not s, u, r, e, q or ?, "
                                 "the labeling app's own keys).")
def init(db: str, name: str, classes: str, hotkeys: str | None) -> None:
    """Create a project (and the database file if it does not exist)."""
    from activeloop.store import Pool

    names = _csv_list(classes) or []
    if len(names) < 2:
        raise ActiveloopError(f"--classes needs at least 2 comma-separated names, got {classes!r}")
    pool = Pool.create(db, name, names, hotkeys=_csv_list(hotkeys))
    pool.close()
    out.print(f"created project {name!r} in {db} with classes {', '.join(pool.classes)} (keys {', '.join(pool.hotkeys)})")


@app.command("import")
@DB
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path),
                help="CSV, JSONL, .npy or .npz files.")
@ProjectOpt
@click.option("--features", help="Comma-separated numeric feature columns.")
@click.option("--text-column", help="Featurize this text column (see --featurizer).")
@click.option("--featurizer", help="Text featurizer: tfidf (TF-IDF + SVD, the default) or embed[:MODEL] (sentence "
                                   "embeddings, offline; needs activeloop[embed]). Default: the project's own.")
@click.option("--label-column", help="Column of class names (empty = unlabeled).")
@click.option("--id-column", help="Column of unique external ids.")
@click.option("--eval-fraction", default=0.0, help="Share of rows reserved as the eval split.")
@click.option("--split", default="pool", help="pool or eval (when --eval-fraction is 0).")
@click.option("--seed", default=0, help="Seed of the eval split and the SVD.")
def import_(
    db: str, files: tuple[Path, ...], project: str | None, features: str | None, text_column: str | None,
    featurizer: str | None, label_column: str | None, id_column: str | None, eval_fraction: float, split: str, seed: int,
) -> None:
    """Import files into a project, all in one transaction (an error leaves the database as it was)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from activeloop.ingest import import_files

    pool = _open(db, project)
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=True, disable=not err.is_terminal,  # no bars into a pipe or a log
        ) as bar:
            tasks: dict[str, int] = {}

            def progress(path: str, done: int, total: int | None) -> None:
                if path not in tasks:
                    tasks[path] = bar.add_task(Path(path).name, total=total)
                bar.update(tasks[path], completed=done, total=total)

            report = import_files(
                pool, files, features=_csv_list(features), text_column=text_column, label_column=label_column,
                id_column=id_column, eval_fraction=eval_fraction, split=split, seed=seed, progress=progress,
                featurizer=featurizer,
            )
    finally:
        pool.close()
    for f in report.files:
        if f.recognised:
            roles = ", ".join(f"{col!r} as {role}" for role, col in f.recognised.items())
            err.print(f"{f.path}: recognised columns by name: {roles} (--id-column, --label-column, --text-column, "
                      "--features override)", markup=False, soft_wrap=True)
        out.print(f"{f.path}: {f.n_rows} rows ({f.n_rows - f.n_eval} pool, {f.n_eval} eval, {f.n_labeled} labeled)")
    fitted = " (fitted now)" if report.fitted_featurizer else ""
    out.print(
        f"imported {report.n_rows} examples into {pool.name!r}: dim {report.dim}, featurizer {report.featurizer}{fitted}, "
        f"{report.seconds:.1f} s"
    )


# ---------------------------------------------------------------- status / export / upgrade
@app.command()
@DB
@ProjectOpt
@JsonOpt
def status(db: str, project: str | None, as_json: bool) -> None:
    """Examples per split, labels per class, and every round's metrics on the eval split and model."""
    from activeloop.loop import model_summary

    pool = _open(db, project)
    try:
        if as_json:
            _status_json(pool)
            return
        splits = Table(title=f"project {pool.name!r}: examples")
        for col in ("split", "examples", "labeled", "unlabeled"):
            splits.add_column(col, justify="left" if col == "split" else "right")
        counts = {s: pool.class_counts(s) for s in ("pool", "eval")}
        for s in ("pool", "eval"):
            n, k = pool.count(s), sum(counts[s].values())
            splits.add_row(s, str(n), str(k), str(n - k))
        out.print(splits)

        per_class = Table(title="labels per class")
        for col in ("class", "key", "pool", "eval"):
            per_class.add_column(col, justify="left" if col in ("class", "key") else "right")
        for c, key in zip(pool.classes, pool.hotkeys):
            per_class.add_row(c, key, str(counts["pool"][c]), str(counts["eval"][c]))
        out.print(per_class)

        from activeloop.stopping import verdict

        rounds = pool.rounds()
        if not rounds:
            out.print("no rounds yet (run `activeloop train` once there are labels of 2 classes)")
            return
        table = Table(title="rounds (metrics on the eval split)")
        for col in ("round", "labels", "macro-F1", "bal. acc.", "min. recall", "finished"):
            table.add_column(col, justify="left" if col == "finished" else "right", no_wrap=True)
        for r in rounds:
            m = r.metrics
            if "macro_f1" in m:
                scores = [f"{m['macro_f1']:.3f}", f"{m['balanced_accuracy']:.3f}", f"{m['minority_recall']:.3f}"]
            else:
                scores = ["no eval labels", "", ""]
            table.add_row(
                str(r.number), str(r.n_labels), *scores, r.finished_at.isoformat(sep=" ", timespec="minutes"),
            )
        out.print(table)
        out.print(f"model of round {rounds[-1].number}: {model_summary(rounds[-1].config)}")
        out.print(verdict(rounds).text)
    finally:
        pool.close()


@app.command()
@DB
@click.option("--format", "-f", default="csv", help="csv or jsonl.")
@click.option("--out", "-o", "out_path", type=click.Path(path_type=Path), help="Output file (default: stdout).")
@ProjectOpt
def export(db: str, format: str, out_path: Path | None, project: str | None) -> None:
    """Current labels with their annotator, source and time; written atomically (temp file + rename)."""
    from activeloop.ingest.export import check_format, export_labels, labels_text

    check_format(format)
    pool = _open(db, project)
    try:
        if out_path is None:
            click.echo(labels_text(pool, format)[0], nl=False)
            return
        n = export_labels(pool, out_path, format)
    finally:
        pool.close()
    err.print(f"wrote {n} labels to {out_path}")


@app.command()
@DB
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for report.md and its PNGs (created if missing).")
@ProjectOpt
def report(db: str, out_dir: Path, project: str | None) -> None:
    """Write report.md with plots of every round: eval metrics, minority found, labels per hour, stopping."""
    from activeloop.report import write_report

    pool = _open(db, project)
    try:
        result = write_report(pool, out_dir)
    finally:
        pool.close()
    out.print(f"wrote {result.markdown} and {len(result.plots)} plots")
    out.print(result.verdict.text)


@app.command()
@DB
def upgrade(db: str) -> None:
    """Apply the Alembic revisions this activeloop knows to an older database."""
    from activeloop.store.migrate import upgrade as upgrade_schema

    before, after = upgrade_schema(db)
    out.print(f"{db}: schema {before} is current" if before == after else f"{db}: upgraded schema {before} -> {after}")


# ---------------------------------------------------------------- the loop
@app.command()
@DB
@ProjectOpt
@click.option("--n", "-n", default=10, help="How many examples.")
@click.option("--strategy", default="default", help="Strategy name, or package.module:function.")
@click.option("--annotator", default="default", help="Who the examples are leased to.")
@SchedulerOpt
@JsonOpt
def query(db: str, project: str | None, n: int, strategy: str, annotator: str, scheduler: str | None,
          as_json: bool) -> None:
    """Ask the query engine for the next examples to label (they are leased to ``--annotator``)."""
    from activeloop.cluster import session
    from activeloop.loop import Loop

    if n < 1:  # the library says so too, in its own words (batch_size)
        raise ActiveloopError(f"-n must be >= 1, got {n}")
    pool = _open(db, project)
    try:
        with session(scheduler) as client:
            batch = Loop(pool, strategy=strategy, batch_size=n, client=client).query(n, annotator)
        ext = dict(zip((q.example_id for q in batch), pool.external_ids([q.example_id for q in batch])))
        if as_json:
            for q in batch:
                _json({"id": q.example_id, "external_id": ext[q.example_id], "score": q.score,
                       "strategy": q.strategy, "predicted": q.predicted, "confidence": q.confidence, "reason": q.reason})
            return
        table = Table(title=f"next {len(batch)} for {annotator!r}")
        for col in ("id", "external id", "score", "predicted", "reason"):
            table.add_column(col, justify="right" if col in ("id", "score") else "left")
        for q in batch:
            table.add_row(str(q.example_id), ext[q.example_id], f"{q.score:.4f}", q.predicted or "-", q.reason)
        out.print(table)
    finally:
        pool.close()


@app.command()
@DB
@ProjectOpt
@SchedulerOpt
def train(db: str, project: str | None, scheduler: str | None) -> None:
    """Retrain on the pool split's labels, evaluate on the eval split's, and record a round."""
    from rich.progress import Progress

    from activeloop.cluster import session
    from activeloop.loop import Loop

    pool = _open(db, project)
    try:
        with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("training", total=None)

            def on_epoch(epoch: int, max_epochs: int, loss: float) -> None:
                bar.update(task, completed=epoch + 1, total=max_epochs, description=f"training (loss {loss:.4f})")

            with session(scheduler) as client:
                info = Loop(pool, client=client).retrain(on_epoch=on_epoch)
    finally:
        pool.close()
    m = info.metrics
    if "macro_f1" in m:
        scores = (
            f"macro-F1 {m['macro_f1']:.3f}, balanced accuracy {m['balanced_accuracy']:.3f}, "
            f"minority recall {m['minority_recall']:.3f} (on {m['n_eval']} eval labels)"
        )
    else:
        scores = "no eval labels yet"
    out.print(f"round {info.number}: {info.n_labels} labels; {scores}")


@app.command()
@DB
@ProjectOpt
@click.option("--annotator", default="default", help="Your name, recorded with every label.")
@click.option("--batch", default=10, help="Examples per batch.")
@click.option("--strategy", default="default", help="Query strategy.")
def label(db: str, project: str | None, annotator: str, batch: int, strategy: str) -> None:
    """Open the labeling app (one keystroke per decision; retrains between batches)."""
    from activeloop import tui

    code = tui.run(db, project=project, annotator=annotator, batch=batch, strategy=strategy)
    raise click.exceptions.Exit(code or 0)


@app.command()
@click.argument("db", default="demo.db", help="Where to write the demo database (default: demo.db).")
@click.option("--rounds", default=5, help="Query/label/retrain rounds to run.")
@click.option("--batch", default=10, help="Labels per round.")
@click.option("--seed", default=0, help="Random seed.")
@click.option("--force/--no-force", default=False, help="Overwrite an existing file that is not an earlier demo.")
def demo(db: str, rounds: int, batch: int, seed: int, force: bool) -> None:
    """Build a demo project (imbalanced digits) in demo.db with a simulated oracle and run a few rounds.

    An earlier demo is replaced; any other existing file is left alone unless --force.
    """
    from activeloop import demo as demo_module

    demo_module.run(db, rounds=rounds, batch=batch, seed=seed, force=force, console=out)


def _register_bench() -> None:
    """``bench`` lives in activeloop.bench.cli, beside the benchmark code it drives."""
    from activeloop.bench.cli import bench

    app.add_command(bench)


_register_bench()


if __name__ == "__main__":
    app()
