"""A round's stored scores: the blob, the per-class heads, and queries from them on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from activeloop.loop import Loop
from activeloop.query import QueryEngine, resolve
import activeloop.query.engine as engine_module
from activeloop.query.scoring import ExcludedRows, class_heads, not_in
from activeloop.query.strategies import Context
from activeloop.store import Pool, db
from activeloop.store.scores import Scores, ScoresError, class_order, pack, unpack

CLASSES = ["ok", "spam", "fraud"]


def _random_scores(n=3000, C=3, seed=0) -> Scores:
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(10 * n, n, replace=False)) + 1
    base = rng.random(n).astype(np.float32)
    base[rng.choice(n, n // 10)] = 0.5  # plenty of ties
    pred = rng.choice(C, n, p=[0.7, 0.2, 0.1])
    return Scores.build("margin", 4, ids, base, pred, rng.random(n), C)


# ------------------------------------------------------------------ the blob
def test_pack_and_unpack_give_back_every_array():
    s = _random_scores()
    back = unpack(pack(s))
    assert (back.key, back.round, back.n_classes) == ("margin", 4, 3)
    for f in ("ids", "base", "predicted", "confidence", "order", "starts"):
        np.testing.assert_array_equal(getattr(back, f), getattr(s, f))
        assert getattr(back, f).dtype == getattr(s, f).dtype


def test_the_blob_is_about_17_bytes_per_example():
    s = _random_scores(n=20_000)
    assert len(pack(s)) < 17.5 * 20_000 + 1000


@pytest.mark.parametrize("version", [1, 2], ids=["sha256-format-1", "crc32-format-2"])
def test_blobs_of_either_format_give_back_every_array(version):
    """Format 2 (a CRC-32) is written now; format 1 blobs (a SHA-256) of older databases still read."""
    s = _random_scores()
    blob = pack(s, version=version)
    assert (b'"crc32"' in blob, b'"sha256"' in blob) == (version == 2, version == 1)
    back = unpack(blob)
    for f in ("ids", "base", "predicted", "confidence", "order", "starts"):
        np.testing.assert_array_equal(getattr(back, f), getattr(s, f))
    assert pack(s) == pack(s, version=2)


@pytest.mark.parametrize("version", [1, 2], ids=["sha256-format-1", "crc32-format-2"])
@pytest.mark.parametrize("damage", ["flip", "truncate", "extend", "magic"])
def test_a_damaged_blob_is_refused_with_one_line(damage, version):
    blob = bytearray(pack(_random_scores(), version=version))
    if damage == "flip":
        blob[-100] ^= 1
    elif damage == "truncate":
        blob = blob[:-7]
    elif damage == "extend":
        blob += b"\x00"
    else:
        blob[0] ^= 1
    with pytest.raises(ScoresError, match="round 3") as err:
        unpack(bytes(blob), where="round 3")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("version", "check"), [(1, "sha256"), (2, "crc32")])
def test_a_flipped_bit_fails_the_checksum_of_its_format(version, check):
    blob = bytearray(pack(_random_scores(), version=version))
    blob[-100] ^= 1
    with pytest.raises(ScoresError, match=f"fails its {check} check"):
        unpack(bytes(blob))


def test_class_order_is_each_class_best_first_with_ties_by_position():
    s = _random_scores()
    for c in range(3):
        seg = s.order[s.starts[c] : s.starts[c + 1]]
        expect = sorted(np.flatnonzero(s.predicted == c), key=lambda i: (-float(s.base[i]), i))
        assert seg.tolist() == expect
    assert class_order(np.array([0.1, 0.2]), np.array([-1, 0]), 2)[0].tolist() == [1]


def test_excluded_rows_kept_by_difference_mark_what_a_fresh_mask_marks():
    """Exclusions that grow, shrink, switch annotator and reach ids beyond the scores: the mask follows."""
    s = _random_scores()
    rows = ExcludedRows(s.ids)
    rng = np.random.default_rng(5)
    ex = np.empty(0, np.int64)
    for step in range(60):
        if step % 7 == 6:  # a release, an undo, another annotator's skips: some go
            ex = ex[rng.random(len(ex)) < 0.6]
        else:
            ex = np.unique(np.concatenate((ex, rng.choice(10 * len(s.ids) + 50, 40))))
        if step % 5 == 4:  # a query's own leases, by id or with their positions
            pos = rng.choice(len(s.ids), 8)
            ex = np.unique(np.concatenate((ex, rows.add(s.ids[pos], pos if step % 2 else None))))
        rows.update(ex)
        assert np.array_equal(rows.mask, np.isin(s.ids, ex)), step
        assert np.array_equal(class_heads(s, rows, 12), class_heads(s, ex, 12)), step


# ------------------------------------------------------------------ per-class heads == every candidate
@pytest.mark.parametrize("name", ["default", "minority-margin", "class-balanced", "margin", "entropy", "random"])
@pytest.mark.parametrize("n", [1, 7, 40])
def test_merging_the_per_class_heads_picks_what_a_pass_over_every_candidate_picks(name, n):
    s = _random_scores(seed=n)
    strategy = resolve(name)
    rng = np.random.default_rng(1)
    excluded = np.unique(rng.choice(s.ids, 400))
    X = rng.normal(size=(len(s), 4))
    counts = np.array([40, 6, 1])
    h = strategy.heads(n)
    assert h is not None and h >= n

    def pick(avail):
        ctx = Context(class_counts=counts, classes=tuple(CLASSES), rng=np.random.default_rng(5), seed=0)
        scores = strategy.rescore(s.base[avail], s.predicted[avail], ctx)
        fetch = lambda p: X[avail[p]]  # noqa: E731
        pos = strategy.select(scores, s.predicted[avail], n, ctx.with_rows(ids=s.ids[avail], fetch_features=fetch))
        return s.ids[avail[np.asarray(pos)[:n]]].tolist()

    every = not_in(s.ids, excluded)
    heads = class_heads(s, excluded, h)
    assert len(heads) < len(every)
    assert pick(heads) == pick(every)


def test_a_strategy_that_rescores_freely_needs_every_candidate():
    from activeloop.query.strategies import MARGIN, Strategy, Wrapper

    class Flip(Wrapper):
        def rescore(self, scores, predicted, ctx):
            return -scores

    class Own(Strategy):
        def score(self, proba, ctx):
            return proba[:, 0]

    assert Flip(MARGIN).heads(5) is None
    assert Own().heads(5) == 5 and Own().score_key(0) is None
    assert resolve("minority-margin").score_key(3) == "margin"
    assert resolve("random").score_key(3) == "random:3"


# ------------------------------------------------------------------ in the store, through the loop
def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, n, p=[0.8, 0.15, 0.05])
    centers = np.array([[0, 0, 0, 0], [2, 0, 1, 0], [0, 2.5, 0, 1]], dtype=float)
    return (centers[y] + rng.normal(size=(n, 4))).astype(np.float32), y


def _small_model():
    from activeloop.model import FocalLossClassifier

    return FocalLossClassifier(hidden=(8,), max_epochs=15, early_stopping=False, random_state=0)


def _pool_with_round(url, rounds: int = 1) -> tuple[Pool, Loop]:
    X, y = _data()
    pool = Pool.create(url, "p", CLASSES)
    labeled = set(range(0, 400, 9)) | {int(i) for i in np.flatnonzero(y == 2)[:3]}
    ids = pool.add(X, labels=[CLASSES[y[i]] if i in labeled else None for i in range(400)])
    truth = {int(i): CLASSES[c] for i, c in zip(ids, y)}
    loop = Loop(pool, _small_model(), strategy="default", batch_size=10)
    loop.retrain()
    for _ in range(rounds - 1):  # later rounds give the stop verdict a κ to compute
        for q in loop.query(10, annotator="oracle"):
            pool.label(q.example_id, truth[q.example_id], annotator="oracle")
        loop.retrain()
    return pool, loop


def test_a_round_stores_its_scores_and_another_process_uses_them_without_rescoring(store_url):
    pool, loop = _pool_with_round(store_url)
    stored = pool.load_scores(1, loop.engine.score_key)
    assert stored is not None and stored.round == 1 and len(stored) == pool.count() - pool.label_count()
    assert loop.engine.scores_from_ == "adopted"

    again = QueryEngine(strategy="default", batch_size=10, random_state=0)  # what a new process does
    picks = again.query(pool, 10, annotator="ana")
    assert again.scores_from_ == "stored" and again.n_scored_ == 0
    pool.release([q.example_id for q in picks], annotator="ana")

    _, X_lab, y_lab = pool.labeled_xy("pool")
    model = _small_model().fit(X_lab, np.asarray(CLASSES)[y_lab])  # the round's fit: same seed, data, class names
    rescored = QueryEngine(model, strategy="default", batch_size=10, random_state=0)
    picks_again = rescored.query(pool, 10, annotator="ana")
    assert rescored.scores_from_ == "scored" and rescored.n_scored_ > 0
    assert [q.example_id for q in picks] == [q.example_id for q in picks_again]
    assert [q.predicted for q in picks] == [q.predicted for q in picks_again]
    np.testing.assert_allclose([q.score for q in picks], [q.score for q in picks_again], rtol=1e-6)
    pool.close()


def test_a_next_query_reads_only_the_candidates_feature_rows_it_has_not_read_this_round(tmp_path, monkeypatch):
    pool, _ = _pool_with_round(tmp_path / "p.db")
    reads: list[set[int]] = []
    real = pool.features
    monkeypatch.setattr(pool, "features", lambda ids: reads.append({int(i) for i in ids}) or real(ids))
    labeled = {int(i) for i in pool.labeled()[0]}
    eng = QueryEngine(strategy="default", batch_size=5, random_state=0)  # a core-set over the top 3 x 5 (3 classes)
    first = [q.example_id for q in eng.query(pool, annotator="ana")]
    # two reads: the labeled rows (the core-set's centers, once per round), then the 15 candidates alone
    # (the round's first query reads no more: a process that asks once never needs it)
    assert len(reads) == 2 and reads[0] == labeled and len(reads[1]) == 15 and set(first) <= reads[1]
    second = [q.example_id for q in eng.query(pool, annotator="ana")]
    # the second query's miss reads its candidates not read yet and (read ahead) the next heads of every class
    assert len(reads) == 3 and set(second).isdisjoint(first) and set(second) <= reads[1] | reads[2]
    assert reads[2].isdisjoint(reads[1]) and len(reads[2]) > 15
    third = [q.example_id for q in eng.query(pool, annotator="ana")]
    assert set(third).isdisjoint(first + second) and set(third) <= reads[1] | reads[2]
    assert len(reads) == 3  # its candidates were read ahead and the labeled rows are kept: no read at all
    monkeypatch.setattr(engine_module, "READ_AHEAD", 1)  # no reading ahead: the heads soon move past what was read
    reads.clear()
    eng = QueryEngine(strategy="default", batch_size=5, random_state=0)
    for _ in range(10):
        eng.query(pool, annotator="bob")
    assert reads[0] == labeled
    reads.pop(0)
    assert len(reads) > 1
    for k in range(1, len(reads)):  # each read only rows not read yet this round
        assert reads[k].isdisjoint(set().union(*reads[:k]))
    pool.close()


def test_a_full_feature_row_cache_starts_over_and_the_picks_stay_those_of_an_uncached_engine(tmp_path, monkeypatch):
    """When a read would overflow the round's row cache it is emptied; rows this query already had are read again."""
    _pool_with_round(tmp_path / "p.db")[0].close()
    copy = tmp_path / "copy.db"
    shutil.copy(tmp_path / "p.db", copy)
    pool = Pool.open(tmp_path / "p.db")
    monkeypatch.setattr(engine_module, "ROW_CACHE", 60)  # stands for 8,192 rows after a long round
    small = QueryEngine(strategy="default", batch_size=5, random_state=0)
    got = [[q.example_id for q in small.query(pool, annotator="ana")] for _ in range(30)]
    monkeypatch.setattr(engine_module, "ROW_CACHE", 1 << 30)
    with Pool.open(copy) as other:
        big = QueryEngine(strategy="default", batch_size=5, random_state=0)
        want = [[q.example_id for q in big.query(other, annotator="ana")] for _ in range(30)]
    assert got == want
    pool.close()


