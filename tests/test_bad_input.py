"""Bad input: one line naming file, row and field; exit status 1; the database left exactly as it was."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from activeloop import Pool
from activeloop.cli import app
from activeloop.errors import IngestError

runner = CliRunner()


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "p.db"
    Pool.create(path, "p", ["ok", "fraud"]).close()
    return path


def snapshot(db: Path) -> tuple:
    """Everything an import could touch."""
    pool = Pool.open(db)
    try:
        return pool.count(), pool.dim, pool.featurizer, pool.label_count()
    finally:
        pool.close()


def fail_cli(args: list[str]):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line and "Traceback" not in line
    return line


# (file name, content, extra CLI args, expected row, expected field, words in the message)
CASES = {
    "empty file": ("t.csv", "", [], None, None, "empty"),
    "header only": ("t.csv", "a,b\n", [], None, None, "no data rows"),
    "ragged csv row": ("t.csv", "a,b\n1,2\n3,4\n5\n", [], 4, None, "1 fields, but the header has 2"),
    "non-numeric feature": ("t.csv", "a,b\n1,2\n3,x\n", [], 3, "b", "'x' is not a number"),
    "empty feature cell": ("t.csv", "a,b\n1,\n", [], 2, "b", "'' is not a number"),
    "nan in csv": ("t.csv", "a,b\n1,2\nnan,2\n", [], 3, "a", "not a finite number"),
    "inf in jsonl": ("t.jsonl", '{"a": 1}\n\n{"a": Infinity}\n', [], 3, "a", "not a finite number"),
    "overflows float32": ("t.csv", "a\n1e300\n", [], 2, "a", "'1e300' is too large for float32"),
    "string in jsonl": ("t.jsonl", '{"a": 1}\n{"a": [1, 2]}\n', [], 2, "a", "is not a number"),
    "missing jsonl field": ("t.jsonl", '{"a": 1, "b": 2}\n{"a": 3}\n', [], 2, "b", "missing"),
    "broken json": ("t.jsonl", '{"a": 1}\n{"a": \n', [], 2, None, "not valid JSON"),
    "json not an object": ("t.jsonl", '{"a": 1}\n[1, 2]\n', [], 2, None, "expected a JSON object"),
    "duplicate id in file": ("t.csv", "id,a\nx,1\ny,2\nx,3\n", ["--id-column", "id"], 4, "id", "repeats row 2"),
    "empty id": ("t.csv", "id,a\nx,1\n,2\n", ["--id-column", "id"], 3, "id", "empty id"),
    "unknown label": ("t.csv", "a,y\n1,ok\n2,fraud\n3,spam\n", ["--label-column", "y"], 4, "y", "'spam' is not one of"),
    "unknown column": ("t.csv", "a,b\n1,2\n", ["--label-column", "y"], 1, "y", "no column 'y'"),
    "unknown suffix": ("t.txt", "a\n1\n", [], None, None, "unknown file type"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_file_names_file_row_and_field_and_writes_nothing(tmp_path, db, case):
    name, content, extra, row, field, words = CASES[case]
    path = tmp_path / name
    path.write_text(content)
    before = snapshot(db)
    with pytest.raises(IngestError) as info:
        pool = Pool.open(db)
        from activeloop.ingest import import_file

        options = {"id_column": None, "label_column": None}
        for flag, value in zip(extra[::2], extra[1::2]):
            options[flag.lstrip("-").replace("-", "_")] = value
        import_file(pool, path, **options)
    err = info.value
    assert (err.path, err.row, err.field) == (str(path), row, field)
    assert words in str(err)
    line = fail_cli(["import", db, path, *extra])
    assert str(path) in line and words in line
    if row is not None:
        assert f"row {row}" in line
    assert snapshot(db) == before


def test_missing_file_is_refused_before_anything_is_read(tmp_path, db):
    line = fail_cli(["import", db, tmp_path / "nope.csv"])
    assert "nope.csv: no such file" in line


def test_a_bad_second_file_rolls_back_the_first(tmp_path, db):
    (tmp_path / "a.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "b.csv").write_text("a,b\n1,2\n3,oops\n")
    before = snapshot(db)
    line = fail_cli(["import", db, tmp_path / "a.csv", tmp_path / "b.csv"])
    assert "b.csv row 3, field 'b'" in line
    assert snapshot(db) == before


def test_an_error_late_in_a_text_import_leaves_no_featurizer(tmp_path, db):
    rows = [{"text": f"card payment number {i}", "y": "ok"} for i in range(50)] + [{"text": "x", "y": "spam"}]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = snapshot(db)
    line = fail_cli(["import", db, path, "--text-column", "text", "--label-column", "y"])
    assert "t.jsonl row 51, field 'y'" in line
    assert snapshot(db) == before == (0, None, (None, None), 0)


def test_nan_in_npy_names_row_and_column(tmp_path, db):
    X = np.zeros((10, 3), dtype=np.float32)
    X[7, 2] = np.inf
    np.save(tmp_path / "x.npy", X)
    line = fail_cli(["import", db, tmp_path / "x.npy"])
    assert "x.npy row 7, field 'X[:, 2]': inf is not a finite number" in line
    assert snapshot(db)[0] == 0


def test_object_npy_is_refused_without_unpickling(tmp_path, db):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "not a readable NumPy" in fail_cli(["import", db, tmp_path / "o.npy"])


def test_duplicate_id_against_the_database(tmp_path, db):
    (tmp_path / "a.csv").write_text("id,a\nx,1\ny,2\n")
    (tmp_path / "b.csv").write_text("id,a\nz,1\ny,2\n")
    assert runner.invoke(app, ["import", str(db), str(tmp_path / "a.csv"), "--id-column", "id"]).exit_code == 0
    before = snapshot(db)
    line = fail_cli(["import", db, tmp_path / "b.csv", "--id-column", "id"])
    assert "b.csv row 3, field 'id': 'y' is already in the pool" in line
    assert snapshot(db) == before


def test_importing_the_same_file_twice_is_caught(tmp_path, db):
    np.save(tmp_path / "x.npy", np.ones((4, 2)))
    assert runner.invoke(app, ["import", str(db), str(tmp_path / "x.npy")]).exit_code == 0
    assert "already in the pool" in fail_cli(["import", db, tmp_path / "x.npy"])
    assert snapshot(db)[0] == 4


def test_feature_dimension_must_match_the_project(tmp_path, db):
    np.save(tmp_path / "two.npy", np.ones((4, 2)))
    (tmp_path / "three.csv").write_text("a,b,c\n1,2,3\n")
    assert runner.invoke(app, ["import", str(db), str(tmp_path / "two.npy")]).exit_code == 0
    before = snapshot(db)
    line = fail_cli(["import", db, tmp_path / "three.csv"])
    assert "three.csv row 2, field 'features': 3 features per example" in line and "has 2" in line
    assert snapshot(db) == before


@pytest.mark.parametrize("content", [b"just some text\n", os.urandom(4096)], ids=["text file", "random bytes"])
def test_a_file_that_is_not_an_activeloop_database(tmp_path, content):
    fake = tmp_path / "fake.db"
    fake.write_bytes(content)
    (tmp_path / "x.csv").write_text("a\n1\n")
    for args in (["status", fake], ["import", fake, tmp_path / "x.csv"], ["export", fake]):
        assert "not an activeloop database" in fail_cli(args)
    assert fake.read_bytes() == content


def test_a_database_from_a_newer_activeloop_is_refused(tmp_path, db):
    with sqlite3.connect(db) as con:
        con.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    (tmp_path / "x.csv").write_text("a\n1\n")
    line = fail_cli(["import", db, tmp_path / "x.csv"])
    assert "newer activeloop" in line
    assert "newer activeloop" in fail_cli(["status", db])
    assert "newer activeloop" in fail_cli(["upgrade", db])


def test_unknown_project(tmp_path, db):
    (tmp_path / "x.csv").write_text("a\n1\n")
    line = fail_cli(["import", db, tmp_path / "x.csv", "--project", "zz"])
    assert "no project 'zz'" in line and "projects: p" in line


def test_missing_database(tmp_path):
    (tmp_path / "x.csv").write_text("a\n1\n")
    assert "no such database" in fail_cli(["import", tmp_path / "none.db", tmp_path / "x.csv"])
    assert not (tmp_path / "none.db").exists()
