"""Stopping in the benchmark: each activeloop curve keeps its rounds' stopping records and the summary reads them."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.datasets import make_classification

from activeloop.bench.curve import read_curves_csv, write_curves_csv
from activeloop.bench.runner import run_curve
from activeloop.bench.summary import write_summary
from activeloop.stopping import LabelBudget, default_criterion, replay


@pytest.fixture(scope="module")
def curves():
    X, y = make_classification(n_samples=900, n_features=8, weights=[0.95], random_state=3)
    kw = dict(X_pool=X[:600], y_pool=y[:600], X_test=X[600:], y_test=y[600:], init=10, batch=10, budget=60, seed=0,
              ceiling=False, dataset="syn")
    return [run_curve(strategy="margin", model="logreg", **kw), run_curve(strategy="peer:random", **kw)]


def test_an_activeloop_curve_keeps_one_stopping_record_per_point_and_the_default_decisions(curves):
    ours, _ = curves
    assert len(ours.stopping) == len(ours.labels) == 6
    assert [s.n_labels for s in ours.stopping] == ours.labels.tolist()
    assert all(len(s.predictions) == 600 - 10 for s in ours.stopping)  # the pool still unlabeled at round 1
    assert ours.stop.tolist() == replay(ours.stopping, default_criterion())[0]


def test_stop_labels_and_f1_at_stop_follow_the_criterion_given(curves):
    ours, _ = curves
    assert ours.stop_labels(LabelBudget(budget=30)) == 30
    assert ours.at_stop("macro_f1", LabelBudget(budget=30)) == ours.metrics["macro_f1"][2]
    assert ours.stop_labels(LabelBudget(budget=1000)) is None
    assert ours.at_stop("macro_f1", LabelBudget(budget=1000)) == ours.at_budget("macro_f1")


def test_peers_record_no_stopping_and_the_summary_leaves_their_cells_empty(curves, tmp_path):
    ours, peer = curves
    assert peer.stop is None and peer.stopping == [] and peer.stop_labels() is None
    write_summary(curves, tmp_path)
    rows = {r["strategy"]: r for r in csv.DictReader((tmp_path / "summary.csv").open())}
    assert rows["peer:random"]["stop_labels"] == "" and rows["peer:random"]["f1_at_stop"] == ""
    expected = 60 if ours.stop_labels() is None else ours.stop_labels()
    assert float(rows["margin"]["stop_labels"]) == expected
    assert float(rows["margin"]["f1_at_stop"]) == pytest.approx(ours.at_stop())
    assert rows["margin"]["stopped"] == f"{int(expected < 60)}/1"
    assert "F1 given up" in (tmp_path / "summary.md").read_text()


def test_curves_csv_keeps_the_default_decisions(curves, tmp_path):
    back = read_curves_csv(write_curves_csv(curves, tmp_path / "curves.csv"))
    by = {c.strategy: c for c in back}
    assert by["margin"].stop.tolist() == curves[0].stop.tolist()
    assert by["peer:random"].stop is None
    assert np.array_equal(by["margin"].labels, curves[0].labels)