def test_a_round_of_another_process_is_followed_at_the_next_query(tmp_path):
    pool, loop = _pool_with_round(tmp_path / "p.db")
    other = Loop(Pool.open(tmp_path / "p.db"), batch_size=10)  # follows the rounds
    first = other.query(10, annotator="bo")
    assert other.engine.scores_from_ == "stored"
    for q in first:
        other.pool.label(q.example_id, "ok", annotator="bo")
    loop.retrain()  # round 2, by "another process"
    second = other.query(10, annotator="bo")
    assert other.engine.scores_from_ == "stored"
    assert {q.example_id for q in second}.isdisjoint(q.example_id for q in first)
    assert pool.latest_round_number() == 2
    other.pool.close()
    pool.close()


def test_a_database_from_before_stored_scores_still_queries_from_its_checkpoint(store_url):
    """Revision 0003 (the head before stored scores) holds rounds without scores: after the upgrade a query rescores from the checkpoint."""
    pool, loop = _pool_with_round(store_url)
    key = loop.engine.score_key
    picks = QueryEngine(strategy="default", batch_size=10, random_state=0).query(pool, 10, annotator="ana")
    pool.release([q.example_id for q in picks], annotator="ana")
    pool.close()
    engine = db.make_engine(store_url)
    db.downgrade(engine, "0003")
    assert "round_scores" not in db.sa.inspect(engine).get_table_names()
    engine.dispose()
    with Pool.open(store_url) as old:  # upgrades to head; round 1 keeps its checkpoint, has no scores
        assert old.latest_round_number() == 1 and old.load_scores(1, key) is None
        engine = QueryEngine(strategy="default", batch_size=10, random_state=0)
        again = engine.query(old, 10, annotator="ana")
        assert engine.scores_from_ == "scored"
        assert [q.example_id for q in again] == [q.example_id for q in picks]


