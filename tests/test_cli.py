"""The command line: exit codes, output, and what each command leaves in the database."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from click.testing import CliRunner

from activeloop import Pool
from activeloop.cli import app
from activeloop.store import db as store_db

runner = CliRunner()


def ok(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.stderr


@pytest.fixture
def cancer(tmp_path) -> Path:
    """Breast cancer (malignant is the minority), 240 rows: labels on 90 of them, the rest unlabeled."""
    data = load_breast_cancer()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(data.target))[:240]
    X = ((data.data - data.data.mean(0)) / data.data.std(0))[idx]
    y = np.array(["malignant", "benign"])[data.target[idx]].astype(object)
    y[90:] = ""
    np.savez(tmp_path / "bc.npz", X=X, y=y.astype(str), ids=np.array([f"p{i}" for i in idx]))
    return tmp_path / "bc.npz"


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "bc.db"
    ok("init", path, "--name", "bc", "--classes", "benign,malignant", "--hotkeys", "b,m")
    return path


def test_help_lists_every_command_and_imports_nothing_heavy():
    out = ok("--help")
    for command in ("init", "import", "status", "export", "upgrade", "query", "train", "label", "bench", "demo", "report"):
        assert command in out
    code = "import sys, activeloop.cli; print(sorted(m for m in ('torch', 'sklearn', 'textual') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_bare_command_prints_its_help_on_stdout_in_the_commands_order():
    r = runner.invoke(app, [])
    assert r.exit_code == 2 and r.stderr == ""  # pipeable: `activeloop | less`
    listed = [line.split()[0] for line in r.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert listed[:3] == ["init", "import", "status"] and listed[-2:] == ["demo", "bench"]


def test_init_creates_the_project_with_classes_and_hotkeys(db):
    pool = Pool.open(db)
    assert (pool.name, pool.classes, pool.hotkeys, pool.count()) == ("bc", ["benign", "malignant"], ["b", "m"], 0)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--classes", "only"], "at least 2"),
        (["--classes", "a,b", "--hotkeys", "1"], "one distinct hotkey per class"),
        (["--classes", "a,a"], "unique"),
    ],
)
def test_init_refuses_bad_classes(tmp_path, args, words):
    assert words in fails("init", tmp_path / "x.db", "--name", "x", *args)


def test_init_refuses_a_second_project_of_the_same_name(db):
    assert "already exists" in fails("init", db, "--name", "bc", "--classes", "a,b")
    assert Pool.projects(db) == ["bc"]


def test_import_reports_counts_and_fills_the_pool(db, cancer):
    out = ok("import", db, cancer, "--eval-fraction", "0.25", "--seed", "1")
    assert "240 rows (180 pool, 60 eval, 90 labeled)" in out
    pool = Pool.open(db)
    assert (pool.count("pool"), pool.count("eval"), pool.dim) == (180, 60, 30)
    assert sum(pool.class_counts("pool").values()) + sum(pool.class_counts("eval").values()) == 90


def test_status_shows_splits_classes_and_rounds(db, cancer):
    ok("import", db, cancer, "--eval-fraction", "0.25")
    out = ok("status", db)
    pool = Pool.open(db)
    assert f"│ pool  │      180 │ {sum(pool.class_counts('pool').values()):>7} │" in out
    assert "malignant" in out and "no rounds yet" in out


def test_train_records_a_round_and_status_shows_its_metrics(db, cancer):
    ok("import", db, cancer, "--eval-fraction", "0.25")
    out = ok("train", db)
    assert out.startswith("round 1: ") and "macro-F1" in out and "minority recall" in out
    rounds = Pool.open(db).rounds()
    assert len(rounds) == 1 and rounds[0].has_checkpoint and "macro_f1" in rounds[0].metrics
    status = ok("status", db)
    assert f"{rounds[0].metrics['macro_f1']:.3f}" in status
    assert f"model of round 1: BudgetSizedClassifier: {rounds[0].config['capacity']['chosen']}" in status


def test_train_without_eval_labels_says_so(db, cancer):
    ok("import", db, cancer)
    assert "no eval labels yet" in ok("train", db)
    assert "no eval labels" in ok("status", db)


def test_train_needs_two_classes(db, tmp_path):
    np.savez(tmp_path / "one.npz", X=np.eye(4), y=np.array(["benign"] * 4))
    ok("import", db, tmp_path / "one.npz")
    assert "at least 2 classes" in fails("train", db)
    assert Pool.open(db).rounds() == []


def test_query_prints_and_leases_the_batch(db, cancer):
    ok("import", db, cancer)
    out = ok("query", db, "-n", "4", "--annotator", "ana")
    leases = Pool.open(db).active_leases("ana")
    assert len(leases) == 4
    assert {str(lease.example_id) for lease in leases} <= set(out.split())


def test_export_csv_to_a_file_has_every_current_label(db, cancer, tmp_path):
    ok("import", db, cancer)
    pool = Pool.open(db)
    pool.label(int(pool.unlabeled_ids()[0]), "malignant", annotator="ana")
    target = tmp_path / "labels.csv"
    ok("export", db, "--format", "csv", "--out", target)
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 91 and rows == [{k: str(v) for k, v in r.items()} for r in pool.export_labels()]
    assert {r["annotator"] for r in rows} == {"import", "ana"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".labels.csv")] == []


def test_export_jsonl_to_stdout(db, cancer):
    ok("import", db, cancer)
    lines = ok("export", db, "--format", "jsonl").splitlines()
    assert [json.loads(line) for line in lines] == Pool.open(db).export_labels()


def test_export_into_a_missing_folder_fails_and_writes_nothing(db, cancer, tmp_path):
    ok("import", db, cancer)
    assert "no such directory" in fails("export", db, "--out", tmp_path / "nope" / "x.csv")
    assert "csv or jsonl" in fails("export", db, "--format", "xml")


def test_upgrade_brings_an_old_schema_to_head(db):
    engine = store_db.make_engine(db)
    store_db.downgrade(engine, "0001")
    assert store_db.current_revision(engine) == "0001"
    out = ok("upgrade", db)
    assert f"upgraded schema 0001 -> {store_db.head_revision()}" in out
    assert store_db.current_revision(engine) == store_db.head_revision()
    engine.dispose()
    assert "is current" in ok("upgrade", db)


def test_upgrade_refuses_a_file_that_is_not_a_database(tmp_path):
    (tmp_path / "x.db").write_text("hello")
    assert "not an activeloop database" in fails("upgrade", tmp_path / "x.db")
    assert "no such database" in fails("upgrade", tmp_path / "missing.db")
