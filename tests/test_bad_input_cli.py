"""Bad input and faults through the installed ``activeloop`` command, run as a user runs it.

Each case is one line on stderr naming the file (row, field) or the server and what to do, exit
status 1, no traceback, and the database or the file written left as it was.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import ACTIVELOOP, one_line_error, run, two_row_project

from activeloop import Pool



def fail(*args, cwd: Path | None = None, preexec=None) -> str:
    """Run ``activeloop ARGS``; assert exit 1 with one error line and nothing on stdout; return the line."""
    return one_line_error(run(*args, cwd=cwd, preexec=preexec))


@pytest.fixture
def db(tmp_path) -> Path:
    return two_row_project(tmp_path / "p.db")


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


# ---------------------------------------------------------------- import
@pytest.mark.parametrize("good_rows", [1, 5000], ids=["in the first block", "past the first block"])
def test_a_latin1_byte_in_a_utf8_csv_names_its_row(tmp_path, db, good_rows):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n" + b"".join(b"%d,1\n" % i for i in range(good_rows)) + b"2,caf\xe9\n")
    before = dump(db)
    line = fail("import", db, path)
    assert f"t.csv row {good_rows + 2}: byte b'\\xe9' is not UTF-8 text" in line and "save the file as UTF-8" in line
    assert dump(db) == before


@pytest.mark.parametrize("value, words", [("9" * 5000, "4300 digits"), ("[" * 100_000 + "]" * 100_000, "nested too deeply")],
                         ids=["a 5000-digit number", "deep nesting"])
def test_a_jsonl_line_the_json_parser_gives_up_on_names_its_row(tmp_path, db, value, words):
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1, "b": 2}\n{"a": 1, "b": ' + value + "}\n")
    before = dump(db)
    line = fail("import", db, path)
    assert "t.jsonl row 2: not valid JSON" in line and words in line
    assert dump(db) == before


def _npz_damaged(tmp_path: Path) -> dict[str, Path]:
    """A download cut in half, one flipped bit inside the compressed X, and a file that is no zip at all."""
    good = tmp_path / "good.npz"
    np.savez_compressed(good, X=np.random.default_rng(0).normal(size=(500, 2)), y=np.array(["ok", "fraud"] * 250))
    data = good.read_bytes()
    with zipfile.ZipFile(good) as z:
        x = z.getinfo("X.npy")
    flipped = bytearray(data)
    flipped[x.header_offset + 30 + len(x.filename) + 100] ^= 0xFF
    out = {"truncated": data[: len(data) // 2], "bit flip": bytes(flipped), "not a zip": b"PK\x03\x04 no zip here"}
    for name, content in out.items():
        (tmp_path / f"{name.replace(' ', '_')}.npz").write_bytes(content)
    return {name: tmp_path / f"{name.replace(' ', '_')}.npz" for name in out}


@pytest.mark.parametrize("damage", ["truncated", "bit flip", "not a zip"])
def test_a_damaged_npz_is_one_line_for_import_and_bench(tmp_path, db, damage):
    path = _npz_damaged(tmp_path)[damage]
    before = dump(db)
    assert f"{path.name}: not a readable NumPy npz file" in fail("import", db, path)
    assert dump(db) == before
    assert f"{path.name}: not a readable NumPy npz file" in fail("bench", "-s", "random", "--data", path, "-o", tmp_path / "b")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("later", [False, True], ids=["first text import", "into a fitted project"])
@pytest.mark.parametrize("bad, words", [({}, "missing"), ({"text": ["a", "b"]}, "expected text, got a JSON list"),
                                        ({"text": {"a": 1}}, "expected text, got a JSON object")],
                         ids=["missing", "list", "object"])
def test_a_jsonl_row_without_text_or_with_a_list_or_object_as_text_names_its_row(tmp_path, bad, words, later):
    db = tmp_path / "t.db"
    with Pool.create(db, "t", ["ok", "fraud"]):
        pass
    words_of = ["card refund", "stolen card fraud", "password reset", "change my address"]
    good = [{"id": f"g{i}", "text": words_of[i % 4]} for i in range(8)]
    if later:
        (tmp_path / "first.jsonl").write_text("".join(json.dumps(r) + "\n" for r in good))
        subprocess.run([ACTIVELOOP, "import", db, tmp_path / "first.jsonl"], check=True, capture_output=True)
    path = tmp_path / "t.jsonl"
    rows = [{"id": "a", "text": "late card fraud"}, {"id": "b", **bad}, *[{**r, "id": "x" + r["id"]} for r in good]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = dump(db)
    line = fail("import", db, path)
    assert f"t.jsonl row 2, field 'text': {words}" in line
    assert dump(db) == before


# ---------------------------------------------------------------- export
@pytest.mark.parametrize("suffix", ["", "-wal"])
def test_export_refuses_to_write_over_its_own_database(db, suffix):
    before = dump(db)
    target = Path(f"{db}{suffix}")
    existed = target.exists()
    line = fail("export", db, "-o", target)
    assert f"{target.name}: is the project's database" in line
    assert dump(db) == before and target.exists() == existed
    with Pool.open(db) as pool:
        assert pool.class_counts() == {"ok": 1, "fraud": 1}


def _without_root_override():
    """File permissions bind in the child even for root (CAP_DAC_OVERRIDE dropped before exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_export_onto_a_folder_or_into_a_read_only_folder_names_that_folder(tmp_path, db):
    folder = tmp_path / "out"
    folder.mkdir()
    assert fail("export", db, "-o", folder) == f"error: {folder}: is a directory; name a file in it"
    assert list(folder.iterdir()) == []
    folder.chmod(0o555)
    if os.geteuid() == 0:
        try:
            subprocess.run(["true"], preexec_fn=_without_root_override, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"root cannot drop CAP_DAC_OVERRIDE here, so no folder is read-only to it: {exc}")
    line = fail("export", db, "-o", folder / "l.csv", preexec=_without_root_override)
    assert line == f"error: {folder}: cannot write there (Permission denied)"
    assert list(folder.iterdir()) == []


# ---------------------------------------------------------------- opening a database
def test_a_folder_or_a_path_in_a_missing_folder_as_the_database_is_one_line(tmp_path):
    (tmp_path / "x.csv").write_text("a\n1\n")
    assert fail("status", tmp_path) == f"error: {tmp_path}: is a directory, not a database file"
    line = fail("init", tmp_path / "nope" / "p.db", "-n", "p", "-c", "a,b")
    assert line.startswith(f"error: {tmp_path / 'nope'}: no such directory")
    assert not (tmp_path / "nope").exists()


NO_PG8000 = pytest.mark.skipif(importlib.util.find_spec("pg8000") is not None, reason="pg8000 is installed here")


@pytest.mark.parametrize("url, words", [
    pytest.param("postgresql+pg8000://me:secret@127.0.0.1:5432/labels",
                 ["driver 'pg8000' is not installed", 'pip install "activeloop[postgres]"', "postgresql+psycopg2://"],
                 marks=NO_PG8000, id="postgres without its driver"),
    pytest.param("postgresql://me:secret@127.0.0.1:port/labels", ["not a file path or a database URL"], id="bad port"),
    pytest.param("nosuch://x/y", ["not a file path or a database URL"], id="unknown dialect"),
])
def test_a_url_that_cannot_be_opened_is_one_line_without_its_password(url, words):
    for args in (["status", url], ["upgrade", url], ["init", url, "-n", "p", "-c", "a,b"]):
        line = fail(*args)
        assert all(w in line for w in words), line
        assert "secret" not in line


@pytest.fixture(scope="module")
def own_pg():
    from activeloop.bench.pgserver import PgServer, pg_bin

    if pg_bin() is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    server = PgServer()
    yield server
    server.stop()


@pytest.mark.postgres
def test_a_server_that_refuses_the_connection_is_one_line_saying_what_to_check(own_pg):
    url = own_pg.url.rsplit("/", 1)[0] + "/no_such_database"
    for args in (["status", url], ["init", url, "-n", "p", "-c", "a,b"]):
        line = fail(*args)
        assert 'the server refused the connection' in line and 'database "no_such_database" does not exist' in line
        assert "check the user, password and database name" in line and "not an activeloop database" not in line


# ---------------------------------------------------------------- bench --data / --dataset
def test_bench_data_whose_rare_class_has_one_row_or_no_features_is_one_line(tmp_path):
    rng = np.random.default_rng(0)
    one = tmp_path / "one.csv"
    one.write_text("a,b,label\n" + "".join(f"{rng.random()},{rng.random()},{'rare' if i == 0 else 'x'}\n"
                                         for i in range(40)))
    assert fail("bench", "-s", "random", "--data", one, "-o", tmp_path / "b") == (
        f"error: {one}, field 'label': class 'rare' has 1 row(s); each class needs at least 2")
    bare = tmp_path / "bare.csv"
    bare.write_text("label\n" + "a\nb\n" * 20)
    assert "bare.csv row 1: no feature columns" in fail("bench", "-s", "random", "--data", bare, "-o", tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_bench_data_options_ride_on_a_file_name_without_a_folder(tmp_path):
    (tmp_path / "d.csv").write_text("a,truth\n" + "1,x\n2,y\n" * 10)
    assert fail("bench", "-s", "random", "--data", "d.csv:label=nope", "-o", "b", cwd=tmp_path) == "error: d.csv, field 'nope': no column 'nope'"


@pytest.mark.parametrize("spec, words", [
    ("synthetic:n=abc", "bad option value (invalid literal for int()"),
    ("digits-imbalanced:share=x", "bad option value (could not convert string to float: 'x')"),
    ("synthetic:classes=1", "synthetic: classes=1; it needs at least 2"),
    ("synthetic:n=5", "data set 'synthetic:n=5': class 'c1' has 0 row(s); each class needs at least 2"),
])
def test_bench_dataset_option_values_that_do_not_work_are_one_line(tmp_path, spec, words):
    assert words in fail("bench", "-s", "random", "--dataset", spec, "-o", tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_bench_budget_over_one_data_sets_pool_names_it_before_any_run(tmp_path):
    # wine-imbalanced keeps 129 rows: 90 in the pool, 39 in the test split
    line = fail("bench", "-s", "random", "--model", "logreg", "--seeds", "1", "--budget", "100",
                "-d", "synthetic:n=600,features=6", "-d", "wine-imbalanced", "-o", tmp_path / "b")
    assert line == ("error: data set 'wine-imbalanced': --budget 100 exceeds its pool of 90 examples "
                    "(of 129 rows, the rest is the test set)")
    assert not (tmp_path / "b").exists()


def test_bench_data_with_an_empty_label_names_its_row_before_any_run(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.csv"
    rows = [f"{rng.random()},{rng.random()},{'rare' if i % 10 == 0 else 'x'}" for i in range(40)]
    rows[2] = "0.5,0.5,"
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    assert fail("bench", "-s", "random", "--data", path, "-o", tmp_path / "b") == (
        f"error: {path} row 4, field 'label': empty label; every row of a benchmark data set needs its class")
    assert not (tmp_path / "b").exists()
