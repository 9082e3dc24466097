"""The Pool API on a real database: SQLite file and PostgreSQL (see conftest's ``store_url``)."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from activeloop.errors import (
    ActiveloopError,
    CheckpointError,
    DatabaseError,
    DimensionError,
    LeaseError,
    RowError,
    SchemaOutdatedError,
    SchemaTooNewError,
    UnknownClassError,
    UnknownProjectError,
)
from activeloop.store import Pool, db
from activeloop.store import examples as examples_module
from activeloop.store.schema import Lease
from fake_clock import FakeClock

CLASSES = ["ok", "fraud", "spam"]


def _table_counts(url: str) -> dict[str, int]:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: conn.scalar(sa.text(f"SELECT count(*) FROM {t}"))
                for t in ("projects", "classes", "examples", "labels", "leases", "rounds")
            }
    finally:
        engine.dispose()


@pytest.fixture
def pool(store_url):
    p = Pool.create(store_url, "tickets", CLASSES)
    yield p
    p.close()


@pytest.fixture
def filled(pool):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    payloads = [{"text": f"ticket {i}", "n": i} for i in range(40)]
    pool.add(X, payloads=payloads, external_ids=[f"t{i}" for i in range(40)])
    pool.add(rng.normal(size=(10, 4)), split="eval", external_ids=[f"e{i}" for i in range(10)])
    return pool, X


# ---------------------------------------------------------------- create / open
def test_create_then_open_sees_the_same_project(store_url):
    Pool.create(store_url, "tickets", CLASSES, hotkeys=["o", "f", "p"]).close()
    with Pool.open(store_url) as p:
        assert (p.name, p.classes, p.hotkeys, p.dim) == ("tickets", CLASSES, ["o", "f", "p"], None)
    with Pool.open(store_url, project="tickets") as p:
        assert p.classes == CLASSES


def test_open_names_the_projects_when_several_or_unknown(store_url):
    Pool.create(store_url, "a", ["x", "y"]).close()
    Pool.create(store_url, "b", ["x", "y"]).close()
    with pytest.raises(UnknownProjectError, match="projects: a, b"):
        Pool.open(store_url)
    with pytest.raises(UnknownProjectError, match="no project 'c'"):
        Pool.open(store_url, project="c")
    assert Pool.projects(store_url) == ["a", "b"]


def test_projects_in_one_database_do_not_see_each_others_examples(store_url):
    a = Pool.create(store_url, "a", ["x", "y"])
    b = Pool.create(store_url, "b", ["x", "y"])
    ida = a.add(np.ones((3, 2)), labels=["x", None, None])
    b.add(np.zeros((5, 3)))
    assert a.count() == 3 and b.count() == 5 and (a.dim, b.dim) == (2, 3)
    assert b.class_counts() == {"x": 0, "y": 0}
    with pytest.raises(ActiveloopError, match="no example"):
        b.label(int(ida[1]), "x")
    a.close(), b.close()


def test_create_refuses_bad_class_lists(store_url):
    bad = [(["a", "a"], None), (["a", ""], None), (["a", "b"], ["1", "1"]), (["a", "b"], ["1"]), ([], None)]
    for classes, hotkeys in bad:
        with pytest.raises(ActiveloopError):
            Pool.create(store_url, "p", classes, hotkeys=hotkeys)
    with pytest.raises(ActiveloopError):
        Pool.create(store_url, "", ["a", "b"])
    Pool.create(store_url, "p", ["a", "b"]).close()
    assert Pool.projects(store_url) == ["p"]


def test_create_refuses_a_duplicate_project_name(store_url):
    Pool.create(store_url, "p", ["a", "b"]).close()
    with pytest.raises(ActiveloopError, match="already exists"):
        Pool.create(store_url, "p", ["a", "b"])
    assert _table_counts(store_url)["projects"] == 1


def test_missing_database_is_refused_and_not_created(tmp_db):
    with pytest.raises(DatabaseError, match="no such database"):
        Pool.open(tmp_db)
    assert not tmp_db.exists()


def test_a_non_activeloop_file_is_refused(tmp_path):
    junk = tmp_path / "notes.db"
    junk.write_bytes(b"these are my notes, not a database\n" * 100)
    with pytest.raises(DatabaseError, match="not an activeloop database"):
        Pool.open(junk)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    with pytest.raises(DatabaseError, match="not an activeloop database"):
        Pool.open(other)
    with pytest.raises(DatabaseError, match="not an activeloop database"):
        Pool.create(other, "p", ["a", "b"])
    with sqlite3.connect(other) as conn:  # nothing was added to someone else's database
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert names == {"customers"}


def test_newer_schema_is_refused(store_url):
    Pool.create(store_url, "p", ["a", "b"]).close()
    engine = db.make_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00d9999'"))
    engine.dispose()
    with pytest.raises(SchemaTooNewError, match="newer activeloop"):
        Pool.open(store_url)


def test_older_schema_is_upgraded_on_open_or_refused_with_the_command(store_url):
    engine = db.make_engine(store_url)
    db.upgrade(engine, "0001")
    engine.dispose()
    with pytest.raises(SchemaOutdatedError, match="activeloop upgrade"):
        Pool.open(store_url, auto_upgrade=False)
    Pool.create(store_url, "p", ["a", "b"]).close()  # create upgrades too
    engine = db.make_engine(store_url)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_db):
    Pool.create(tmp_db, "p", ["a", "b"]).close()
    engine = db.connect(tmp_db)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == db.WAL_AUTOCHECKPOINT_PAGES
    engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_engines_open(url):
    engine = db.make_engine(url)  # one connection per thread there: no queue, so no LIFO order
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()


def test_a_file_engine_hands_out_the_connection_returned_last(tmp_db):
    Pool.create(tmp_db, "p", ["a", "b"]).close()
    engine = db.make_engine(tmp_db)
    first, second = engine.connect(), engine.connect()
    kept = second.connection.dbapi_connection
    first.close()
    second.close()
    with engine.connect() as again:  # its page cache is the warm one
        assert again.connection.dbapi_connection is kept
    engine.dispose()


def test_foreign_keys_are_enforced(store_url):
    Pool.create(store_url, "p", ["a", "b"]).close()
    engine = db.connect(store_url)
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO labels (example_id, class_id, annotator, source, created_at) "
                    "VALUES (12345, 1, 'x', 'human', :now)"
                ),
                {"now": datetime(2026, 1, 1)},
            )
    engine.dispose()


# ---------------------------------------------------------------- examples
def test_add_returns_ids_in_input_order_and_round_trips_everything(filled):
    pool, X = filled
    assert pool.dim == 4 and pool.count() == 50 and pool.count("pool") == 40 and pool.count("eval") == 10
    ids = pool.unlabeled_ids()
    assert len(ids) == 40
    np.testing.assert_array_equal(pool.features(ids[::-1]), X[::-1])
    assert pool.payloads([ids[3], ids[0]]) == [{"text": "ticket 3", "n": 3}, {"text": "ticket 0", "n": 0}]
    ex = pool.example(int(ids[5]))
    assert ex == {"id": int(ids[5]), "external_id": "t5", "payload": {"text": "ticket 5", "n": 5}, "split": "pool",
                  "label": None}
    assert pool.external_ids([int(ids[7]), int(ids[2]), 10**9]) == ["t7", "t2", None]  # in order; not ours: None


def test_payloads_and_external_ids_read_their_rows_by_primary_key(tmp_path):
    """With the project in the WHERE, SQLite would walk the project's index: every example, per call."""
    pool = Pool.create(tmp_path / "p.db", "tickets", CLASSES)
    ids = [int(i) for i in pool.add(np.zeros((30, 2)), payloads=[{"n": i} for i in range(30)])[::3]]
    seen = []

    def record(conn, cursor, stmt, params, context, many):
        seen.append((stmt, params))

    sa.event.listen(pool._engine, "before_cursor_execute", record)
    assert pool.payloads(ids[:2]) == [{"n": 0}, {"n": 3}] and len(pool.external_ids(ids)) == len(ids)
    sa.event.remove(pool._engine, "before_cursor_execute", record)
    with pool._engine.connect() as conn:
        plans = [" ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {stmt}", params))
                 for stmt, params in seen if "FROM examples" in stmt]
    pool.close()
    assert len(plans) == 2 and all("USING INTEGER PRIMARY KEY" in p for p in plans), plans


