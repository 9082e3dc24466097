"""Simulated-oracle benchmarks: the CLI writes its files, same seeds give the same curves, the API holds up."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from optional import needs_modal
from test_extras import run_without_modal
from click.testing import CliRunner

from activeloop.bench import Curve, load_dataset, run_curve, run_suite, split_dataset
from activeloop.bench.summary import SUMMARY_COLUMNS, summarize
from activeloop.cli import app
from activeloop.errors import ActiveloopError, IngestError

TINY = "synthetic:n=240,features=6,weights=0.9,class_sep=1.5"
ARGS = ["bench", "--dataset", TINY, "--strategies", "default,margin,peer:random", "--seeds", "2",
        "--budget", "20", "--batch", "10", "--model", "logreg", "--quiet"]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "out"
    res = CliRunner().invoke(app, [*ARGS, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_bench_cli_writes_curves_summary_and_plot(tiny_run: Path):
    for name in ("curves.csv", "summary.csv", "summary.md", "curves.png"):
        assert (tiny_run / name).stat().st_size > 0
    curves = _rows(tiny_run / "curves.csv")
    for col in ("dataset", "strategy", "seed", "labels", "macro_f1", "balanced_accuracy", "minority_recall",
                "minority_found"):
        assert col in curves[0]
    # 3 strategies x 2 seeds x points at 10 and 20 labels
    assert len(curves) == 3 * 2 * 2
    assert {r["labels"] for r in curves} == {"10", "20"}
    summary = _rows(tiny_run / "summary.csv")
    assert list(summary[0]) == SUMMARY_COLUMNS
    assert [r["strategy"] for r in summary] == ["default", "margin", "peer:random"]
    assert all(r["seeds"] == "2" for r in summary)
    assert (tiny_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seeds_give_identical_curves_csv(tiny_run: Path, tmp_path: Path):
    res = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path), "--jobs", "2"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "curves.csv").read_bytes() == (tiny_run / "curves.csv").read_bytes()


def test_bench_rejects_unknown_strategy_before_running(tmp_path: Path):
    res = CliRunner().invoke(app, ["bench", "--dataset", TINY, "--strategies", "no-such-strategy", "--out",
                                   str(tmp_path)])
    assert res.exit_code == 1
    assert "unknown strategy 'no-such-strategy'" in res.output
    assert not (tmp_path / "curves.csv").exists()


def test_run_curve_labels_through_the_pool_and_tracks_the_minority():
    ds = load_dataset("digits-imbalanced")
    assert ds.classes[ds.minority] == "8" and 0.025 < ds.minority_share < 0.035
    p, t = split_dataset(ds, 0)
    assert np.mean(ds.y[t] == 8) == pytest.approx(ds.minority_share, abs=0.01)  # test set keeps the real mix
    c = run_curve(ds.X[p], ds.y[p], ds.X[t], ds.y[t], strategy="margin", model="logreg", budget=40, seed=0,
                  classes=ds.classes, minority=ds.minority, dataset=ds.name)
    assert isinstance(c, Curve)
    assert c.labels.tolist() == [10, 20, 30, 40]
    assert np.all(np.diff(c.metrics["minority_found"]) >= 0)
    assert c.aulc() == pytest.approx(np.mean(c.metrics["macro_f1"]))
    assert 0.5 < c.ceiling <= 1.0
    # first_minority is the 1-based label count at which the first "8" came; the curve agrees with it
    assert c.first_minority is not None and 1 <= c.first_minority <= 40
    at = np.searchsorted(c.labels, c.first_minority)  # first point whose labels include it
    assert c.metrics["minority_found"][at] >= 1
    assert np.all(c.metrics["minority_found"][:at] == 0)


def test_cold_start_with_one_class_scores_the_constant_prediction():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (np.arange(200) % 40 == 0).astype(int)  # 2.5 % minority: 4 in the pool, 1 of the 50 test rows
    c = run_curve(X[:150], y[:150], X[150:], y[150:], strategy="margin", model="logreg", budget=20, seed=1,
                  start="cold-start", ceiling=False, minority=1)
    assert c.labels.tolist() == [10, 20]
    assert c.init == "cold-start"
    # While only the majority has been labeled, the score is that of always predicting it:
    # 49 of 50 test rows right, minority recall 0, balanced accuracy 1/2, macro-F1 (2*49/99 + 0)/2.
    cold = np.flatnonzero(c.metrics["minority_found"] == 0)
    assert cold[0] == 0  # the first batch found no minority example
    for k in cold:
        assert c.metrics["accuracy"][k] == pytest.approx(49 / 50)
        assert c.metrics["minority_recall"][k] == 0.0
        assert c.metrics["balanced_accuracy"][k] == pytest.approx(0.5)
        assert c.metrics["macro_f1"][k] == pytest.approx((2 * 49 / 99) / 2)


def test_suite_is_ordered_and_peers_run_once_per_seed():
    curves = run_suite([TINY], ["margin", "peer:random"], [0, 1], model="logreg", inits=("random", "cold-start"),
                       budget=20)
    assert [(c.strategy, c.init, c.seed) for c in curves] == [
        ("margin", "random", 0), ("margin", "random", 1), ("margin", "cold-start", 0), ("margin", "cold-start", 1),
        ("peer:random", "random", 0), ("peer:random", "random", 1)]
    rows = summarize(curves)
    assert rows[-1]["vs_random"] == pytest.approx(1.0)


def test_custom_callable_strategy_runs_in_process():
    scored: list[int] = []

    def most_uncertain(proba):
        scored.append(len(proba))
        return 1.0 - proba.max(axis=1)

    curves = run_suite([TINY], [most_uncertain], 1, model="logreg", budget=20)
    assert curves[0].strategy == "most_uncertain"
    # one query round (10 seed labels -> 20): the callable scored every unlabeled pool row once
    pool_rows, _ = split_dataset(load_dataset(TINY), 0, 0.3)
    assert scored == [len(pool_rows) - 10]


def test_load_dataset_from_csv_and_npz(tmp_path: Path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = np.array(["a"] * 27 + ["b"] * 3)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    ds = load_dataset(tmp_path / "d.npz")
    assert ds.classes == ["a", "b"] and ds.minority == 1 and ds.X.shape == (30, 3)
    lines = ["f1,f2,f3,label"] + [f"{a},{b},{c},{lab}" for (a, b, c), lab in zip(X, y)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    ds2 = load_dataset(str(tmp_path / "d.csv"))
    np.testing.assert_allclose(ds2.X, ds.X, rtol=1e-6)
    lines[5] = "1.0,n/a,2.0,a"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(IngestError, match="row 6, field 'f2'"):
        load_dataset(tmp_path / "bad.csv")
    with pytest.raises(ActiveloopError, match="unknown data set"):
        load_dataset("mnist")


@pytest.mark.parametrize("cell", ["nan", "inf", "-inf", "1e300"])
def test_a_dataset_file_is_held_to_ingests_rules_for_numbers(tmp_path: Path, cell: str):
    lines = ["f1,f2,label", "0.1,0.2,a", "0.3,0.4,b", f"0.5,{cell},a"]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(IngestError, match="row 4, field 'f2'"):
        load_dataset(tmp_path / "d.csv")
    X = np.array([[0.1, 0.2], [0.3, float(cell)], [0.5, 0.6]])
    np.savez(tmp_path / "d.npz", X=X, y=np.array(["a", "b", "a"]))
    with pytest.raises(IngestError, match=r"row 1, field 'X\[:, 1\]'"):
        load_dataset(tmp_path / "d.npz")


@needs_modal
def test_modal_peer_and_in_engine_modal_measure_are_two_named_runs(tmp_path: Path):
    """peer:modal-margin is modAL's ActiveLearner with logistic regression (seed set start, outside
    activeloop); modal:classifier_margin is modAL's measure inside activeloop's engine (honours --init)."""
    res = CliRunner().invoke(app, ["bench", "--dataset", TINY, "--strategies", "peer:modal-margin,modal:classifier_margin",
                                   "--seeds", "1", "--budget", "20", "--model", "logreg", "--init", "cold-start",
                                   "--quiet", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    rows = {r["strategy"]: r for r in _rows(tmp_path / "summary.csv")}
    assert set(rows) == {"peer:modal-margin", "modal:classifier_margin"}
    assert rows["peer:modal-margin"]["init"] == "random"
    assert rows["modal:classifier_margin"]["init"] == "cold-start"


@needs_modal
@pytest.mark.parametrize("measure", ["uncertainty", "margin", "entropy"])
def test_each_modal_peer_name_is_modals_sampling_query_function(measure: str):
    """peer:modal-entropy must not find scipy's ``entropy``, which modAL.uncertainty imports."""
    from modAL import uncertainty

    from activeloop.bench.peers import _peer_function

    assert _peer_function(measure) is getattr(uncertainty, f"{measure}_sampling")
    assert _peer_function(f"{measure}-sampling") is getattr(uncertainty, f"{measure}_sampling")


