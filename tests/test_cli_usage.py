"""The command line as a new user meets it, through the installed ``activeloop`` command.

Help works and stays light; wrong usage and bad sizes are one line on stderr and a non-zero exit,
before any work and before any file is written; an earlier benchmark's results are not replaced silently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import one_line_error, run, two_row_project

from activeloop import Pool

COMMANDS = ("init", "import", "status", "query", "train", "label", "export", "upgrade", "report", "bench", "demo")
TINY = "synthetic:n=240,features=6,weights=0.9,class_sep=1.5"
BENCH = ["bench", "--dataset", TINY, "-s", "peer:random", "--seeds", "1", "--budget", "20", "--model", "logreg", "-q"]


@pytest.fixture
def db(tmp_path) -> Path:
    return two_row_project(tmp_path / "p.db")


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_exits_0_and_imports_no_heavy_module(command):
    proc = run(command, "--help", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0 and f"Usage: activeloop {command}" in proc.stdout, proc.stderr[-3000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert imported & {"torch", "sklearn", "textual", "sqlalchemy", "numpy"} == set()


@pytest.mark.parametrize("args, words", [
    (["status", "{db}", "--bogus"], "activeloop status: No such option '--bogus' (see activeloop status --help)"),
    (["status", "{db}", "--jsn"], "Did you mean '--json'?"),
    (["status"], "activeloop status: Missing argument 'DB'"),
    (["report", "{db}"], "activeloop report: Missing option '--out'"),
    (["export", "{db}", "extra"], "unexpected extra argument"),
    (["frob"], "activeloop: No such command 'frob' (see activeloop --help)"),
    (["--bogus"], "activeloop: No such option '--bogus'"),
    (["query", "{db}", "-n", "many"], "Invalid value for '--n' / '-n': 'many' is not a valid integer"),
    (["bench", "--out", "b", "--seeds", "abc"], "Invalid value for '--seeds'"),
], ids=["unknown option", "misspelt option", "missing argument", "missing option", "extra argument",
        "unknown command", "unknown top-level option", "not a number", "bench not a number"])
def test_wrong_usage_is_one_line_and_status_2(db, tmp_path, args, words):
    line = one_line_error(run(*(a.format(db=db) for a in args), cwd=tmp_path), 2)
    assert words in line
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("n", ["0", "-3"])
def test_query_n_below_1_names_the_option(db, n):
    assert one_line_error(run("query", db, "-n", n), 1) == f"error: -n must be >= 1, got {n}"


@pytest.mark.parametrize("args, words", [
    (["--budget", "0"], "--budget 0"),
    (["--budget", "-5"], "--budget -5"),
    (["--batch", "0"], "--batch 0"),
    (["--init-size", "0"], "--init-size 0"),
    (["--init-size", "30"], "1 <= --init-size <= --budget"),
    (["--model", "bogus"], "--model must be one of default, focal, logreg, got 'bogus'"),
    (["--init", "bogus"], "--init must be random, cold-start or both"),
    (["--init", ","], "--init must be random, cold-start or both"),
])
def test_bench_refuses_bad_sizes_and_names_before_any_work(tmp_path, args, words):
    out = tmp_path / "b"
    assert words in one_line_error(run(*BENCH, "--out", out, *args), 1)
    assert not out.exists()


def test_bench_out_that_is_a_file_is_refused_and_left_alone(tmp_path):
    (tmp_path / "b").write_text("mine")
    line = one_line_error(run(*BENCH, "--out", tmp_path / "b"), 1)
    assert line == f"error: {tmp_path / 'b'}: exists and is not a folder (--out names the folder for the results)"
    assert (tmp_path / "b").read_text() == "mine"


def test_bench_does_not_replace_an_earlier_run_unless_forced(tmp_path):
    out = tmp_path / "b"
    assert run(*BENCH, "--out", out).returncode == 0
    (out / "notes.txt").write_text("mine")
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    line = one_line_error(run(*BENCH[:-1], "--budget", "30", "--out", out), 1)
    assert f"{out}: holds an earlier benchmark's results (curves.csv, summary.csv, summary.md, curves.png)" in line
    assert "--force" in line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier
    assert run(*BENCH[:-1], "--budget", "30", "--out", out, "--force").returncode == 0
    assert "--budget 30" in (out / "summary.md").read_text() and (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("args, words", [(["--batch", "0"], "--batch >= 1, got 5 and 0"),
                                         (["--rounds", "-1"], "--rounds must be >= 0")])
def test_demo_refuses_bad_sizes_before_writing_the_database(tmp_path, args, words):
    assert words in one_line_error(run("demo", "d.db", *args, cwd=tmp_path), 1)
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_a_hotkey_the_labeling_app_keeps_for_itself(tmp_path):
    line = one_line_error(run("init", tmp_path / "h.db", "--name", "h", "--classes", "ok,spam", "--hotkeys", "s,q"), 1)
    assert "project 'h': hotkey 's' (skip), 'q' (quit) is the labeling app's own key" in line
    assert list(tmp_path.iterdir()) == []  # no database file half-made


def test_the_keys_kept_from_class_hotkeys_are_the_labeling_apps_own_bindings():
    from activeloop.store.names import APP_KEYS, DEFAULT_HOTKEYS
    from activeloop.tui.app import LabelApp

    bound = {key.strip() for binding in LabelApp.BINDINGS for key in binding.key.split(",")}
    assert bound <= set(APP_KEYS) and {"s", "u", "r", "e", "q"} <= bound
    assert set(DEFAULT_HOTKEYS) & set(APP_KEYS) == set()


def test_query_when_every_unlabeled_example_is_leased_to_you_says_how_many_and_how_to_resume_them(tmp_path):
    db = tmp_path / "q.db"
    with Pool.create(db, "q", ["ok", "fraud"]) as pool:
        pool.add(np.arange(12.0).reshape(6, 2), external_ids=list("abcdef"))
    assert run("query", db, "-n", "6").returncode == 0
    with Pool.open(db) as pool:
        before = sorted((lease.example_id, lease.expires_at) for lease in pool.active_leases("default"))
    line = one_line_error(run("query", db, "-n", "3"), 1)
    assert "0 unlabeled examples available to 'default', 3 requested; 6 more are leased to 'default' already" in line
    assert "`activeloop label` resumes them" in line and "expire 30 min after their query" in line
    with Pool.open(db) as pool:
        assert sorted((lease.example_id, lease.expires_at) for lease in pool.active_leases("default")) == before
        assert len(pool.unlabeled_ids("pool")) == 6