def test_default_external_ids_continue_across_batches(pool):
    a = pool.add(np.zeros((2, 3)))
    b = pool.add(np.zeros((2, 3)))
    assert [pool.example(int(i))["external_id"] for i in [*a, *b]] == ["#0", "#1", "#2", "#3"]


def test_iter_features_streams_every_unlabeled_row_in_id_order(filled):
    pool, X = filled
    ids = pool.unlabeled_ids()
    pool.label(int(ids[2]), "fraud")
    for chunk_size in (1, 7, 50_000):
        _check_chunks(pool, X, ids, chunk_size)


def _check_chunks(pool, X, ids, chunk_size):
    chunks = list(pool.iter_features(chunk_size=chunk_size))
    assert all(len(c[0]) <= chunk_size for c in chunks)
    got_ids = np.concatenate([c[0] for c in chunks])
    got_X = np.concatenate([c[1] for c in chunks])
    assert got_X.dtype == np.float32
    np.testing.assert_array_equal(got_ids, np.delete(ids, 2))
    np.testing.assert_array_equal(got_X, np.delete(X, 2, axis=0))
    everything = np.concatenate([c[0] for c in pool.iter_features(unlabeled=False, chunk_size=chunk_size)])
    np.testing.assert_array_equal(everything, ids)
    eval_ids = np.concatenate([c[0] for c in pool.iter_features(split="eval", chunk_size=chunk_size)])
    assert len(eval_ids) == 10 and not set(eval_ids) & set(ids)


