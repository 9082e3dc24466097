"""Stored scores that fail their checks in the database: the query rescores from the round's checkpoint instead."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from activeloop.loop import Loop
from activeloop.query import QueryEngine
from activeloop.store import Pool, db
from activeloop.store.scores import ScoresError, pack, unpack

from test_stored_scores import CLASSES, _data, _pool_with_round, _small_model


def _blobs(url) -> dict[int, tuple[int, bytes]]:
    """round_scores' id -> (its round's project id, data)."""
    engine = db.make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT rs.id, r.project_id, rs.data FROM round_scores rs "
                                    "JOIN rounds r ON r.id = rs.round_id ORDER BY rs.id")).all()
    engine.dispose()
    return {r[0]: (r[1], bytes(r[2])) for r in rows}


def _set(url, sql: str, **params) -> None:
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)
    engine.dispose()


def _picks(pool, strategy="default"):
    engine = QueryEngine(strategy=strategy, batch_size=10, random_state=0)
    picks = [q.example_id for q in engine.query(pool, 10, annotator="ana")]
    pool.release(picks, annotator="ana")
    return engine.scores_from_, picks


def _flip(blob: bytes) -> bytes:
    out = bytearray(blob)
    out[-50] ^= 1
    return bytes(out)


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "round", "length"])
def test_a_damaged_blob_is_set_aside_and_the_query_rescores_to_the_same_picks(store_url, damage):
    pool, loop = _pool_with_round(store_url)
    key = loop.engine.score_key
    want = _picks(pool)
    assert want[0] == "stored"
    [(rid, (_, blob))] = _blobs(store_url).items()
    if damage == "round":  # a checksum-valid blob of another round
        blob = pack(unpack(blob).tied_to(7))
    if damage == "length":  # the row says more rows than the blob holds
        _set(store_url, "UPDATE round_scores SET n = n + 1")
    else:
        data = {"flip": _flip(blob), "truncate": blob[:-9], "empty": b""}.get(damage, blob)
        _set(store_url, "UPDATE round_scores SET data = :d WHERE id = :i", d=data, i=rid)
    with pytest.raises(ScoresError, match="round 1's stored scores"):
        pool.load_scores(1, key)
    with pytest.warns(RuntimeWarning, match="round 1's stored scores.*rescoring"):
        got = _picks(pool)
    assert got == ("scored", want[1])  # the checkpoint's picks: what the intact scores gave
    pool.close()


@pytest.mark.parametrize("strategy", ["default", "margin"])
def test_a_blob_moved_from_another_project_never_leases_that_projects_examples(tmp_path, strategy):
    url = tmp_path / "p.db"
    pool, loop = _pool_with_round(url)
    X, y = _data(seed=1)
    other = Pool.create(url, "q", CLASSES)
    other.add(X, labels=[CLASSES[y[i]] if i % 9 == 0 or y[i] == 2 else None for i in range(400)])
    Loop(other, _small_model(), batch_size=10).retrain()
    want = _picks(pool, strategy)
    (mine, (_, _)), (_, (_, theirs)) = _blobs(url).items()
    _set(url, "UPDATE round_scores SET data = :d WHERE id = :i", d=theirs, i=mine)
    with pytest.warns(RuntimeWarning, match="project"):
        source, picks = _picks(pool, strategy)
    ours = set(pool.unlabeled_ids("pool").tolist())
    assert set(picks) <= ours
    assert (source, picks) == ("scored", want[1])
    other.close()
    pool.close()


def test_the_cli_query_on_a_damaged_blob_rescores_and_leases_the_same_picks(tmp_path):
    from click.testing import CliRunner

    from activeloop.cli import app

    url = tmp_path / "p.db"
    pool, _ = _pool_with_round(url)
    want = _picks(pool)[1]
    pool.close()
    [(rid, (_, blob))] = _blobs(url).items()
    _set(url, "UPDATE round_scores SET data = :d WHERE id = :i", d=_flip(blob), i=rid)
    res = CliRunner().invoke(app, ["query", str(url), "-n", "10", "--json"])
    assert res.exit_code == 0, res.output
    import json

    got = [json.loads(line)["id"] for line in res.stdout.splitlines() if line.startswith("{")]
    assert got == want
