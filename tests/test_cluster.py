"""Benchmark suites and pool scoring on a real dask.distributed cluster (two worker processes on loopback).

Nothing is mocked: the cluster is a ``LocalCluster`` of worker processes, the stores are real
SQLite files (and a PostgreSQL database when the test server is configured), and a worker is
killed with ``os._exit`` in the middle of a suite.
"""

from __future__ import annotations

import os
import signal
import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from activeloop import cluster as cluster_mod
from activeloop.bench import run_suite, write_curves_csv
from activeloop.cli import app
from activeloop.errors import ClusterError, MissingExtraError
from activeloop.query import QueryEngine
from activeloop.store import Pool

distributed = pytest.importorskip("distributed")

TINY = "synthetic:n=240,features=6,weights=0.9,class_sep=1.5"
SUITE = dict(strategies=["default", "peer:random"], seeds=2, model="logreg", budget=20, batch=10)
BENCH = ["bench", "--dataset", TINY, "--strategies", "default,peer:random", "--seeds", "2", "--budget", "20",
         "--batch", "10", "--model", "logreg", "--quiet"]  # the same suite as SUITE
CLASSES = ["ok", "spam", "fraud"]


@pytest.fixture(scope="module")
def local_csv(tmp_path_factory) -> bytes:
    """The suite's curves.csv from a local run, the reference every cluster run must equal."""
    return _csv(run_suite([TINY], **SUITE), tmp_path_factory.mktemp("local") / "curves.csv")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as lc, distributed.Client(lc, set_as_default=False) as client:
        yield lc, client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _csv(curves, path: Path) -> bytes:
    return write_curves_csv(curves, path).read_bytes()


# ------------------------------------------------------------------ benchmark suites


def test_suite_on_the_cluster_equals_the_local_suite_and_reports_each_run_once(cluster, local_csv, tmp_path):
    _, client = cluster
    done = []
    remote = run_suite([TINY], **SUITE, client=client, on_done=done.append)
    assert _csv(remote, tmp_path / "remote.csv") == local_csv
    assert len(done) == len(remote) == 2 * 2
    assert sorted((c.strategy, c.seed) for c in done) == sorted((c.strategy, c.seed) for c in remote)


def test_a_worker_killed_mid_suite_is_replaced_and_the_output_is_unchanged(cluster, local_csv, tmp_path):
    _, client = cluster
    killed: list[str] = []

    def kill_a_busy_worker(curve) -> None:
        if killed:
            return
        busy = next(w for w, keys in client.processing().items() if keys)
        killed.append(busy)
        os.kill(client.run(os.getpid, workers=[busy])[busy], signal.SIGKILL)

    done = []
    remote = run_suite([TINY], **SUITE, client=client, on_done=lambda c: (done.append(c), kill_a_busy_worker(c)))
    assert killed
    client.wait_for_workers(2, timeout=60)  # the nanny starts a new worker process
    assert killed[0] not in client.scheduler_info()["workers"]
    assert _csv(remote, tmp_path / "remote.csv") == local_csv
    assert len(done) == 2 * 2


def test_bench_cli_with_a_scheduler_writes_the_same_curves_as_a_local_run(cluster, local_csv, tmp_path):
    lc, _ = cluster
    remote = CliRunner().invoke(app, [*BENCH, "--out", str(tmp_path / "remote"), "--scheduler", lc.scheduler_address])
    assert remote.exit_code == 0, remote.output
    assert (tmp_path / "remote" / "curves.csv").read_bytes() == local_csv
    assert f"on the dask cluster at {lc.scheduler_address}" in (tmp_path / "remote" / "summary.md").read_text()


# ------------------------------------------------------------------ pool scoring


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.8, 0.15, 0.05])
    centers = np.array([[0, 0, 0, 0], [2, 0, 1, 0], [0, 2.5, 0, 1]], dtype=float)
    return (centers[y] + rng.normal(size=(n, 4))).astype(np.float32), y


def _make_pool(url: str) -> Pool:
    X, y = _data(600, 0)
    pool = Pool.create(url, "p", CLASSES)
    ids = pool.add(X, external_ids=[f"x{i}" for i in range(len(X))])
    for i in range(0, 600, 40):
        pool.label(int(ids[i]), CLASSES[y[i]], annotator="seed")
    return pool


def _model():
    X, y = _data(200, 1)
    return LogisticRegression(max_iter=500).fit(X, y)


def _picks(pool, client=None, strategy="default", n=12):
    engine = QueryEngine(_model(), strategy=strategy, random_state=0, chunk_size=64, client=client)
    return [(q.example_id, q.score, q.predicted) for q in engine.query(pool, n, annotator="ana")], engine