def test_add_with_labels_records_import_labels(pool):
    ids = pool.add(np.eye(4), labels=["ok", None, "fraud", "ok"])
    assert pool.class_counts() == {"ok": 2, "fraud": 1, "spam": 0}
    lab_ids, y = pool.labeled()
    np.testing.assert_array_equal(lab_ids, ids[[0, 2, 3]])
    np.testing.assert_array_equal(y, [0, 1, 0])
    assert {r["source"] for r in pool.export_labels()} == {"import"}


REFUSED_ADDS = [
    ({"X": [[1.0, float("nan")]]}, RowError),
    ({"X": [[1.0, float("inf")]]}, RowError),
    ({"X": [[1.0, 1e39]]}, RowError),  # beyond float32
    ({"X": [[1.0, 2.0, 3.0]]}, DimensionError),  # the pool has dimension 2
    ({"X": [1.0, 2.0]}, DimensionError),
    ({"X": [["a", "b"]]}, ActiveloopError),
    ({"X": [[1.0, 2.0]], "labels": ["nope"]}, UnknownClassError),
    ({"X": [[1.0, 2.0], [3.0, 4.0]], "external_ids": ["a", "a"]}, RowError),
    ({"X": [[1.0, 2.0]], "external_ids": ["first"]}, RowError),  # already in the pool
    ({"X": [[1.0, 2.0]], "external_ids": ["a\x00b"]}, RowError),
    ({"X": [[1.0, 2.0]], "payloads": [object()]}, RowError),  # not JSON
    ({"X": [[1.0, 2.0]], "split": "train"}, ActiveloopError),
    ({"X": [[1.0, 2.0]], "payloads": [1, 2]}, ActiveloopError),
]


def test_a_refused_add_writes_nothing(pool):
    pool.add([[0.0, 0.0]], external_ids=["first"])
    before = _table_counts(pool.url)
    for kwargs, error in REFUSED_ADDS:
        with pytest.raises(error):
            pool.add(**kwargs)
        assert _table_counts(pool.url) == before, kwargs
    assert pool.dim == 2


