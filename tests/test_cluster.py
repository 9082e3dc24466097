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
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression
from click.testing import CliRunner

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
    """One cluster for the whole module (2 worker processes, no port 8787); the killed worker's nanny replaces it."""
    with cluster_mod.local_cluster(2) as lc, distributed.Client(lc, set_as_default=False) as client:
        yield lc, client


@pytest.fixture(scope="module")
def pool_file(tmp_path_factory) -> Path:
    """The scoring tests' pool, built once; each test works on its own copies."""
    path = tmp_path_factory.mktemp("pool") / "pool.db"
    _make_pool(path).close()
    return path


def _copies(pool_file: Path, tmp_path: Path, *names: str) -> list[Path]:
    out = [tmp_path / name for name in names]
    for path in out:
        shutil.copy(pool_file, path)
    return out


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
def test_picks_scored_on_the_cluster_equal_local_picks_on_sqlite(cluster, pool_file, tmp_path, strategy):
    _, client = cluster
    a_db, b_db = _copies(pool_file, tmp_path, "a.db", "b.db")
    with Pool.open(a_db) as a, Pool.open(b_db) as b:
        local, here = _picks(a, strategy=strategy)
        remote, there = _picks(b, client, strategy=strategy)
    assert remote == local
    assert there.n_scored_ == here.n_scored_ >= 600 - 15  # every unlabeled pool example once, across the workers


@pytest.mark.postgres
def test_picks_scored_on_the_cluster_equal_local_picks_on_postgresql(cluster, pool_file, pg_database, tmp_path):
    _, client = cluster
    [a_db] = _copies(pool_file, tmp_path, "a.db")
    _make_pool(pg_database).close()  # a fresh database: the same ids as the SQLite file
    with Pool.open(a_db) as a, Pool.open(pg_database) as b:
        local, _ = _picks(a)
        remote, _ = _picks(b, client)
    assert remote == local


def _stored(url: str) -> list[tuple[int, str, bytes]]:
    """Every round's stored-scores blob, as the database holds it."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [(n, k, bytes(d)) for n, k, d in conn.execute(sa.text(
                "SELECT r.number, s.key, s.data FROM round_scores s JOIN rounds r ON r.id = s.round_id ORDER BY 1, 2"))]
    finally:
        engine.dispose()


def test_loop_retrain_with_a_client_stores_the_local_round_s_scores_and_picks(cluster, pool_file, tmp_path):
    """The torch default model is fitted here, sent to the workers once, and the round stores the local blob."""
    from activeloop.loop import Loop

    _, client = cluster
    a_db, b_db = _copies(pool_file, tmp_path, "a.db", "b.db")
    with Pool.open(a_db) as a, Pool.open(b_db) as b:
        Loop(a).retrain()
        remote = Loop(b, client=client)
        remote.retrain()
        assert remote.engine.scores_from_ == "adopted"  # the cluster's merged scores, used without reading back
        assert remote.engine.n_scored_ >= 600 - 15
        assert _stored(f"sqlite:///{b_db}") == _stored(f"sqlite:///{a_db}") != []
        local = [q.example_id for q in Loop(a).query(10, "ana")]
        assert [q.example_id for q in remote.query(10, "ana")] == local
        assert [q.example_id for q in Loop(b, client=client).query(10, "bob")] == [
            q.example_id for q in Loop(a).query(10, "bob")]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_train_cli_with_a_scheduler_stores_the_local_scores_and_the_next_picks_match(
        cluster, pool_file, tmp_path, request, backend):
    lc, client = cluster
    [a_db] = _copies(pool_file, tmp_path, "a.db")
    if backend == "sqlite":
        [b_db] = _copies(pool_file, tmp_path, "b.db")
        b_url = f"sqlite:///{b_db}"
    else:
        b_url = request.getfixturevalue("pg_database")
        _make_pool(b_url).close()  # a fresh database: the same ids as the SQLite file
    runner = CliRunner()
    local = runner.invoke(app, ["train", str(a_db)])
    with distributed.get_task_stream(client=client) as stream:  # the scheduler's record of every client's tasks
        remote = runner.invoke(app, ["train", b_url, "--scheduler", lc.scheduler_address])
    assert local.exit_code == 0, local.output
    assert remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout
    assert any(str(t["key"]).startswith("activeloop-score") for t in stream.data)  # the round scored on the workers
    assert _stored(b_url) == _stored(f"sqlite:///{a_db}") != []
    for args in ([], ["--scheduler", lc.scheduler_address]):  # next picks: from the stored scores, and rescored there
        there = runner.invoke(app, ["query", b_url, "-n", "5", "--strategy", "entropy", *args])
        here = runner.invoke(app, ["query", str(a_db), "-n", "5", "--strategy", "entropy"])
        assert there.exit_code == 0, there.output
        assert there.stdout == here.stdout
    there = runner.invoke(app, ["query", b_url, "-n", "5"])
    assert there.stdout == runner.invoke(app, ["query", str(a_db), "-n", "5"]).stdout


def test_query_cli_with_a_scheduler_leases_the_local_picks(cluster, pool_file, tmp_path):
    """The round stored the default strategy's scores; entropy's are rescored from its checkpoint, on the workers."""
    lc, client = cluster
    a_db, = _copies(pool_file, tmp_path, "a.db")
    runner = CliRunner()
    assert runner.invoke(app, ["train", str(a_db)]).exit_code == 0
    shutil.copy(a_db, tmp_path / "b.db")
    local = runner.invoke(app, ["query", str(a_db), "-n", "5", "--strategy", "entropy"])
    with distributed.get_task_stream(client=client) as stream:
        remote = runner.invoke(app, ["query", str(tmp_path / "b.db"), "-n", "5", "--strategy", "entropy",
                                     "--scheduler", lc.scheduler_address])
    assert local.exit_code == 0, local.output
    assert remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout
    assert any(str(t["key"]).startswith("activeloop-score") for t in stream.data)


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


def test_a_sqlite_file_the_workers_cannot_open_is_one_line_naming_worker_and_path(cluster, pool_file, tmp_path):
    _, client = cluster
    _copies(pool_file, tmp_path, "a.db")
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


@pytest.mark.parametrize("address", ["127.0.0.1", "tcp://127.0.0.1", "tcp://[::1]"])
def test_a_scheduler_address_without_a_port_is_one_line_at_once(tmp_path, address):
    with pytest.raises(ClusterError, match="is not a dask scheduler address"):
        cluster_mod.connect(address)
    res = CliRunner().invoke(app, [*BENCH, "--out", str(tmp_path), "--scheduler", address])
    assert res.exit_code == 1
    assert res.stderr.startswith(f"error: {address!r} is not a dask scheduler address")
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.output


def test_without_the_dask_extra_the_scheduler_option_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what Python does for a package that is not installed
    res = CliRunner().invoke(app, [*BENCH, "--out", str(tmp_path), "--scheduler", "tcp://127.0.0.1:8786"])
    assert res.exit_code == 1
    assert res.stderr.strip() == ("error: a dask cluster needs the 'dask' extra, which is not installed (import of "
                                  'distributed halted; None in sys.modules): pip install "activeloop[dask]"')
    with pytest.raises(MissingExtraError, match=r'pip install "activeloop\[dask\]"'):
        cluster_mod.connect("tcp://127.0.0.1:8786")
