"""Hostile input: random files, odd text, injection attempts and poisoned checkpoints.

The contract: a clean import or an ActiveloopError, never another exception and never a partial
write; text is stored verbatim; a checkpoint never unpickles anything.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
from datetime import datetime

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from activeloop.errors import ActiveloopError, CheckpointError
from activeloop.store import Pool, db

HYPOTHESIS = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CLASSES = ["ok", "fraud"]
INJECTIONS = [
    "x'); DROP TABLE examples; --",
    "Robert'); DELETE FROM labels WHERE ('1'='1",
    '" OR 1=1 --',
    "; UPDATE projects SET name='pwned'",
    "%s %(name)s ? :name $1",
    "\\'; SELECT pg_sleep(5); --",
]
FORMULAS = ["=cmd|' /C calc'!A0", "=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(1)", "\t=1", "=1+1\r\n"]
odd_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(INJECTIONS + FORMULAS + ["é", "日本語", "🦀 crab", "\u202etxt.exe", "a\u0301", "ﬁ", " "]),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=5000),
)


def _counts(url: str) -> dict[str, int]:
    engine = db.make_engine(url)
    with engine.connect() as conn:
        out = {t: conn.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in ("projects", "examples", "labels")}
    engine.dispose()
    return out


@pytest.fixture
def pool(store_url):
    p = Pool.create(store_url, "hostile", CLASSES)
    p.add(np.zeros((1, 3)), external_ids=["anchor"])
    yield p
    p.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | odd_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def batches(draw):
    n = draw(st.integers(1, 6))
    dim = draw(st.sampled_from([3, 3, 3, 2]))
    finite = st.floats(-1e30, 1e30, allow_nan=False)
    cell = draw(st.sampled_from([finite, finite, st.floats(width=64)]))
    X = draw(st.lists(st.lists(cell, min_size=dim, max_size=dim), min_size=n, max_size=n))
    ids = draw(st.none() | st.lists(odd_text, min_size=n, max_size=n))
    labels = draw(st.none() | st.lists(st.none() | st.sampled_from(CLASSES) | odd_text, min_size=n, max_size=n))
    payloads = draw(st.none() | st.lists(json_values, min_size=n, max_size=n))
    return X, ids, labels, payloads


@given(batch=batches())
@HYPOTHESIS
def test_pool_add_is_all_or_nothing_and_verbatim(pool, batch):
    X, ids, labels, payloads = batch
    before = _counts(pool.url)
    try:
        got = pool.add(X, external_ids=ids, labels=labels, payloads=payloads)
    except ActiveloopError:
        assert _counts(pool.url) == before
        return
    assert len(got) == len(X) and _counts(pool.url)["examples"] == before["examples"] + len(X)
    np.testing.assert_array_equal(pool.features(got), np.asarray(X, dtype=np.float32))
    for k, eid in enumerate(got):
        ex = pool.example(int(eid))
        if ids is not None:
            assert ex["external_id"] == ids[k]
        if payloads is not None:
            assert ex["payload"] == payloads[k]
        assert ex["label"] == (None if labels is None else labels[k])


# ---------------------------------------------------------------- files (activeloop.ingest)
def _import_file():
    ingest = pytest.importorskip("activeloop.ingest")
    return ingest.import_file


def _csv(rows: list[tuple[str, str]], encoding: str) -> bytes:
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    return buf.getvalue().encode(encoding, "replace")


FILE_HEADERS = [b"text,label\n", b"id,a,b,label\n", b"a,b\n", b"", b"\xef\xbb\xbftext,label\n"]
cell_labels = st.sampled_from(CLASSES + ["", "=cmd|' /C calc'!A0", "fraud,extra", "OK"])
csv_bytes = st.one_of(
    st.binary(max_size=400),
    st.builds(lambda h, body: h + body, st.sampled_from(FILE_HEADERS), st.binary(max_size=300)),
    st.builds(_csv, st.lists(st.tuples(odd_text, cell_labels), min_size=1, max_size=6),
              st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "latin-1", "cp1252"])),
)
jsonl_line = st.one_of(
    st.builds(lambda t, lab: json.dumps({"text": t, "label": lab}), odd_text, cell_labels),
    st.builds(lambda t: json.dumps({"text": t}), odd_text),
    st.sampled_from(["[1,2,3]", '{"text": "a", "label": NaN}', '{"text": 1e999, "label": "ok"}', "", "{", "null",
                     '{"text": "x", "label": "nope"}', '{"text": null, "label": "ok"}', '"just a string"']),
    st.text(max_size=40),
)
jsonl_bytes = st.one_of(
    st.binary(max_size=400),
    st.builds(lambda lines: "".join(f"{x}\n" for x in lines).encode("utf-8", "surrogatepass"),
              st.lists(jsonl_line, min_size=1, max_size=6)),
)
TEXT_OPTIONS = st.sampled_from([{}, {"text_column": "text", "label_column": "label"}, {"text_column": "text"}])


@pytest.mark.parametrize("suffix, content", [(".csv", csv_bytes), (".jsonl", jsonl_bytes)])
def test_importing_random_files_is_clean_or_an_activeloop_error(tmp_path_factory, suffix, content):
    import_file = _import_file()
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'fuzz.db'}"
    pool = Pool.create(url, "fuzz", CLASSES)
    tried = {"imported": 0, "refused": 0}

    good = {".csv": b"text,label\nhello there,ok\n=cmd|' /C calc'!A0,fraud\n\xc3\xa9t\xc3\xa9,\n",
            ".jsonl": b'{"text": "hello", "label": "ok"}\n{"text": "=1+1", "label": null}\n'}[suffix]

    @given(data=content, options=TEXT_OPTIONS)
    @example(data=good, options={"text_column": "text", "label_column": "label"})
    @HYPOTHESIS
    def check(data, options):
        path = folder / f"input{sum(tried.values())}{suffix}"  # row ids are <file>:<row>: one name per file
        path.write_bytes(data)
        before = _counts(url)
        try:
            import_file(pool, path, **options)
        except ActiveloopError as exc:
            assert _counts(url) == before and str(exc)
            tried["refused"] += 1
            return
        assert _counts(url)["examples"] > before["examples"]
        tried["imported"] += 1

    check()
    pool.close()
    assert tried["imported"] > 0 and tried["refused"] > 0
    print(f"{suffix}: {tried}")


def test_big_fields_and_formula_cells_import_verbatim(tmp_path):
    import_file = _import_file()
    pool = Pool.create(tmp_path / "big.db", "big", CLASSES)
    rows = ["A" * 100_000, "=cmd|' /C calc'!A0", "@SUM(1+1)", "+1-1", "日本語 🦀 é", "-2+3", "\t=1"]
    path = tmp_path / "cells.csv"
    path.write_text("text,label\n" + "".join(f'"{t}",{CLASSES[i % 2]}\n' for i, t in enumerate(rows)), "utf-8")
    import_file(pool, path, text_column="text", label_column="label")
    ids = pool.labeled()[0].tolist()
    texts = [p if isinstance(p, str) else (p or {}).get("text") for p in pool.payloads(ids)]
    assert sorted(texts) == sorted(rows)  # formulas are data: stored as typed, never evaluated or escaped
    pool.close()


def test_a_field_over_the_csv_limit_is_refused_cleanly_or_imported_whole(tmp_path):
    import_file = _import_file()
    pool = Pool.create(tmp_path / "huge.db", "huge", CLASSES)
    path = tmp_path / "huge.csv"
    path.write_text("text,label\nsmall,ok\n" + '"' + "B" * 1_000_000 + '",fraud\n', "utf-8")
    try:
        import_file(pool, path, text_column="text", label_column="label")
    except ActiveloopError:
        assert pool.count() == 0
    else:
        assert pool.count() == 2
    pool.close()


# ---------------------------------------------------------------- injection
@pytest.mark.parametrize("evil", INJECTIONS)
def test_sql_injection_attempts_are_stored_verbatim(store_url, evil):
    pool = Pool.create(store_url, evil, [evil, "ok"])
    ids = pool.add(np.eye(2), external_ids=[evil, "b"], payloads=[{evil: evil}, evil], labels=[evil, None])
    pool.label(int(ids[1]), evil, annotator=evil)
    pool.lease([int(ids[0])], annotator=evil, strategy=evil)
    pool.skip(int(ids[0]), annotator=evil)
    pool.record_round(n_labels=2, strategy=evil, checkpoint=evil.encode(), metrics={evil: 1}, config={"s": evil},
                      started_at=datetime(2026, 1, 1))
    pool.close()
    assert Pool.projects(store_url) == [evil]
    with Pool.open(store_url, project=evil) as again:
        assert again.classes == [evil, "ok"]
        assert again.example(int(ids[0])) == {"id": int(ids[0]), "external_id": evil, "payload": {evil: evil},
                                              "split": "pool", "label": evil}
        assert again.payloads([int(ids[1])]) == [evil]
        assert again.class_counts() == {evil: 2, "ok": 0}
        assert {r["annotator"] for r in again.export_labels()} == {"import", evil}
        assert set(again.excluded_ids(evil)) == set(ids.tolist())
        (rnd,) = again.rounds()
        assert rnd.strategy == evil and rnd.metrics == {evil: 1} and again.load_checkpoint() == evil.encode()
        assert again.undo(annotator=evil) == ids[1]
    assert _counts(store_url) == {"projects": 1, "examples": 2, "labels": 2}


@pytest.mark.parametrize(
    "call",
    [
        lambda url: Pool.create(url, "p\x00", CLASSES),
        lambda url: Pool.create(url, "p" * 201, CLASSES),
        lambda url: Pool.create(url, "p", ["a\x00", "b"]),
        lambda url: Pool.create(url, "p", ["a" * 201, "b"]),
    ],
)
def test_names_no_back_end_can_hold_are_refused_cleanly(store_url, call):
    with pytest.raises(ActiveloopError):
        call(store_url)


def test_ids_and_annotators_no_back_end_can_hold_are_refused_cleanly(pool):
    before = _counts(pool.url)
    for kwargs in ({"external_ids": ["a\x00b"]}, {"external_ids": ["x" * 501]}, {"annotator": "a\x00"},
                   {"payloads": [object()]}, {"X": [["a", "b", "c"]]}, {"X": [[1, 2], [3]]}):
        with pytest.raises(ActiveloopError):
            pool.add(**{"X": np.ones((1, 3)), **kwargs})
    eid = int(pool.unlabeled_ids()[0])
    for bad in ("a\x00", "n" * 201):
        with pytest.raises(ActiveloopError):
            pool.label(eid, "ok", annotator=bad)
        with pytest.raises(ActiveloopError):
            pool.lease([eid], annotator=bad, strategy="s")
        with pytest.raises(ActiveloopError):
            pool.skip(eid, annotator=bad)
    assert _counts(pool.url) == before
    assert pool.lease([eid], annotator="ana", strategy="s" * 1000) == [eid]  # a long strategy repr is cut, not fatal


def test_non_finite_metrics_and_numpy_values_are_stored(pool):
    rnd = pool.record_round(n_labels=1, strategy="s", checkpoint=None,
                            metrics={"pr_auc": float("nan"), "n": np.int64(3), "per_class": np.array([0.5, 1.0])},
                            config={}, started_at=datetime(2026, 1, 1))
    (got,) = pool.rounds()
    assert got.metrics["n"] == 3 and got.metrics["per_class"] == [0.5, 1.0]
    assert got.metrics["pr_auc"] is None or math.isnan(got.metrics["pr_auc"])
    assert rnd.number == 1


# ---------------------------------------------------------------- checkpoints
class _Boom:
    """Unpickling this runs code: it must never happen."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _poisoned_checkpoints(marker: str) -> list[bytes]:
    """Pickles that would create ``marker`` when loaded, in a raw and a correctly framed/checksummed form."""
    import hashlib

    import torch

    from activeloop.model import checkpoint

    buf = io.BytesIO()
    torch.save({"format": 1, "params": _Boom(marker)}, buf)
    body = buf.getvalue()
    framed = checkpoint.MAGIC + hashlib.sha256(body).digest() + body
    plain = pickle.dumps(_Boom(marker))
    return [framed, plain, checkpoint.MAGIC + hashlib.sha256(plain).digest() + plain]