def test_a_refused_row_is_named_by_its_index_and_field(pool):
    with pytest.raises(RowError) as info:
        pool.add([[0.0, 1.0], [2.0, float("nan")]])
    err = info.value
    assert (err.row, err.field) == (1, "1")
    assert str(err) == "project 'tickets' row 1, field '1': nan is not a finite number"
    pool.add([[0.0, 1.0]], external_ids=["x"])
    with pytest.raises(RowError, match="project 'tickets' row 1, field 'external_id': 'x' is already in the pool"):
        pool.add([[0.0, 1.0], [0.0, 2.0]], external_ids=["y", "x"])
    with pytest.raises(UnknownClassError, match=r"project 'tickets' row 1: 'nope' is not one of the classes"):
        pool.add([[0.0, 1.0], [0.0, 2.0]], labels=["ok", "nope"])


def test_an_add_failing_half_way_leaves_nothing_behind(pool, monkeypatch):
    """Every write is one transaction: an error after some chunks were inserted rolls all of them back."""
    monkeypatch.setattr(examples_module, "INSERT_CHUNK", 5)
    written = []
    insert = examples_module.bulk_insert

    def failing_insert(conn, table, columns, rows):
        insert(conn, table, columns, rows)
        written.append(conn.scalar(sa.text("SELECT count(*) FROM examples")))
        if len(written) == 2:
            raise RuntimeError("disk on fire")

    monkeypatch.setattr(examples_module, "bulk_insert", failing_insert)
    with pytest.raises(RuntimeError):
        pool.add(np.ones((23, 3)), labels=["ok"] * 23)
    assert written == [5, 10]  # rows really were inserted before the failure
    monkeypatch.setattr(examples_module, "bulk_insert", insert)
    assert _table_counts(pool.url)["examples"] == 0 and _table_counts(pool.url)["labels"] == 0
    assert pool.dim is None
    with Pool.open(pool.url) as again:
        assert again.dim is None
    pool.add(np.ones((2, 5)))  # the dimension was not fixed by the failed add
    assert pool.dim == 5


def test_a_pool_opened_before_the_first_add_reads_rows_added_elsewhere(store_url):
    early = Pool.create(store_url, "p", ["a", "b"])
    with Pool.open(store_url) as other:
        other.add(np.arange(6, dtype=np.float32).reshape(3, 2))
    ids, X = next(early.iter_features())
    np.testing.assert_array_equal(X, np.arange(6, dtype=np.float32).reshape(3, 2))
    np.testing.assert_array_equal(early.features(ids[::-1]), X[::-1])
    np.testing.assert_array_equal(early.labeled_xy()[1].shape, (0, 2))
    early.close()


# ---------------------------------------------------------------- labels
def test_label_then_undo_retracts_only_that_annotators_last_label(filled):
    pool, _ = filled
    ids = pool.unlabeled_ids()
    pool.label(int(ids[0]), "ok", annotator="ana")
    pool.label(int(ids[1]), "fraud", annotator="ana")
    pool.label(int(ids[2]), "spam", annotator="bo")
    assert pool.undo(annotator="ana") == ids[1]
    assert pool.current_label(int(ids[1])) is None
    assert pool.current_label(int(ids[2])) == "spam"
    assert pool.class_counts() == {"ok": 1, "fraud": 0, "spam": 1}
    assert pool.undo(annotator="ana") == ids[0]
    assert pool.undo(annotator="ana") is None
    assert pool.current_label(int(ids[2])) == "spam"
    assert pool.label_count(annotator="bo") == 1 and pool.label_count() == 1


