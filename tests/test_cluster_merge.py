"""The client's merge of the workers' per-class candidates equals sorting the whole pool at once.

No cluster needed: the parts are built with the workers' own functions (score parts, then
``candidates``) and joined as the client joins them; the result must equal, array for array, what
a local round stores (``Scores.build``) and the per-class margin orders a local query computes.
"""

from __future__ import annotations

import numpy as np
import pytest

from activeloop.query.chunks import Scored, candidates, join, merge_runs
from activeloop.query.orders import class_orders
from activeloop.store.scores import Scores, pack


def _values(rng, n: int, dtype) -> np.ndarray:
    """Scores with many ties, signed zeros, infinities and NaNs: every corner of the order."""
    v = rng.choice([0.5, 0.25, -0.0, 0.0, 1.0, np.inf, -np.inf, np.nan], size=n).astype(dtype)
    fresh = rng.random(n) < 0.5
    v[fresh] = rng.normal(size=int(fresh.sum())).astype(dtype)
    return v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_merging_sorted_runs_equals_one_lexsort(dtype, k):
    rng = np.random.default_rng(k)
    values = _values(rng, 3000, dtype)
    cuts = np.sort(rng.choice(np.arange(1, 3000), k - 1, replace=False))
    runs = []
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, 3000]):
        pos = np.arange(a, b)
        runs.append(pos[np.lexsort((pos, -values[pos].astype(np.float64)))])
    expected = np.lexsort((np.arange(3000), -values.astype(np.float64)))
    assert np.array_equal(merge_runs(values, runs), expected)


def _part(rng, ids: np.ndarray, C: int, *, proba: bool) -> Scored:
    p = rng.dirichlet(np.ones(C), size=len(ids))
    p[rng.random(len(ids)) < 0.2] = np.full(C, 1 / C)  # exact ties between classes and rows
    base = np.round(1 - p.max(axis=1), 2)  # rounded: many equal base scores
    return Scored(ids.astype(np.int64), base, p.argmax(axis=1).astype(np.int16), p.max(axis=1).astype(np.float32),
                  None, None, len(ids), p if proba else None)


def test_joined_candidates_equal_a_local_round_s_scores_and_margin_orders():
    rng = np.random.default_rng(0)
    C = 4
    ids = np.sort(rng.choice(10**6, 5000, replace=False))
    bounds = [0, 1200, 1201, 1201, 3900, 5000]  # an empty part and a one-row part too
    parts = [_part(rng, ids[a:b], C, proba=True) for a, b in zip(bounds[:-1], bounds[1:])]
    every = [np.concatenate(x) for x in zip(*[(p.ids, p.base, p.predicted, p.confidence, p.proba) for p in parts])]
    local = Scores.build("k", 3, *every[:4], C)
    local_margins, local_orders = class_orders(every[4])

    out = join([candidates(p, C) for p in parts])
    merged = Scores("k", 3, out.ids, out.base.astype(np.float32), out.predicted, out.confidence, out.order, out.starts)
    assert pack(merged) == pack(local)
    assert np.array_equal(out.margins, local_margins)
    assert np.array_equal(out.orders, local_orders)