def test_a_custom_strategy_is_scored_in_memory_but_never_stored(tmp_path):
    X, y = _data()
    pool = Pool.create(tmp_path / "p.db", "p", CLASSES)
    pool.add(X, labels=[CLASSES[y[i]] if i % 9 == 0 else None for i in range(400)])
    loop = Loop(pool, _small_model(), strategy=lambda proba: proba[:, 2], batch_size=5)
    loop.retrain()
    assert loop.engine.score_key is None
    assert loop.engine.n_scored_ == 0  # not scored for the round: its first query scores, as before
    loop.query(5)
    assert loop.engine.scores_from_ == "scored" and loop.engine.n_scored_ > 0
    before = loop.engine.n_scored_
    loop.query(5)
    assert loop.engine.n_scored_ == before  # kept in memory for the round
    from activeloop.store.schema import RoundScores

    with db.sa.orm.Session(db.make_engine(pool.url)) as s:
        assert s.query(RoundScores).count() == 0
    pool.close()


@pytest.mark.parametrize("name", ["direct", "galaxy", "base"])
def test_an_order_strategy_is_never_stored_and_rescores_from_a_budget_sized_rounds_checkpoint(tmp_path, name):
    """DIRECT, GALAXY and BASE read per-class orders and the labeled rows' proba: the full rescoring path."""
    from activeloop.model import BudgetSizedClassifier
    from activeloop.store.schema import RoundScores

    X, y = _data()
    pool = Pool.create(tmp_path / "p.db", "p", CLASSES)
    labeled = set(range(0, 400, 9)) | {int(i) for i in np.flatnonzero(y == 2)[:3]}
    pool.add(X, labels=[CLASSES[y[i]] if i in labeled else None for i in range(400)])
    sized = BudgetSizedClassifier(candidates=(_small_model().set_params(hidden=()), _small_model()), random_state=0)
    loop = Loop(pool, sized, strategy=name, batch_size=5)
    loop.retrain()
    assert loop.engine.score_key is None
    with db.sa.orm.Session(db.make_engine(pool.url)) as s:
        assert s.query(RoundScores).count() == 0
    first = loop.query(5, annotator="ana")
    assert loop.engine.scores_from_ == "scored" and loop.engine._cache.orders is not None

    own = QueryEngine(loop.model_, strategy=name, batch_size=5, random_state=0)  # the round's model, in memory
    expect = [q.example_id for q in own.query(pool, 5, annotator="bo")]
    pool.release(expect, annotator="bo")
    fresh = QueryEngine(strategy=name, batch_size=5, random_state=0)  # another process: follows the rounds
    picks = [q.example_id for q in fresh.query(pool, 5, annotator="bo")]
    assert fresh.scores_from_ == "scored" and fresh.model_round == 1
    assert isinstance(fresh.model, BudgetSizedClassifier)  # restored through load_checkpoint
    assert picks == expect and set(picks).isdisjoint(q.example_id for q in first)
    pool.close()