def test_undo_keeps_the_log_and_restores_the_previous_label(filled):
    pool, _ = filled
    eid = int(pool.unlabeled_ids()[0])
    pool.label(eid, "ok", annotator="ana")
    pool.label(eid, "fraud", annotator="ana")
    assert pool.current_label(eid) == "fraud"
    assert pool.undo(annotator="ana") == eid
    assert pool.current_label(eid) == "ok"
    assert _table_counts(pool.url)["labels"] == 2  # nothing is deleted


def test_class_counts_has_every_class_and_only_current_labels(filled):
    pool, _ = filled
    assert pool.class_counts() == {"ok": 0, "fraud": 0, "spam": 0}
    ids = pool.unlabeled_ids()
    pool.label(int(ids[0]), "ok")
    pool.label(int(ids[0]), "fraud")  # relabel: the newest counts
    pool.label(int(ids[1]), "fraud")
    eval_id = int(pool.unlabeled_ids("eval")[0])
    pool.label(eval_id, "spam")
    assert pool.class_counts() == {"ok": 0, "fraud": 2, "spam": 0}
    assert pool.class_counts("eval") == {"ok": 0, "fraud": 0, "spam": 1}
    assert len(pool.unlabeled_ids()) == 38 and len(pool.unlabeled_ids("eval")) == 9
    ids_l, X_l, y_l = pool.labeled_xy()
    np.testing.assert_array_equal(ids_l, ids[:2])
    np.testing.assert_array_equal(y_l, [1, 1])
    assert X_l.shape == (2, 4)


def test_label_refuses_unknown_classes_examples_and_sources(filled):
    pool, _ = filled
    eid = int(pool.unlabeled_ids()[0])
    with pytest.raises(UnknownClassError):
        pool.label(eid, "Fraud")
    with pytest.raises(ActiveloopError):
        pool.label(10**9, "ok")
    with pytest.raises(ActiveloopError):
        pool.label(eid, "ok", source="guess")
    assert pool.label_count() == 0


def test_export_labels_lists_current_labels(filled):
    pool, _ = filled
    ids = pool.unlabeled_ids()
    pool.label(int(ids[4]), "spam", annotator="ana", source="oracle")
    (row,) = pool.export_labels()
    assert {k: row[k] for k in ("example_id", "external_id", "split", "label", "annotator", "source")} == {
        "example_id": int(ids[4]), "external_id": "t4", "split": "pool", "label": "spam", "annotator": "ana",
        "source": "oracle",
    }


# ---------------------------------------------------------------- leases and skips
def test_leased_examples_go_to_one_annotator_only(filled):
    pool, _ = filled
    ids = [int(i) for i in pool.unlabeled_ids()[:6]]
    assert pool.lease(ids[:4], annotator="ana", strategy="margin", scores=[4, 3, 2, 1]) == ids[:4]
    assert pool.lease(ids, annotator="bo", strategy="margin") == ids[4:]
    leases = pool.active_leases("ana")
    assert [(x.example_id, x.strategy, x.score) for x in leases] == [(i, "margin", s) for i, s in zip(ids, [4, 3, 2, 1])]
    assert set(pool.excluded_ids("carl")) == set(ids)
    pool.label(ids[0], "ok", annotator="ana")  # closes ana's lease
    pool.release(ids[1:2], annotator="ana")
    assert [x.example_id for x in pool.active_leases("ana")] == ids[2:4]
    assert pool.lease(ids[:2], annotator="bo", strategy="margin") == ids[1:2]  # labeled stays out
    assert set(pool.excluded_ids("carl")) == set(ids)


def test_expired_leases_return_to_the_pool(filled):
    pool, _ = filled
    pool.clock = clock = FakeClock()
    ids = [int(i) for i in pool.unlabeled_ids()[:3]]
    pool.lease(ids, annotator="ana", strategy="s", ttl=60)
    assert [x.expires_at for x in pool.active_leases("ana")] == [clock.now + timedelta(seconds=60)] * 3
    clock.advance(59.9)
    assert pool.lease(ids, annotator="bo", strategy="s") == []
    assert set(pool.excluded_ids("bo")) == set(ids)
    clock.advance(0.2)
    assert pool.active_leases() == []
    assert pool.excluded_ids("bo").size == 0
    assert pool.lease(ids, annotator="bo", strategy="s") == ids