@pytest.mark.parametrize("strategy", ["default", "margin", "random", "direct", "galaxy"])
def test_picks_scored_on_the_cluster_equal_local_picks_on_sqlite(cluster, tmp_path, strategy):
    _, client = cluster
    _make_pool(tmp_path / "a.db").close()
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    with Pool.open(tmp_path / "a.db") as a, Pool.open(tmp_path / "b.db") as b:
        local, here = _picks(a, strategy=strategy)
        remote, there = _picks(b, client, strategy=strategy)
    assert remote == local
    assert there.n_scored_ == here.n_scored_ >= 600 - 15  # every unlabeled pool example once, across the workers


@pytest.mark.postgres
def test_picks_scored_on_the_cluster_equal_local_picks_on_postgresql(cluster, pg_database, tmp_path):
    _, client = cluster
    _make_pool(tmp_path / "a.db").close()
    _make_pool(pg_database).close()  # a fresh database: the same ids as the SQLite file
    with Pool.open(tmp_path / "a.db") as a, Pool.open(pg_database) as b:
        local, _ = _picks(a)
        remote, _ = _picks(b, client)
    assert remote == local


def test_a_torch_model_is_sent_to_the_workers_and_gives_the_local_picks(cluster, tmp_path):
    from activeloop.loop import Loop

    _, client = cluster
    _make_pool(tmp_path / "a.db").close()
    with Pool.open(tmp_path / "a.db") as a:
        Loop(a).retrain()
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    with Pool.open(tmp_path / "a.db") as a, Pool.open(tmp_path / "b.db") as b:
        local = [q.example_id for q in Loop(a).query(10, "ana")]
        remote = [q.example_id for q in Loop(b, client=client).query(10, "ana")]
    assert remote == local


def test_query_cli_with_a_scheduler_leases_the_local_picks(cluster, tmp_path):
    lc, _ = cluster
    _make_pool(tmp_path / "a.db").close()
    runner = CliRunner()
    assert runner.invoke(app, ["train", str(tmp_path / "a.db")]).exit_code == 0
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    local = runner.invoke(app, ["query", str(tmp_path / "a.db"), "-n", "5"])
    remote = runner.invoke(app, ["query", str(tmp_path / "b.db"), "-n", "5", "--scheduler", lc.scheduler_address])
    assert local.exit_code == 0, local.output
    assert remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout


# ------------------------------------------------------------------ errors, one line each


def test_an_unreachable_scheduler_is_one_line_naming_the_address(monkeypatch, tmp_path):
    monkeypatch.setattr(cluster_mod, "CONNECT_TIMEOUT", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    res = CliRunner().invoke(app, [*BENCH, "--out", str(tmp_path), "--scheduler", address])
    assert res.exit_code == 1
    assert res.stderr.count("\n") == 1
    assert address in res.stderr and "dask scheduler" in res.stderr
    assert "Traceback" not in res.output
    assert not (tmp_path / "curves.csv").exists()


def test_a_sqlite_file_the_workers_cannot_open_is_one_line_naming_worker_and_path(cluster, tmp_path):
    _, client = cluster
    _make_pool(tmp_path / "a.db").close()
    with Pool.open(tmp_path / "a.db") as pool:
        pool.class_counts()  # the client keeps its open connection to the file ...
        (tmp_path / "a.db").rename(tmp_path / "moved.db")  # ... which the workers can no longer find
        with pytest.raises(ClusterError, match=r"dask worker tcp://127\.0\.0\.1:\d+ cannot open .*a\.db: .*shares"):
            _picks(pool, client)


def test_an_in_memory_database_cannot_be_scored_on_a_cluster(cluster):
    _, client = cluster
    pool = _make_pool("sqlite://")
    with pytest.raises(ClusterError, match="in-memory SQLite"):
        _picks(pool, client)


def test_a_scheduler_address_of_an_unknown_scheme_is_one_line(tmp_path):
    res = CliRunner().invoke(app, [*BENCH, "--out", str(tmp_path), "--scheduler", "htp://127.0.0.1:8786"])
    assert res.exit_code == 1
    assert res.stderr.startswith("error: 'htp://127.0.0.1:8786' is not a dask scheduler address")
    assert res.stderr.count("\n") == 1


def test_without_the_dask_extra_the_scheduler_option_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what Python does for a package that is not installed
    res = CliRunner().invoke(app, [*BENCH, "--out", str(tmp_path), "--scheduler", "tcp://127.0.0.1:8786"])
    assert res.exit_code == 1
    assert res.stderr.strip() == ("error: a dask cluster needs the 'dask' extra, which is not installed (import of "
                                  'distributed halted; None in sys.modules): pip install "activeloop[dask]"')
    with pytest.raises(MissingExtraError, match=r'pip install "activeloop\[dask\]"'):
        cluster_mod.connect("tcp://127.0.0.1:8786")