@needs_modal
def test_the_old_peer_spelling_still_runs_the_peer_with_a_deprecation_note(tmp_path: Path):
    res = CliRunner().invoke(app, ["bench", "--dataset", TINY, "--strategies", "modal:margin_sampling", "--seeds", "1",
                                   "--budget", "20", "--quiet", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "note: bench strategy 'modal:margin_sampling' is deprecated" in res.stderr
    assert "write 'peer:modal-margin'" in res.stderr
    assert [r["strategy"] for r in _rows(tmp_path / "summary.csv")] == ["peer:modal-margin"]


def test_a_modal_peer_without_the_extra_fails_in_one_line_before_running(tmp_path: Path):
    done = run_without_modal("from activeloop.cli import app; app()", "bench", "--dataset", TINY, "--strategies",
                             "peer:random,peer:modal-margin", "--quiet", "--out", tmp_path / "out")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert 'pip install "activeloop[modal]"' in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_default_strategies_leave_out_the_modal_peers_without_the_extra(tmp_path: Path):
    done = run_without_modal("from activeloop.cli import app; app()", "bench", "--dataset", TINY, "--seeds", "1",
                             "--budget", "20", "--model", "logreg", "--quiet", "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "note: leaving out the default modAL peers" in done.stderr
    assert [r["strategy"] for r in _rows(tmp_path / "summary.csv")] == ["default", "margin", "peer:random"]


def test_summary_md_names_the_seed_set_size_that_was_run(tmp_path: Path):
    res = CliRunner().invoke(app, ["bench", "--dataset", TINY, "--strategies", "random", "--seeds", "1",
                                   "--budget", "10", "--batch", "5", "--init-size", "5", "--model", "logreg",
                                   "--quiet", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "summary.md").read_text()
    assert "the same 5 random seed labels" in text
    assert "the same 10 random seed labels" not in text


def test_a_strategy_init_or_data_set_given_twice_runs_once_per_seed(tmp_path: Path):
    res = CliRunner().invoke(app, ["bench", "--dataset", TINY, "--dataset", TINY, "--strategies", "random,random",
                                   "--init", "random,random", "--seeds", "1", "--budget", "10", "--batch", "5",
                                   "--init-size", "5", "--model", "logreg", "--quiet", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    summary = _rows(tmp_path / "summary.csv")
    assert [(r["strategy"], r["init"], r["seeds"]) for r in summary] == [("random", "random", "1")]
    assert len(_rows(tmp_path / "curves.csv")) == 2  # one run: points at 5 and 10 labels
