"""Conventions a newcomer expects: columns by name, `demo` with no argument, --json lines, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from activeloop import Pool
from activeloop.cli import app

runner = CliRunner()


def invoke(*args, ok: bool = True):
    result = runner.invoke(app, [str(a) for a in args])
    assert (result.exit_code == 0) is ok, result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "t.db"
    invoke("init", path, "--name", "t", "--classes", "ok,fraud")
    return path


def test_a_csv_with_id_features_and_label_imports_with_no_flags(db, tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("id,f1,f2,label\na,1.0,2.0,ok\nb,2.0,1.0,fraud\nc,0.5,0.1,\n")
    result = invoke("import", db, csv)
    assert "recognised columns by name: 'id' as id, 'label' as label" in result.stderr
    assert result.stderr.count("recognised") == 1
    with Pool.open(db) as pool:
        assert pool.dim == 2 and pool.count() == 3
        assert pool.class_counts() == {"ok": 1, "fraud": 1}
        assert sorted(r["external_id"] for r in pool.export_labels()) == ["a", "b"]


def test_a_jsonl_text_column_named_text_is_featurized_without_flags(db, tmp_path):
    rows = [{"id": f"t{i}", "text": f"ticket {w} about the card", "label": "ok" if i % 3 else "fraud"}
            for i, w in enumerate(["refund", "charge", "stolen", "login", "parcel", "late"] * 3)]
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = invoke("import", db, jsonl)
    assert "'id' as id, 'label' as label, 'text' as text" in result.stderr
    assert "featurizer tfidf-svd" in result.stdout
    with Pool.open(db) as pool:
        assert pool.featurizer[0]["text_column"] == "text"


def test_flags_override_the_names(db, tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("id,f1,label,truth\n1,1.0,x,ok\n2,2.0,y,fraud\n")
    invoke("import", db, csv, "--label-column", "truth", "--features", "id,f1")
    with Pool.open(db) as pool:
        assert pool.dim == 2  # id is a feature here, as asked
        assert pool.class_counts() == {"ok": 1, "fraud": 1}


def test_demo_with_no_argument_writes_demo_db_here_and_replaces_only_a_demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    invoke("demo", "--rounds", "1", "--batch", "10")
    assert (tmp_path / "demo.db").exists()
    invoke("demo", "--rounds", "1", "--batch", "10")  # an earlier demo is replaced
    (tmp_path / "mine.db").write_bytes(b"precious data")
    refused = invoke("demo", "mine.db", ok=False)
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1
    assert "exists and is not an activeloop demo" in refused.stderr
    assert (tmp_path / "mine.db").read_bytes() == b"precious data"


def test_query_and_status_json_print_one_object_per_line(db, tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 3))
    np.savez(tmp_path / "x.npz", X=X, y=np.array(["ok", "fraud"] * 5 + [""] * 30), ids=np.array([f"e{i}" for i in range(40)]))
    invoke("import", db, tmp_path / "x.npz", "--eval-fraction", "0.25")
    invoke("train", db)
    lines = invoke("query", db, "-n", "4", "--json", "--strategy", "margin").stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 4
    assert {"id", "external_id", "score", "strategy", "predicted", "confidence", "reason"} <= set(records[0])
    assert all(r["strategy"] == "margin" and r["predicted"] in ("ok", "fraud") for r in records)
    status = [json.loads(line) for line in invoke("status", db, "--json").stdout.splitlines()]
    assert [s["record"] for s in status] == ["project", "round"]
    assert status[0]["splits"]["pool"]["examples"] + status[0]["splits"]["eval"]["examples"] == 40
    assert status[1]["round"] == 1 and "macro_f1" in status[1]["metrics"] and status[1]["model"]


@pytest.mark.parametrize("args, message", [
    (["import", "{db}", "{missing}"], "no such file"),
    (["query", "{db}", "--strategy", "nope"], "unknown strategy 'nope'"),
    (["status", "{nodb}"], "no such database"),
    (["import", "{db}", "{csv}", "--featurizer", "bert"], "--featurizer must be tfidf, embed or embed:MODEL"),
])
def test_user_errors_are_one_line_on_stderr_and_a_nonzero_exit(db, tmp_path, args, message):
    csv = tmp_path / "c.csv"
    csv.write_text("text\nhello there\n")
    paths = {"db": db, "missing": tmp_path / "missing.csv", "nodb": tmp_path / "nope.db", "csv": csv}
    result = invoke(*[a.format(**paths) for a in args], ok=False)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stdout == ""