def test_a_label_on_someone_elses_live_lease_is_refused_naming_the_holder(filled):
    pool, _ = filled
    pool.clock = clock = FakeClock()
    eid = int(pool.unlabeled_ids()[0])
    pool.lease([eid], annotator="ana", strategy="s", ttl=60)
    with pytest.raises(LeaseError, match=rf"example {eid} is leased to 'ana' until") as refused:
        pool.label(eid, "ok", annotator="bo")
    assert (refused.value.holder, refused.value.expires_at) == ("ana", clock.now + timedelta(seconds=60))
    assert pool.current_label(eid) is None and [x.annotator for x in pool.active_leases()] == ["ana"]
    pool.label(eid, "fraud", annotator="ana")  # the holder labels it
    assert pool.current_label(eid) == "fraud"


def test_a_lapsed_lease_is_taken_over(filled):
    pool, _ = filled
    pool.clock = clock = FakeClock()
    eid = int(pool.unlabeled_ids()[0])
    pool.lease([eid], annotator="ana", strategy="s", ttl=60)
    clock.advance(60.5)
    pool.label(eid, "ok", annotator="bo")
    assert pool.current_label(eid) == "ok" and pool.label_count(annotator="bo") == 1
    engine = db.make_engine(pool.url)
    with engine.connect() as conn:
        closed = conn.execute(sa.select(Lease.annotator, Lease.outcome, Lease.released_at)).all()
    engine.dispose()
    assert [tuple(r) for r in closed] == [("ana", "taken over", clock.now)]


def test_undo_retracts_only_your_own_labels(filled):
    pool, _ = filled
    a, b = (int(i) for i in pool.unlabeled_ids()[:2])
    pool.label(a, "ok", annotator="ana")
    pool.label(b, "fraud", annotator="bo")  # newer, but not ana's
    assert pool.undo(annotator="ana") == a
    assert (pool.current_label(a), pool.current_label(b)) == (None, "fraud")
    assert pool.undo(annotator="ana") is None


def test_a_label_written_twice_under_one_key_is_one_label(filled):
    """What a retry after an ambiguous commit does: the second write finds the first."""
    pool, _ = filled
    eid = int(pool.unlabeled_ids()[0])
    first = pool.label(eid, "ok", annotator="ana", key="k1")
    assert pool.label(eid, "ok", annotator="ana", key="k1") == first
    assert pool.label_count() == 1
    assert pool.label(eid, "fraud", annotator="ana", key="k2") != first  # a new key is a new label (a relabel)


def test_the_clock_stamps_labels_and_rounds(filled):
    pool, _ = filled
    pool.clock = clock = FakeClock()
    eid = int(pool.unlabeled_ids()[0])
    pool.label(eid, "ok", annotator="ana")
    assert pool.export_labels()[0]["labeled_at"] == clock.now.isoformat(sep=" ", timespec="seconds")
    clock.advance(3600)
    rnd = pool.record_round(n_labels=1, strategy="s", checkpoint=None, metrics={}, config={}, started_at=clock.now)
    assert rnd.finished_at == clock.now


def test_skip_hides_an_example_from_that_annotator_only(filled):
    pool, _ = filled
    a, b = (int(i) for i in pool.unlabeled_ids()[:2])
    pool.lease([a], annotator="ana", strategy="s")
    pool.skip(a, annotator="ana")
    pool.skip(b, annotator="ana")  # skipped without a lease
    assert set(pool.excluded_ids("ana")) == {a, b}
    assert pool.excluded_ids("bo").size == 0
    assert pool.lease([a, b], annotator="bo", strategy="s") == [a, b]
    assert pool.active_leases("ana") == []


