"""PostgreSQL specifics: a whole new database (not a schema), and the schema it gets from the revisions."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from activeloop.errors import SchemaTooNewError
from activeloop.store import Pool, db
from activeloop.store.schema import utcnow

pytestmark = pytest.mark.postgres


def test_a_fresh_postgresql_database_serves_the_whole_pool_api(pg_database):
    with Pool.create(pg_database, "tickets", ["ok", "fraud"]) as pool:
        ids = pool.add(np.eye(4, dtype=np.float32), payloads=[{"t": "é"}] * 4, labels=["ok", None, None, "fraud"])
        pool.lease(ids[1:3], annotator="ana", strategy="margin", scores=[0.9, 0.1])
        pool.label(int(ids[1]), "fraud", annotator="ana")
        pool.record_round(n_labels=3, strategy="margin", checkpoint=b"\x00" * 1000, metrics={"macro_f1": float("nan")},
                          config={}, started_at=utcnow())
    with Pool.open(pg_database) as pool:
        assert pool.class_counts() == {"ok": 1, "fraud": 2}
        assert [x.example_id for x in pool.active_leases()] == [int(ids[2])]
        assert pool.load_checkpoint() == b"\x00" * 1000
        assert pool.latest_round().metrics == {"macro_f1": None}  # PostgreSQL json has no NaN
    engine = sa.create_engine(pg_database)
    with engine.connect() as conn:
        types = dict(conn.execute(sa.text(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema()")).all())
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == db.head_revision()
    engine.dispose()
    assert types["examples.features"] == "bytea" and types["rounds.checkpoint"] == "bytea"
    assert types["examples.payload"] == "json" and types["leases.score"] in ("double precision", "real")


def test_a_newer_schema_on_postgresql_is_refused(pg_database):
    Pool.create(pg_database, "p", ["a", "b"]).close()
    engine = sa.create_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    engine.dispose()
    with pytest.raises(SchemaTooNewError):
        Pool.open(pg_database)
