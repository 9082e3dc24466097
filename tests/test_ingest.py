"""Import of CSV, JSONL, .npy and .npz files: features, labels, payloads, eval split, featurizer."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.datasets import load_breast_cancer, load_digits

from activeloop import Pool
from activeloop.errors import IngestError
from activeloop.ingest import TextFeaturizer, import_file, import_files

TEXTS = [
    "refund my card payment please",
    "card stolen fraud charge unknown merchant",
    "password reset not working",
    "unknown charge on my card fraud",
    "how do I change my address",
    "app crashes when I open settings",
    "double charge refund card",
    "suspicious login from another country fraud",
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tickets(n: int = 40, start: int = 0) -> list[dict]:
    return [
        {"id": f"t{i}", "text": TEXTS[i % len(TEXTS)] + f" ticket {i % 5}", "label": "fraud" if "fraud" in TEXTS[i % len(TEXTS)] else "ok"}
        for i in range(start, start + n)
    ]


@pytest.fixture
def digits_pool(tmp_path):
    return Pool.create(tmp_path / "d.db", "digits", [str(i) for i in range(10)])


def test_npz_import_keeps_features_labels_and_ids(tmp_path, digits_pool):
    d = load_digits()
    np.savez(tmp_path / "d.npz", X=d.data, y=d.target, ids=np.array([f"img{i}" for i in range(len(d.data))]))
    report = import_file(digits_pool, tmp_path / "d.npz")
    assert report.n_rows == report.n_labeled == len(d.data) and report.n_eval == 0
    ids, y = digits_pool.labeled()
    assert np.array_equal(y, d.target)
    assert np.allclose(digits_pool.features(ids[:50]), d.data[:50])
    assert digits_pool.example(int(ids[7]))["external_id"] == "img7"
    assert digits_pool.export_labels()[0]["source"] == "import"


def test_npy_images_are_flattened_and_their_shape_is_recorded(tmp_path, digits_pool):
    images = load_digits().images[:100]
    np.save(tmp_path / "img.npy", images)
    import_file(digits_pool, tmp_path / "img.npy")
    assert digits_pool.dim == 64
    assert digits_pool.featurizer[0] == {"kind": "array", "row_shape": [8, 8]}
    ids = digits_pool.unlabeled_ids()
    assert np.allclose(digits_pool.features(ids[:3]).reshape(3, 8, 8), images[:3])
    assert digits_pool.payloads(ids[:1]) == [None]


def test_eval_fraction_is_stratified_and_keeps_the_class_mix(tmp_path):
    data = load_breast_cancer()
    names = np.array(["malignant", "benign"])[data.target]
    np.savez(tmp_path / "bc.npz", X=data.data, y=names)
    pool = Pool.create(tmp_path / "bc.db", "bc", ["benign", "malignant"])
    report = import_file(pool, tmp_path / "bc.npz", eval_fraction=0.25, seed=3)
    assert report.n_eval == round(len(names) * 0.25) == pool.count("eval")
    ev = pool.class_counts("eval")
    share = (names == "malignant").mean()
    assert abs(ev["malignant"] - share * report.n_eval) <= 1
    eval_ids, _ = pool.labeled("eval")
    assert not set(eval_ids) & set(pool.labeled("pool")[0])


def test_eval_split_depends_only_on_the_seed(tmp_path):
    X = np.random.default_rng(0).standard_normal((300, 4))
    np.save(tmp_path / "x.npy", X)
    draws = []
    for k, seed in enumerate((1, 1, 2)):
        pool = Pool.create(tmp_path / f"s{k}.db", "s", ["a", "b"])
        import_file(pool, tmp_path / "x.npy", eval_fraction=0.1, seed=seed)
        draws.append(sorted(pool.example(int(i))["external_id"] for i in pool.unlabeled_ids("eval")))
    assert len(draws[0]) == 30 and draws[0] == draws[1] != draws[2]
    assert all(e.startswith("x.npy:") for e in draws[0])
    assert all(e.startswith("x.npy:") for e in draws[0])


def test_csv_numeric_columns_labels_ids_and_payloads(tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text("tx,amount,hour,note,label\nA1,12.5,3,late,ok\nA2,900,4,,fraud\nA3,7,23,x,\n")
    pool = Pool.create(tmp_path / "t.db", "tx", ["ok", "fraud"])
    report = import_file(pool, path, features=["amount", "hour"], label_column="label", id_column="tx")
    assert (report.n_rows, report.n_labeled, pool.dim) == (3, 2, 2)
    assert pool.class_counts() == {"ok": 1, "fraud": 1}
    unl = pool.unlabeled_ids()
    ex = pool.example(int(unl[0]))
    assert ex["external_id"] == "A3" and ex["payload"] == {"tx": "A3", "amount": "7", "hour": "23", "note": "x", "label": ""}
    assert np.allclose(pool.features(unl), [[7, 23]])


def test_csv_default_features_are_every_other_column(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("a,b,y\n1,2,p\n3,4,q\n")
    pool = Pool.create(tmp_path / "n.db", "n", ["p", "q"])
    import_file(pool, path, label_column="y")
    ids, _ = pool.labeled()
    assert np.allclose(pool.features(ids), [[1, 2], [3, 4]])
    assert pool.featurizer[0] == {"kind": "numeric", "columns": ["a", "b"]}


def test_jsonl_text_is_featurized_and_the_featurizer_saved_without_pickle(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", tickets())
    pool = Pool.create(tmp_path / "t.db", "t", ["ok", "fraud"])
    report = import_file(pool, path, text_column="text", label_column="label", id_column="id")
    assert report.fitted_featurizer and report.featurizer == "tfidf-svd"
    spec, state = pool.featurizer
    assert spec["kind"] == "tfidf-svd" and spec["dim"] == pool.dim
    with np.load(io.BytesIO(state), allow_pickle=False) as z:  # plain arrays only
        assert set(z.files) == {"vocabulary", "idf", "components"}
    assert pool.example(1)["payload"]["text"] == tickets()[0]["text"]


def test_tiny_vocabulary_gives_fewer_dimensions(tmp_path):
    path = write_jsonl(tmp_path / "tiny.jsonl", [{"text": t} for t in ["red apple", "green apple", "red pear", "ripe pear"]])
    pool = Pool.create(tmp_path / "t.db", "t", ["a", "b"])
    import_file(pool, path, text_column="text")
    assert 1 <= pool.dim < 64


def test_featurizer_matches_sklearn_tfidf_then_svd():
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [r["text"] for r in tickets(60)]
    feat = TextFeaturizer.fit(texts, dim=5, seed=0)
    tfidf = TfidfVectorizer(sublinear_tf=True).fit(texts)
    svd = TruncatedSVD(5, random_state=0).fit(tfidf.transform(texts))
    expected = svd.transform(tfidf.transform(texts[:10]))
    assert np.allclose(feat.transform(texts[:10]), expected, atol=1e-5)
    again = TextFeaturizer.from_state(feat.spec(), feat.to_bytes())
    assert np.array_equal(again.transform(texts), feat.transform(texts))


def test_a_json_null_text_is_imported_as_empty_text(tmp_path):
    pool = Pool.create(tmp_path / "p.db", "p", ["ok", "fraud"])
    rows = [{"text": None}, *({"text": t} for t in TEXTS)]
    report = import_file(pool, write_jsonl(tmp_path / "t.jsonl", rows), text_column="text")
    assert report.n_rows == len(TEXTS) + 1
    assert np.allclose(pool.features([1])[0], TextFeaturizer.from_state(*pool.featurizer).transform([""])[0], atol=1e-6)


def test_same_text_gets_the_same_vector_in_a_later_import_in_another_process(tmp_path):
    db = tmp_path / "t.db"
    pool = Pool.create(db, "t", ["ok", "fraud"])
    import_file(pool, write_jsonl(tmp_path / "a.jsonl", tickets(40)), text_column="text", id_column="id")
    state_before = pool.featurizer[1]
    later = write_jsonl(tmp_path / "b.jsonl", [{"id": "new", "text": tickets(1)[0]["text"]}])
    _import_in_child(db, later)  # no --text-column: the project's text featurizer is reused
    reopened = Pool.open(db)
    assert reopened.featurizer[1] == state_before  # not refitted
    new = [int(i) for i in reopened.unlabeled_ids() if reopened.example(int(i))["external_id"] == "new"]
    assert np.array_equal(reopened.features(new), reopened.features([1]))


def _import_in_child(db: Path, path: Path) -> None:
    code = (
        "import sys; from activeloop.cli import app; "
        f"app(['import', {str(db)!r}, {str(path)!r}, '--id-column', 'id'], standalone_mode=False)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_numeric_import_into_a_text_project_is_refused(tmp_path):
    pool = Pool.create(tmp_path / "t.db", "t", ["ok", "fraud"])
    import_file(pool, write_jsonl(tmp_path / "a.jsonl", tickets()), text_column="text")
    np.save(tmp_path / "x.npy", np.zeros((3, pool.dim)))
    with pytest.raises(IngestError, match="text"):
        import_file(pool, tmp_path / "x.npy")


def test_many_files_are_one_transaction(tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", tickets(30))
    bad = write_jsonl(tmp_path / "bad.jsonl", tickets(5, start=100) + [{"id": "z", "text": "fine", "label": "spam"}])
    pool = Pool.create(tmp_path / "t.db", "t", ["ok", "fraud"])
    with pytest.raises(IngestError) as info:
        import_files(pool, [good, bad], text_column="text", label_column="label", id_column="id")
    assert (info.value.path, info.value.row, info.value.field) == (str(bad), 6, "label")
    reopened = Pool.open(tmp_path / "t.db")
    assert reopened.count() == 0 and reopened.featurizer == (None, None) and reopened.dim is None
    assert pool.dim is None and pool.featurizer == (None, None)
    report = import_files(pool, [good], text_column="text", id_column="id")
    assert report.n_rows == 30 == Pool.open(tmp_path / "t.db").count()


def test_split_eval_puts_every_row_in_the_eval_split(tmp_path, digits_pool):
    np.save(tmp_path / "x.npy", load_digits().data[:20])
    import_file(digits_pool, tmp_path / "x.npy", split="eval")
    assert (digits_pool.count("eval"), digits_pool.count("pool")) == (20, 0)


def test_progress_reports_every_row(tmp_path, digits_pool):
    np.save(tmp_path / "x.npy", load_digits().data)
    seen = []
    import_file(digits_pool, tmp_path / "x.npy", eval_fraction=0.2, progress=lambda p, done, total: seen.append((done, total)))
    assert seen[-1] == (1797, 1797)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_featurizer_fitted_by_another_process_is_reused_not_refitted(tmp_path):
    db = tmp_path / "t.db"
    stale = Pool.create(db, "t", ["ok", "fraud"])  # opened before anyone fitted a featurizer
    first = Pool.open(db)
    import_file(first, write_jsonl(tmp_path / "a.jsonl", tickets(40)), text_column="text")
    report = import_file(stale, write_jsonl(tmp_path / "b.jsonl", tickets(10, start=40)), text_column="text")
    assert not report.fitted_featurizer
    assert Pool.open(db).featurizer[1] == first.featurizer[1]


def test_jsonl_list_fields_are_spread_into_features(tmp_path):
    rows = [{"id": i, "emb": [i, i + 0.5, -i], "hour": i % 24, "label": "ok"} for i in range(5)]
    pool = Pool.create(tmp_path / "e.db", "e", ["ok", "fraud"])
    import_file(pool, write_jsonl(tmp_path / "e.jsonl", rows), id_column="id", label_column="label")
    ids, _ = pool.labeled()
    assert pool.dim == 4 and np.allclose(pool.features(ids[2:3]), [[2, 2.5, -2, 2]])


@pytest.mark.parametrize(
    "bad, message, field",
    [([1.0, 2.0], "expected a list of 3 numbers, got 2 numbers", "emb"), ([1.0, "x", 2.0], "'x' is not a number", "emb"),
     ([1.0, float("nan"), 2.0], "nan is not a finite number", "emb[1]")],
)
def test_a_bad_list_field_names_its_row(tmp_path, bad, message, field):
    rows = [{"emb": [1.0, 2.0, 3.0]}, {"emb": [4.0, 5.0, 6.0]}, {"emb": bad}]
    pool = Pool.create(tmp_path / "e.db", "e", ["ok", "fraud"])
    with pytest.raises(IngestError, match=message) as info:
        import_file(pool, write_jsonl(tmp_path / "e.jsonl", rows))
    assert (info.value.row, info.value.field) == (3, field)
    assert Pool.open(tmp_path / "e.db").count() == 0


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    X=hnp.arrays(
        np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
        elements=st.floats(allow_nan=False, allow_infinity=False, width=32),
    )
)
def test_csv_and_jsonl_round_trip_features_exactly(tmp_path_factory, X):
    tmp = tmp_path_factory.mktemp("rt")
    cols = [f"c{j}" for j in range(X.shape[1])]
    (tmp / "x.csv").write_text(",".join(cols) + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in X))
    write_jsonl(tmp / "x.jsonl", [dict(zip(cols, map(float, row))) for row in X])
    for name in ("x.csv", "x.jsonl"):
        pool = Pool.create(tmp / f"{name}.db", "rt", ["a", "b"])
        import_file(pool, tmp / name)
        assert np.array_equal(pool.features(pool.unlabeled_ids()), X.astype(np.float32))
        pool.close()
