"""Stopping in use: what each round records, the verdict status and the app show, and the project report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from click.testing import CliRunner

from activeloop.cli import app
from activeloop.loop import Loop
from activeloop.report import NO_EVAL, write_report
from activeloop.stopping import snapshots, verdict
from activeloop.store import Pool

runner = CliRunner()


def imbalanced_pool(path: Path, *, n_pool: int = 1400, eval_labels: bool = True) -> tuple[Pool, dict[int, str]]:
    """2 classes, 'rare' at ~5 %, with a labeled eval split (or an unlabeled one)."""
    X, y = make_classification(n_samples=n_pool + 300, n_features=6, weights=[0.95], random_state=0)
    names = np.array(["common", "rare"])[y]
    pool = Pool.create(path, "syn", ["common", "rare"])
    ids = pool.add(X[:n_pool])
    pool.add(X[n_pool:], labels=list(names[n_pool:]) if eval_labels else None, split="eval")
    return pool, {int(i): str(c) for i, c in zip(ids, names[:n_pool])}


def run_rounds(pool: Pool, truth: dict[int, str], rounds: int, batch: int = 20) -> Loop:
    """Seed one example of each class, then query, label by the truth and retrain ``rounds`` times."""
    loop = Loop(pool, model=LogisticRegression(max_iter=500), batch_size=batch)
    for cls in ("common", "rare"):
        pool.label(next(i for i, c in truth.items() if c == cls), cls, annotator="oracle", source="oracle")
    for _ in range(rounds):
        loop.retrain()
        for q in loop.query(batch, annotator="oracle"):
            pool.label(q.example_id, truth[q.example_id], annotator="oracle", source="oracle")
    return loop


@pytest.fixture
def trained(tmp_path):
    pool, truth = imbalanced_pool(tmp_path / "syn.db")
    loop = run_rounds(pool, truth, 4)
    yield tmp_path / "syn.db", pool, loop
    pool.close()


def test_every_round_predicts_the_same_stored_stop_set_and_records_each_criterion(trained):
    _, pool, loop = trained
    rounds = pool.rounds()
    records = [r.metrics["stopping"] for r in rounds]
    ids = records[0]["stop_set_ids"]
    # the first round chose up to 1000 pool examples unlabeled at the time; later rounds only refer to them
    assert len(ids) == 1000 and len(set(ids)) == 1000
    assert all("stop_set_ids" not in r for r in records[1:])
    assert len({r["stop_set"] for r in records}) == 1
    assert all(len(r["predictions"]) == 1000 for r in records)
    assert all(set(r["criteria"]) == {"kappa", "change", "uncertainty", "minority_plateau"} for r in records)
    assert records[0]["criteria"]["kappa"]["value"] is None and records[1]["criteria"]["kappa"]["value"] is not None
    # the recorded predictions are the round's model on those examples
    predicted = loop.model_.predict(pool.features(ids))  # class names; the record keeps pool class indices
    assert records[-1]["predictions"] == [pool.classes.index(c) for c in predicted]
    # minority found counts the rare labels each round trained on
    assert [r["minority_found"] for r in records] == [
        r.metrics["train_counts"]["rare"] for r in rounds
    ]


def test_loop_status_and_report_show_the_same_verdict(trained, tmp_path):
    db, pool, loop = trained
    v = loop.stop_verdict()
    assert v.text == verdict(pool.rounds()).text == pool.rounds()[-1].metrics["stopping"]["verdict"]
    assert v.text.startswith("stop: ")
    status = runner.invoke(app, ["status", str(db)])
    assert status.exit_code == 0 and v.text in status.stdout
    rep = runner.invoke(app, ["report", str(db), "--out", str(tmp_path / "rep")])
    assert rep.exit_code == 0, rep.output
    assert v.text in rep.stdout
    names = sorted(p.name for p in (tmp_path / "rep").iterdir())
    assert names == ["eval_metrics.png", "labels_per_hour.png", "minority_found.png", "report.md", "stopping.png"]
    md = (tmp_path / "rep" / "report.md").read_text()
    assert f"**{v.text}**" in md and "unbiased" in md
    for r in pool.rounds():
        assert f"| {r.number} | {r.n_labels} | {r.metrics['macro_f1']:.3f} |" in md


def test_report_without_eval_labels_says_so_instead_of_a_score(tmp_path):
    pool, truth = imbalanced_pool(tmp_path / "noeval.db", eval_labels=False)
    run_rounds(pool, truth, 2)
    rep = write_report(pool, tmp_path / "out")
    md = rep.markdown.read_text()
    assert "No eval labels yet, so no score is shown" in md
    assert "| 1 | 2 | – | – | – |" in md  # rows carry no made-up score
    assert NO_EVAL.startswith("no eval labels yet")
    assert all(p.stat().st_size > 0 for p in rep.plots.values())


def test_report_into_a_missing_folder_fails_in_one_line_and_writes_nothing(trained, tmp_path):
    db, _, _ = trained
    target = tmp_path / "nope" / "deeper"
    result = runner.invoke(app, ["report", str(db), "--out", str(target)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip() == f"error: {target.parent}: no such directory"
    assert not target.parent.exists()


def test_rounds_recorded_before_stopping_existed_are_skipped_not_misread(trained):
    _, pool, _ = trained

    class Old:  # a round as an older activeloop recorded it: no "stopping" key
        number, n_labels, metrics = 0, 1, {"n_eval": 0}

    snaps = snapshots([Old(), *pool.rounds()])
    assert snaps[0].predictions is None
    assert verdict([Old(), *pool.rounds()]).text == verdict(pool.rounds()).text