def test_excluded_ids_respects_the_split(filled):
    pool, _ = filled
    e = int(pool.unlabeled_ids("eval")[0])
    p = int(pool.unlabeled_ids()[0])
    pool.lease([e, p], annotator="ana", strategy="s")
    assert list(pool.excluded_ids("bo")) == [p]
    assert list(pool.excluded_ids("bo", split="eval")) == [e]


# ---------------------------------------------------------------- rounds and checkpoints
def test_rounds_are_numbered_and_checkpoints_verified(filled):
    pool, _ = filled
    assert pool.latest_round() is None and pool.rounds() == [] and pool.load_checkpoint() is None
    t0 = datetime(2026, 1, 1, 12, 0, 0)
    blob = bytes(range(256)) * 1000
    r1 = pool.record_round(n_labels=5, strategy="margin", checkpoint=blob, metrics={"macro_f1": 0.5, "n_eval": 3},
                           config={"gamma": 2.0}, started_at=t0)
    r2 = pool.record_round(n_labels=9, strategy="margin", checkpoint=None, metrics={"n_eval": 0}, config={},
                           started_at=t0)
    assert (r1.number, r2.number) == (1, 2) and r1.has_checkpoint and not r2.has_checkpoint
    assert [r.number for r in pool.rounds()] == [1, 2]
    assert pool.latest_round() == r2
    assert pool.rounds()[0].metrics == {"macro_f1": 0.5, "n_eval": 3} and pool.rounds()[0].config == {"gamma": 2.0}
    assert pool.load_checkpoint() == blob  # the latest round that has one
    assert pool.load_checkpoint(1) == blob and pool.load_checkpoint(2) is None
    engine = db.connect(pool.url)
    with engine.connect() as conn:
        sha = conn.execute(sa.text("SELECT checkpoint_sha256 FROM rounds WHERE number = 1")).scalar()
    engine.dispose()
    assert sha == hashlib.sha256(blob).hexdigest()
    eid = int(pool.unlabeled_ids()[0])
    pool.label(eid, "ok")
    assert pool.export_labels()[0]["example_id"] == eid


def test_a_retried_round_whose_first_attempt_committed_is_recorded_once(filled):
    """The retry after an ambiguous commit (the round committed, the reply was lost) adds no second round."""
    pool, _ = filled
    t0 = datetime(2026, 1, 1, 12, 0, 0, 123456)
    blob = b"weights" * 100
    first = pool.record_round(n_labels=5, strategy="margin", checkpoint=blob, metrics={}, config={}, started_at=t0)
    again = pool.record_round(n_labels=5, strategy="margin", checkpoint=blob, metrics={}, config={}, started_at=t0)
    other = pool.record_round(n_labels=5, strategy="margin", checkpoint=blob + b"!", metrics={}, config={}, started_at=t0)
    assert again == first
    assert [r.number for r in pool.rounds()] == [1, 2] and other.number == 2


def test_a_damaged_checkpoint_is_refused_by_its_sha256(pool):
    blob = b"model weights " * 5000
    pool.record_round(n_labels=1, strategy=None, checkpoint=blob, metrics={}, config={}, started_at=datetime(2026, 1, 1))
    damaged = [blob[: len(blob) // 2], blob[:100] + bytes([blob[100] ^ 1]) + blob[101:], b"\x80\x04evil pickle", b""]
    engine = db.connect(pool.url)
    for bad in damaged:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE rounds SET checkpoint = :b"), {"b": bad})
        with pytest.raises(CheckpointError, match="sha256"):
            pool.load_checkpoint()
        with pytest.raises(CheckpointError, match="round 1"):
            pool.load_checkpoint(1)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE rounds SET checkpoint = :b"), {"b": blob})
    engine.dispose()
    assert pool.load_checkpoint() == blob


def test_featurizer_spec_and_state_persist(pool):
    assert pool.featurizer == (None, None)
    pool.set_featurizer({"kind": "tfidf", "max_features": 100}, b"\x00state\xff")
    with Pool.open(pool.url) as again:
        assert again.featurizer == ({"kind": "tfidf", "max_features": 100}, b"\x00state\xff")
