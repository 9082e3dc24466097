"""Alembic revisions: head matches the models, and every older database upgrades with its rows intact.

The fill is generic (reflection: every table and column a revision has, values by column type,
foreign keys pointing at rows inserted before), so a new revision is covered without editing
this file.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from activeloop.errors import DatabaseError
from activeloop.store import Pool, db, migrate
from activeloop.store.schema import Base

ROWS = 7
T0 = datetime(2026, 3, 1, 9, 30, 15, 123000)


def _revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(db.alembic_config())
    return [s.revision for s in reversed(list(script.walk_revisions()))]


REVISIONS = _revisions()
EARLIER = REVISIONS[:-1]


def _value(table: sa.Table, col: sa.Column, i: int, fks: dict[str, str]):
    """A deterministic, type-appropriate value for row ``i`` (ids and foreign keys are 1..ROWS)."""
    if col.primary_key or col.name in fks:
        return i + 1
    t = col.type
    if isinstance(t, sa.JSON):
        return {"row": i, "text": f"{table.name} é ✓ {i}", "nested": [i, None, True]}
    if isinstance(t, sa.LargeBinary):
        return bytes([i % 256]) * (i + 3) + b"\x00\xff"
    if isinstance(t, sa.DateTime):
        return T0 + timedelta(minutes=i)
    if isinstance(t, sa.Float):
        return 0.5 + i
    if isinstance(t, sa.Integer):
        return 10 + i
    if isinstance(t, sa.String):
        n = t.length or 64
        return f"{col.name[:3]}{i}"[:n]
    raise AssertionError(f"no test value for {table.name}.{col.name} of type {t!r}")


Snapshot = dict[str, tuple[list[str], list[tuple]]]  # table -> (columns, sorted rows)


def _fill(engine: sa.Engine) -> Snapshot:
    """Insert ROWS rows into every table the database has (parents first); returns them as read back.

    Primary keys come from the database (so PostgreSQL's sequences move on as in real use); in a
    fresh database they are 1..ROWS, which the foreign keys point at.
    """
    meta = sa.MetaData()
    meta.reflect(engine)
    columns: dict[str, list[str]] = {}
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            if table.name == "alembic_version":
                continue
            fks = {fk.parent.name: fk.column.table.name for fk in table.foreign_keys}
            rows = [{c.name: _value(table, c, i, fks) for c in table.columns if not c.primary_key} for i in range(ROWS)]
            conn.execute(table.insert(), rows)
            columns[table.name] = [c.name for c in table.columns]
    return _read(engine, columns)


def _read(engine: sa.Engine, columns: dict[str, list[str]] | Snapshot) -> Snapshot:
    """The rows of the given tables over the given columns (a Snapshot names both)."""
    meta = sa.MetaData()
    meta.reflect(engine)
    out: Snapshot = {}
    with engine.connect() as conn:
        for name, spec in columns.items():
            cols = spec[0] if isinstance(spec, tuple) else spec
            table = meta.tables[name]
            result = conn.execute(sa.select(*[table.c[c] for c in cols]))
            out[name] = (cols, sorted(tuple(_plain(v) for v in row) for row in result))
    return out


def _plain(v):
    return bytes(v) if isinstance(v, memoryview) else v


def _schema_diffs(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(ctx, Base.metadata)


def test_there_is_a_linear_history_ending_at_head():
    assert REVISIONS and REVISIONS[-1] == db.head_revision()
    script = ScriptDirectory.from_config(db.alembic_config())
    assert len(script.get_heads()) == 1


def test_the_head_read_from_the_revision_files_is_alembics():
    """Opening a current database compares with this head instead of importing Alembic."""
    assert db.packaged_head() == db.head_revision()


_OPEN = r"""
import sys
from activeloop.errors import ActiveloopError
from activeloop.store import Pool
try:
    Pool.open(sys.argv[1], auto_upgrade=False).close()
    print("opened", "alembic" in sys.modules)
except ActiveloopError as exc:
    print(exc)
"""


def test_a_current_database_opens_without_alembic_and_an_outdated_one_is_refused_as_before(store_url):
    Pool.create(store_url, "p", ["a", "b"]).close()
    run = lambda: subprocess.run([sys.executable, "-c", _OPEN, store_url], capture_output=True, text=True,  # noqa: E731
                                 check=True).stdout.strip()
    assert run() == "opened False"
    engine = db.make_engine(store_url)
    db.downgrade(engine, EARLIER[-1])
    engine.dispose()
    name = db.display_name(store_url, db.sqlite_path(store_url))
    assert run() == (f"{name}: schema {EARLIER[-1]} is older than {db.head_revision()}; "
                     f"run `activeloop upgrade {name}`")


def test_an_empty_database_upgraded_to_head_matches_the_models(store_url):
    engine = db.make_engine(store_url)
    db.upgrade(engine, "head")
    assert _schema_diffs(engine) == []
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_create_all_and_the_migrations_give_the_same_schema(tmp_path):
    """The models and the revisions agree both ways: a create_all database has nothing to migrate either."""
    engine = db.make_engine(tmp_path / "create_all.db")
    Base.metadata.create_all(engine)
    assert _schema_diffs(engine) == []
    engine.dispose()


@pytest.mark.parametrize("rev", EARLIER)
def test_a_database_at_every_earlier_revision_upgrades_with_every_row_intact(store_url, rev):
    engine = db.make_engine(store_url)
    db.upgrade(engine, rev)
    written = _fill(engine)
    assert written, f"revision {rev} has no tables to fill"
    engine.dispose()
    with Pool.open(store_url, project="nam0") as pool:  # opening upgrades to head, then the pool works
        examples = sa.Table("examples", sa.MetaData(), sa.Column("payload", sa.JSON))
        assert pool.count() == 1 and pool.example(1)["payload"] == _value(examples, examples.c.payload, 0, {})
        pool.label(1, pool.classes[0], annotator="after-upgrade")
    engine = db.make_engine(store_url)
    assert db.current_revision(engine) == db.head_revision()
    assert _schema_diffs(engine) == []
    before = written
    after = _read(engine, written)
    if "labels" in after:  # the label written after the upgrade is new, not a changed row
        cols, rows = after["labels"]
        after["labels"] = (cols, [r for r in rows if r[0] <= ROWS])
    assert after == before
    engine.dispose()


@pytest.mark.parametrize("rev", EARLIER)
def test_downgrade_then_upgrade_keeps_the_rows_of_tables_that_survive(store_url, rev):
    engine = db.make_engine(store_url)
    db.upgrade(engine, "head")
    written = _fill(engine)
    db.downgrade(engine, rev)
    assert db.current_revision(engine) == rev
    inspector = sa.inspect(engine)
    survivors = {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()}
    survivors.pop("alembic_version", None)
    assert survivors, f"downgrading to {rev} dropped every table"
    db.upgrade(engine, "head")
    assert _schema_diffs(engine) == []
    after = _read(engine, written)
    for table, kept in survivors.items():  # a column a later revision added comes back empty; the others intact
        cols, rows = written[table]
        keep = [k for k, c in enumerate(cols) if c in kept]
        assert [tuple(r[k] for k in keep) for r in after[table][1]] == [tuple(r[k] for k in keep) for r in rows], table
    engine.dispose()


def test_an_upgrade_failing_half_way_leaves_the_old_revision_and_rows(store_url):
    """Upgrades run in one transaction: when a revision's DDL fails, nothing of the upgrade stays."""
    if not EARLIER:
        pytest.skip("only one revision")
    engine = db.make_engine(store_url)
    db.upgrade(engine, "head")
    at_head = set(sa.inspect(engine).get_table_names())
    db.downgrade(engine, "base")
    db.upgrade(engine, EARLIER[-1])
    new_tables = sorted(at_head - set(sa.inspect(engine).get_table_names()))
    if not new_tables:
        pytest.skip("the newest revision adds no table to collide with")
    written = _fill(engine)
    with engine.begin() as conn:  # a table in the way of the newest revision makes its DDL fail
        conn.execute(sa.text(f"CREATE TABLE {new_tables[-1]} (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(sa.exc.DatabaseError):
        Pool.open(store_url, project="nam0")
    engine = db.make_engine(store_url)
    assert db.current_revision(engine) == EARLIER[-1]
    assert set(sa.inspect(engine).get_table_names()) - {new_tables[-1]} == set(written) | {"alembic_version"}
    assert _read(engine, written) == written
    engine.dispose()


def test_a_pool_made_at_head_survives_a_full_downgrade_and_upgrade_of_the_newest_revision(store_url):
    pool = Pool.create(store_url, "p", ["a", "b"])
    ids = pool.add(np.arange(12, dtype=np.float32).reshape(6, 2), labels=["a", None, "b", None, None, None])
    pool.label(int(ids[1]), "b", annotator="ana")
    pool.close()
    engine = db.make_engine(store_url)
    db.downgrade(engine, REVISIONS[-2] if len(REVISIONS) > 1 else "base")
    db.upgrade(engine, "head")
    engine.dispose()
    with Pool.open(store_url) as pool:
        assert pool.class_counts() == {"a": 1, "b": 2}
        np.testing.assert_array_equal(pool.features(ids), np.arange(12, dtype=np.float32).reshape(6, 2))


def test_upgrade_reports_the_revisions_before_and_after(store_url):
    Pool.create(store_url, "p", ["a", "b"]).close()
    engine = db.make_engine(store_url)
    db.downgrade(engine, REVISIONS[0])
    engine.dispose()
    assert migrate.upgrade(store_url) == (REVISIONS[0], db.head_revision())
    assert migrate.upgrade(store_url) == (db.head_revision(), db.head_revision())
    with Pool.open(store_url, auto_upgrade=False) as pool:
        assert pool.classes == ["a", "b"]


def test_upgrade_refuses_a_missing_file_and_a_foreign_database(tmp_path):
    with pytest.raises(DatabaseError, match="no such database"):
        migrate.upgrade(tmp_path / "missing.db")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    engine.dispose()
    with pytest.raises(DatabaseError, match="not an activeloop database"):
        migrate.upgrade(tmp_path / "other.db")
