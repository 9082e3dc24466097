"""Exporting current labels from the library: the formats, and the atomic write."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from activeloop.errors import ActiveloopError
from activeloop.ingest.export import export_labels, labels_text
from activeloop.store import Pool


@pytest.fixture
def pool(tmp_path):
    (tmp_path / "db").mkdir()
    p = Pool.create(tmp_path / "db" / "t.db", "t", ["ok", "fraud"])
    ids = p.add(np.eye(3), external_ids=["a", "b", "c"], labels=["ok", None, "fraud"])
    p.label(int(ids[1]), "fraud", annotator="ana")
    yield p
    p.close()


def test_csv_and_jsonl_hold_every_current_label(pool, tmp_path):
    assert export_labels(pool, tmp_path / "l.csv") == 3
    rows = list(csv.DictReader((tmp_path / "l.csv").open()))
    assert rows == [{k: str(v) for k, v in r.items()} for r in pool.export_labels()]
    assert export_labels(pool, tmp_path / "l.jsonl", "jsonl") == 3
    lines = (tmp_path / "l.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == pool.export_labels()
    assert labels_text(pool, "jsonl") == ((tmp_path / "l.jsonl").read_text(), 3)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(pool, tmp_path, monkeypatch):
    target = tmp_path / "l.csv"
    target.write_text("old\n")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(ActiveloopError, match=r"l\.csv: not written \(disk full\)"):  # the target named, not the temp
        export_labels(pool, target)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "l.csv"]


def test_an_unknown_format_or_folder_is_refused_before_writing(pool, tmp_path):
    with pytest.raises(ActiveloopError, match="csv or jsonl"):
        export_labels(pool, tmp_path / "l.xml", "xml")
    with pytest.raises(ActiveloopError, match="no such directory"):
        export_labels(pool, tmp_path / "nope" / "l.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db"]
