"""The imbalanced suite: task definitions, per-task budgets, and the suite table against the peers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from activeloop.bench import Curve, load_dataset, run_suite
from activeloop.bench.summary import paired_deltas, suite_markdown, suite_table, verdict
from activeloop.bench.tasks import SUITES, suite_tasks
from activeloop.cli import app
from activeloop.errors import ActiveloopError


def _curve(ds: str, strategy: str, seed: int, f1: float, rec: float) -> Curve:
    n = 3
    metrics = {m: np.full(n, 0.5) for m in ("balanced_accuracy", "minority_pr_auc", "accuracy", "minority_found")}
    metrics["macro_f1"] = np.full(n, f1)
    metrics["minority_recall"] = np.full(n, rec)
    return Curve(ds, strategy, seed, "random", "m", np.array([10, 20, 30]), metrics, np.zeros(n), np.zeros(n), 5)


CURVES = [
    # task a: default better on both by 0.1 in every seed
    *[_curve("a", "default", s, 0.8, 0.6) for s in range(3)],
    *[_curve("a", "peer:modal-margin", s, 0.7, 0.5) for s in range(3)],
    # task b: default worse on F1 by 0.02 +- noise, recall equal
    _curve("b", "default", 0, 0.68, 0.5), _curve("b", "default", 1, 0.70, 0.5), _curve("b", "default", 2, 0.72, 0.5),
    *[_curve("b", "peer:modal-margin", s, 0.72, 0.5) for s in range(3)],
]


def test_paired_deltas_are_per_seed_differences_per_task():
    d = paired_deltas(CURVES, "default", "peer:modal-margin", "macro_f1")
    np.testing.assert_allclose(d["a"], [0.1, 0.1, 0.1])
    np.testing.assert_allclose(d["b"], [-0.04, -0.02, 0.0], atol=1e-12)


def test_verdict_is_a_tie_within_one_standard_error():
    assert verdict(np.array([0.1, 0.1, 0.1])) == "win"
    assert verdict(np.array([-0.04, -0.02, 0.0])) == "loss"  # mean -0.02, standard error 0.0115
    assert verdict(np.array([-0.04, 0.0, 0.04])) == "tie"
    assert verdict(np.array([0.0, 0.0])) == "tie"


def test_suite_table_counts_wins_and_reports_mean_and_worst_delta():
    rows = suite_table(CURVES, peers=("peer:modal-margin",))
    f1 = next(r for r in rows if r["strategy"] == "default" and r["metric"] == "macro_f1")
    assert (f1["wins"], f1["ties"], f1["losses"], f1["beats"], f1["tasks"]) == (1, 0, 1, 1, 2)
    assert f1["mean_delta"] == pytest.approx((0.1 - 0.02) / 2)
    assert f1["worst_delta"] == pytest.approx(-0.02) and f1["worst_task"] == "b"
    rec = next(r for r in rows if r["strategy"] == "default" and r["metric"] == "minority_recall")
    assert (rec["wins"], rec["ties"], rec["losses"]) == (1, 1, 0)
    assert not [r for r in rows if r["strategy"] == "margin"]  # no curves of the same-model reference here
    text = suite_markdown(CURVES, peers=("peer:modal-margin",))
    assert "| a | 0.800 / 0.600 | 0.700 / 0.500 |" in text
    assert "| default | peer:modal-margin | AULC macro-F1 | 1 / 0 / 1 | 1/2 | +0.0400 | -0.0200 (b) |" in text


def test_the_imbalanced_suite_has_at_least_eight_loadable_imbalanced_tasks():
    tasks = suite_tasks("imbalanced")
    assert len(tasks) >= 8 and tasks == SUITES["imbalanced"]
    for spec, budget in tasks:
        ds = load_dataset(spec)
        assert 0.01 <= ds.minority_share <= 0.08, spec
        assert budget < 0.7 * len(ds.y), spec  # fits in the pool split
    with pytest.raises(ActiveloopError, match="unknown suite 'nope'"):
        suite_tasks("nope")


def test_two_minorities_are_both_cut_and_the_first_is_tracked():
    ds = load_dataset("digits-imbalanced:minority=1/7,share=0.03")
    counts = np.bincount(ds.y)
    assert counts[1] == counts[7] == 46 and ds.minority == 1
    assert counts[0] == 178
    with pytest.raises(ActiveloopError, match="distinct minority classes"):
        load_dataset("digits-imbalanced:minority=1/1")


def test_run_suite_gives_each_data_set_its_own_budget():
    a = "synthetic:n=200,features=4,weights=0.9,class_sep=2.0,seed=1"
    b = "synthetic:n=200,features=4,weights=0.9,class_sep=2.0,seed=2"
    curves = run_suite([a, b], ["peer:random"], 1, budget={a: 20, b: 30}, ceiling=False)
    assert [int(c.labels[-1]) for c in curves] == [20, 30]
    assert all(c.ceiling is None for c in curves)


def test_bench_suite_option_fails_in_one_line_on_a_bad_name_or_a_second_source(tmp_path):
    res = CliRunner().invoke(app, ["bench", "--suite", "nope", "--out", str(tmp_path)])
    assert res.exit_code == 1 and "unknown suite 'nope'" in res.output
    res = CliRunner().invoke(app, ["bench", "--suite", "imbalanced", "--dataset", "digits-imbalanced",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 1 and "exactly one of" in res.output
    assert not (tmp_path / "curves.csv").exists()


def test_the_summary_shows_a_dash_where_no_ceiling_was_measured(tmp_path):
    from activeloop.bench.summary import write_summary

    a = "synthetic:n=200,features=4,weights=0.9,class_sep=2.0,seed=1"
    curves = run_suite([a], ["peer:random"], 1, budget={a: 20}, ceiling=False)
    write_summary(curves, tmp_path)
    row = next(line for line in (tmp_path / "summary.md").read_text().splitlines() if line.startswith(f"| {a} "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert "nan" not in row
    assert cells[9] == "—" and cells[10] == "—"  # ceiling, labels to 95 %
    assert cells[5].count("±") == 1  # AULC macro-F1 still has its figure


def test_bench_suite_prints_a_dash_not_nan_on_stdout_where_no_ceiling_was_measured(tmp_path):
    cli = str(Path(sys.executable).parent / "activeloop")
    proc = subprocess.run([cli, "bench", "--suite", "imbalanced", "-s", "peer:random", "--seeds", "1", "--model", "logreg",
                           "--batch", "50", "-q", "-o", tmp_path], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if "AULC macro-F1" in line]
    assert len(rows) == len(SUITES["imbalanced"])
    assert all("labels to 95% —  first minority" in line for line in rows)
    assert "nan" not in proc.stdout