# ------------------------------------------------------------------ torch stays off the query path
_NO_TORCH = r"""
import json, sys
from click.testing import CliRunner
import activeloop.cli as cli
runner = CliRunner()
out = {}
for args in (["--help"], ["status", sys.argv[1]], ["query", sys.argv[1], "-n", "5", "--annotator", "cli"],
             ["export", sys.argv[1]]):
    res = runner.invoke(cli.app, args)
    out[args[0]] = [res.exit_code, res.output[:300]]
# a current schema: no Alembic; Core alone: no ORM; no connection dropped: no retry machinery
out["modules"] = sorted(m for m in ("torch", "sklearn", "alembic", "sqlalchemy.orm", "tenacity") if m in sys.modules)
print(json.dumps(out))
"""


def test_the_cli_queries_from_stored_scores_without_importing_torch_sklearn_or_the_orm(tmp_path):
    pool, _ = _pool_with_round(tmp_path / "p.db", rounds=2)
    pool.close()
    res = subprocess.run([sys.executable, "-c", _NO_TORCH, str(tmp_path / "p.db")], capture_output=True, text=True,
                         check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert all(out[k][0] == 0 for k in ("--help", "status", "query", "export")), out
    assert "next 5 for 'cli'" in out["query"][1]
    assert out["modules"] == []
    with Pool.open(tmp_path / "p.db") as pool:
        assert len(pool.active_leases("cli")) == 5


# ------------------------------------------------------------------ incremental exclusions
@pytest.mark.parametrize("overlap", [0, 256])
def test_the_incremental_query_state_always_equals_a_fresh_read(store_url, overlap, monkeypatch):
    """Labels, undo, leases, releases, skips, expiry and a second process: the tracker agrees with the logs.

    With no overlap every change to an older row is found through the released/retracted-since lookups.
    """
    from datetime import datetime, timedelta

    from activeloop.store import exclusions

    monkeypatch.setattr(exclusions, "OVERLAP_ROWS", overlap)

    now = [datetime(2026, 5, 1, 12, 0, 0)]
    clock = lambda: now[0]  # noqa: E731
    pool = Pool.create(store_url, "p", CLASSES, clock=clock)
    ids = [int(i) for i in pool.add(np.random.default_rng(0).normal(size=(60, 3)), labels=[None] * 58 + ["ok", "spam"])]
    eval_ids = [int(i) for i in pool.add(np.random.default_rng(2).normal(size=(8, 3)), split="eval")]
    other = Pool.open(store_url, clock=clock)  # another process writing to the same logs
    rng = np.random.default_rng(1)

    def check():
        for who in ("ana", "bo"):
            number, excluded, counts = pool.query_state(who)
            np.testing.assert_array_equal(excluded, pool.excluded_ids(who))
            assert counts.tolist() == [pool.class_counts()[c] for c in CLASSES]
            assert number == pool.latest_round_number()

    check()
    for step in range(40):
        writer = pool if step % 2 else other
        who = ("ana", "bo")[step % 3 == 0]
        eid = int(rng.choice(ids))
        action = step % 6
        if action == 0:  # a query's lease names its split: the writing process follows its own rows without reading them
            split = (None, "pool", "eval", "pool")[step // 6 % 4]
            writer = (other, pool, pool)[step // 6 % 3]
            writer.lease(rng.choice(eval_ids if split == "eval" else ids, 5, replace=False), annotator=who,
                         strategy="t", ttl=60 * (step // 6 % 5), split=split)
        elif action == 1:
            try:
                writer.label(eid, CLASSES[step % 3], annotator=who)
            except Exception:  # noqa: BLE001 - leased to someone else: refused, as in real use
                pass
        elif action == 2:
            writer.undo(annotator=who)
        elif action == 3:
            writer.release([eid] + [lease.example_id for lease in writer.active_leases(who)][:2], annotator=who)
        elif action == 4:
            writer.skip(eid, annotator=who)
        else:
            now[0] += timedelta(seconds=90)  # some leases expire
        check()
    other.close()
    pool.close()


_OTHER_PROCESS = r"""
import sys
from activeloop.store import Pool
ids = [int(i) for i in sys.argv[2:]]
with Pool.open(sys.argv[1]) as pool:
    pool.label(ids[0], "spam", annotator="bo")
    pool.label(ids[1], "fraud", annotator="bo")
    pool.undo(annotator="bo")  # retracts the fraud label
    pool.lease(ids[2:4], annotator="bo", strategy="t")
    pool.skip(ids[4], annotator="ana")
    pool.lease([ids[5]], annotator="ana", strategy="t")
    pool.release([ids[5]], annotator="ana")
"""


def test_a_query_lease_takes_only_what_is_still_free_when_others_wrote_after_its_state_read(store_url):
    """A lease that names its split skips the held check only while nothing changed since the state read:
    a label, a lease and an expiry by others in between are refused, as is what the annotator holds already."""
    from datetime import datetime, timedelta

    now = [datetime(2026, 5, 1, 12, 0, 0)]
    pool = Pool.create(store_url, "p", CLASSES, clock=lambda: now[0])
    other = Pool.open(store_url, clock=lambda: now[0])
    ids = [int(i) for i in pool.add(np.random.default_rng(0).normal(size=(12, 3)))]
    pool.query_state("ana")
    assert pool.lease(ids[:2], annotator="ana", strategy="t", split="pool") == ids[:2]  # nothing changed: all free
    assert pool.lease(ids[:3], annotator="ana", strategy="t", split="pool") == ids[:3]  # her own two come back
    assert [le.example_id for le in pool.active_leases("ana")] == ids[:3]  # once each
    pool.query_state("ana")
    other.label(ids[3], "ok", annotator="bo")
    other.lease([ids[4]], annotator="bo", strategy="t", ttl=60)
    assert pool.lease(ids[3:6], annotator="ana", strategy="t", split="pool") == [ids[5]]
    pool.query_state("ana")
    now[0] += timedelta(seconds=61)  # bo's lease on ids[4] expires: free again, though the state read had it leased
    assert pool.lease([ids[4], ids[6]], annotator="ana", strategy="t", split="pool") == [ids[4], ids[6]]
    pool.query_state("ana")
    other.lease([ids[7]], annotator="bo", strategy="t")  # the signature moves: the lease checks again
    assert pool.lease(ids[7:9], annotator="ana", strategy="t", split="pool") == [ids[8]]
    assert sorted(le.example_id for le in pool.active_leases("ana")) == sorted(ids[:3] + [ids[4]] + ids[5:7] + [ids[8]])
    other.close()
    pool.close()


def test_the_query_state_sees_what_another_process_wrote_since_its_last_read(store_url):
    """The one-statement check of what changed picks up labels, an undo, leases, a skip and a release."""
    pool = Pool.create(store_url, "p", CLASSES)
    ids = [int(i) for i in pool.add(np.random.default_rng(0).normal(size=(20, 3)), labels=[None] * 19 + ["ok"])]
    _, excluded, counts = pool.query_state("ana")
    assert excluded.tolist() == [ids[-1]] and counts.tolist() == [1, 0, 0]
    subprocess.run([sys.executable, "-c", _OTHER_PROCESS, store_url, *map(str, ids[:6])], check=True)
    _, excluded, counts = pool.query_state("ana")
    assert excluded.tolist() == sorted([ids[0], ids[2], ids[3], ids[4], ids[-1]])
    assert counts.tolist() == [1, 1, 0]
    _, excluded_bo, _ = pool.query_state("bo")  # ana's skip is hers alone
    assert excluded_bo.tolist() == sorted([ids[0], ids[2], ids[3], ids[-1]])
    pool.close()


def test_a_skip_after_the_lease_expired_is_seen_by_the_query_state(store_url):
    """The state has already handed the expired lease back; the skip that follows must still exclude the example."""
    from datetime import datetime, timedelta

    now = [datetime(2026, 5, 1, 12, 0, 0)]
    pool = Pool.create(store_url, "p", CLASSES, clock=lambda: now[0])
    ids = [int(i) for i in pool.add(np.zeros((4, 3)))]
    pool.lease(ids[:1], annotator="ana", strategy="t", ttl=60)
    assert pool.query_state("ana")[1].tolist() == ids[:1]
    now[0] += timedelta(seconds=120)
    assert pool.query_state("ana")[1].tolist() == []  # expired: free again
    pool.skip(ids[0], annotator="ana")
    excluded = pool.query_state("ana")[1]
    assert excluded.tolist() == ids[:1] and excluded.tolist() == pool.excluded_ids("ana").tolist()
    assert pool.query_state("bo")[1].tolist() == []  # ana's skip is hers alone
    pool.close()


def test_leases_of_another_project_or_split_never_enter_the_state_and_their_release_is_followed(store_url):
    from datetime import datetime, timedelta

    now = [datetime(2026, 5, 1, 12, 0, 0)]
    pool = Pool.create(store_url, "p", CLASSES, clock=lambda: now[0])
    ids = [int(i) for i in pool.add(np.zeros((6, 3)))]
    ev = [int(i) for i in pool.add(np.zeros((2, 3)), split="eval")]
    other = Pool.create(store_url, "q", CLASSES, clock=lambda: now[0])
    theirs = [int(i) for i in other.add(np.zeros((3, 3)))]
    assert pool.query_state("ana")[1].tolist() == []
    other.lease(theirs, annotator="ana", strategy="t")
    pool.lease(ev, annotator="ana", strategy="t")
    pool.lease(ids[:2], annotator="bo", strategy="t", ttl=60)
    assert pool.query_state("ana")[1].tolist() == ids[:2]
    other.release(theirs[:1], annotator="ana")  # a release elsewhere changes the count: re-read, same answer
    pool.lease(ids[2:3], annotator="bo", strategy="t", ttl=600)
    assert pool.query_state("ana")[1].tolist() == ids[:3]
    now[0] += timedelta(seconds=120)  # bo's first two expire, with no write at all
    assert pool.query_state("ana")[1].tolist() == ids[2:3]
    pool.release(ids[2:3], annotator="bo")
    assert pool.query_state("ana")[1].tolist() == []
    other.close()
    pool.close()


_APP_NO_TORCH = r"""
import asyncio, sys
from activeloop.store import Pool
from activeloop.tui.app import LabelApp

async def main():
    with Pool.open(sys.argv[1]) as pool:
        app = LabelApp(pool, annotator="app", batch=5)
        async with app.run_test(size=(100, 30)) as pilot:
            while app.current is None:
                await pilot.pause(0.01)
            await pilot.press(pool.hotkeys[0])  # one label, no retrain yet (batch 5)
            await pilot.pause(0.05)
            shown = app.current is not None
            await pilot.press("q")
    print(shown, sorted(m for m in ("torch", "sklearn") if m in sys.modules))

asyncio.run(main())
"""


def test_the_app_shows_examples_from_stored_scores_without_importing_torch_or_sklearn(tmp_path):
    pool, _ = _pool_with_round(tmp_path / "p.db", rounds=2)
    pool.close()
    res = subprocess.run([sys.executable, "-c", _APP_NO_TORCH, str(tmp_path / "p.db")], capture_output=True,
                         text=True, check=True)
    assert res.stdout.strip().splitlines()[-1] == "True []"
    with Pool.open(tmp_path / "p.db") as pool:
        assert pool.label_count(annotator="app") == 1