def test_a_pickled_object_in_a_checkpoint_is_never_unpickled(tmp_path):
    pytest.importorskip("torch")
    from activeloop.model import FocalLossClassifier

    marker = tmp_path / "pwned"
    for blob in _poisoned_checkpoints(str(marker)):
        with pytest.raises(CheckpointError):
            FocalLossClassifier.from_checkpoint(blob)
        assert not marker.exists()


def test_a_poisoned_checkpoint_in_the_store_is_refused_when_the_loop_restores_it(tmp_path):
    pytest.importorskip("torch")
    loop_module = pytest.importorskip("activeloop.loop")
    marker = tmp_path / "pwned"
    pool = Pool.create(tmp_path / "p.db", "p", CLASSES)
    pool.add(np.random.default_rng(0).normal(size=(20, 3)))
    blob = _poisoned_checkpoints(str(marker))[0]
    pool.record_round(n_labels=0, strategy=None, checkpoint=blob, metrics={}, config={},
                      started_at=datetime(2026, 1, 1))
    assert pool.load_checkpoint() == blob  # its sha256 matches: the store hands it over as bytes only
    with pytest.raises(CheckpointError):
        loop_module.Loop(pool).model_  # noqa: B018
    assert not marker.exists()
    pool.close()
    assert not os.path.exists(marker)
