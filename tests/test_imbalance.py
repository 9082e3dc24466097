"""DIRECT, GALAXY and BASE on tiny pools whose picks can be checked by hand, and the engine's per-class orders."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from activeloop.errors import StrategyError
from activeloop.query import QueryEngine, resolve
from activeloop.query.imbalance import (
    Direct,
    base_select,
    best_cut,
    class_quotas,
    direct_select,
    galaxy_select,
    label_slots,
    pairwise_margin,
)
from activeloop.query.orders import class_margins, class_orders, restrict_orders
from activeloop.query.strategies import Context, margin, minority_weights
from activeloop.store import Pool

# Six binary candidates with p(class 1) = P1; one labeled row of each class (p1 = 0.8 is a 1, 0.2 a 0).
P1 = np.array([0.9, 0.7, 0.55, 0.45, 0.3, 0.1])
CAND = np.column_stack([1 - P1, P1])
LAB = np.array([[0.2, 0.8], [0.8, 0.2]])
Y_LAB = np.array([1, 0])


def _inputs(proba=CAND, lab=LAB):
    q, orders = class_orders(proba)
    return q, orders, class_margins(lab)


def test_class_margins_are_each_class_minus_its_strongest_rival():
    q = class_margins([[0.6, 0.3, 0.1], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(q, [[0.3, -0.3, -0.5], [0.0, 0.0, -0.2]])


def test_class_orders_sort_rows_from_most_to_least_k_like_with_ties_by_row():
    q, orders = class_orders([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]])
    assert orders.tolist() == [[0, 2, 1], [1, 2, 0]]
    assert q.shape == (3, 2)


def test_restrict_orders_keeps_the_visiting_order_as_positions_into_the_subset():
    orders = np.array([[0, 2, 1], [1, 2, 0]])
    assert restrict_orders(orders, np.array([1, 2])).tolist() == [[1, 0], [0, 1]]


def test_class_quotas_split_evenly_and_give_the_remainder_to_the_rarest():
    classes, quotas = class_quotas(5, np.array([9, 1, 4]))
    assert classes.tolist() == [1, 2, 0]
    assert quotas.tolist() == [2, 2, 1]


def test_label_slots_count_candidates_strictly_above():
    assert label_slots(np.array([0.8, 0.4, 0.1]), np.array([0.9, 0.4, 0.0])).tolist() == [0, 1, 3]


def test_best_cut_maximises_agreement_and_takes_the_highest_tie():
    # +1 -1 +1 -1 -1: running sums 0 1 0 1 0 -1 peak first after one row
    assert best_cut([True, False, True, False, False]) == 1
    assert best_cut([False, False]) == 0
    assert best_cut([True, True, False]) == 2


def test_direct_asks_next_to_each_class_cut_alternating_below_then_above():
    q, orders, q_lab = _inputs()
    # class 0's order runs p1 = .1 .3 .45 .55 .7 .9; its cut sits below the labeled 0 (p1 .2):
    # first below it (p1 .3, row 4), then above it (p1 .1, row 5); class 1 likewise: row 1, then row 0
    assert direct_select(q, orders, q_lab, Y_LAB, [1, 1], 4).tolist() == [4, 5, 1, 0]
    assert direct_select(q, orders, q_lab, Y_LAB, [1, 1], 2).tolist() == [4, 1]


def test_direct_serves_the_rarest_class_first():
    q, orders, q_lab = _inputs()
    assert direct_select(q, orders, q_lab, Y_LAB, [7, 1], 1).tolist() == [1]


def test_direct_without_labels_of_a_class_asks_its_most_likely_rows():
    proba = np.array([[0.8, 0.1, 0.1], [0.6, 0.1, 0.3], [0.2, 0.7, 0.1], [0.3, 0.2, 0.5], [0.5, 0.45, 0.05]])
    q, orders = class_orders(proba)
    lab = np.array([[0.9, 0.05, 0.05], [0.1, 0.85, 0.05]])
    picks = direct_select(q, orders, class_margins(lab), np.array([0, 1]), [1, 1, 0], 1)
    assert picks.tolist() == [3]  # class 2 is unseen: its top row (q_2 = 0.5 - 0.3)


def test_galaxy_bisects_the_shortest_run_between_disagreeing_labels():
    q, orders, q_lab = _inputs()
    rng = np.random.default_rng(0)
    # one line for two classes: run of rows p1 = .3 .45 .55 .7 between the labels; middle: p1 .45 (row 3);
    # then the shorter half (row 4), then the middle of the other half (row 2)
    assert galaxy_select(q, orders, q_lab, Y_LAB, 3, rng).tolist() == [3, 4, 2]


def test_galaxy_without_a_labeled_class_asks_the_end_of_the_line_where_it_must_lie():
    q, orders = class_orders(CAND)
    picks = galaxy_select(q, orders, class_margins(LAB[1:]), Y_LAB[1:], 1, np.random.default_rng(0))
    assert picks.tolist() == [0]  # only a labeled 0: the unseen class 1 lies at the bottom of the line (p1 .9)


def test_galaxy_next_to_adjacent_disagreeing_labels_asks_the_nearest_candidate():
    proba = np.column_stack([1 - np.array([0.9, 0.1]), [0.9, 0.1]])
    q, orders = class_orders(proba)
    lab = np.array([[0.45, 0.55], [0.55, 0.45]])  # adjacent on the line, no candidate between them
    picks = galaxy_select(q, orders, class_margins(lab), np.array([1, 0]), 1, np.random.default_rng(0))
    assert picks.tolist() == [1]  # both rows are next to the edge; the tie goes to the higher one on the line


def test_base_takes_the_rows_nearest_each_class_boundary_with_equal_quotas():
    p1 = np.array([0.9, 0.7, 0.58, 0.45, 0.3, 0.1])
    q, orders = class_orders(np.column_stack([1 - p1, p1]))
    # |q| = |1 - 2 p1|: row 3 (0.1) is nearest for both classes; class 0 takes it, class 1 the next (row 2, 0.16)
    assert base_select(q, orders, [1, 1], 2).tolist() == [3, 2]
    assert base_select(q, orders, [5, 1], 1).tolist() == [3]  # class 1 is rarer: served first


def test_pairwise_margin_weights_each_boundary_by_its_rarer_class():
    counts = [20, 20, 2]
    w = minority_weights(counts)  # [0.465, 0.465, 1]: the two common classes share one weight
    assert w[0] == pytest.approx(w[1]) and w[0] == pytest.approx(0.4653, abs=1e-3) and w[2] == 1.0
    p = np.array([[0.5, 0.45, 0.05], [0.6, 0.2, 0.2], [0.4, 0.3, 0.3], [0.1, 0.1, 0.8]])
    got = pairwise_margin(p, counts)
    # row 0: boundary 0|1 gives 0.95 * w0, boundary 0|2 gives (1 - 0.45) * 1 -> the rare boundary wins
    assert got[0] == pytest.approx(0.55)
    assert got[1] == pytest.approx(0.6)  # 1 - (0.6 - 0.2), toward the rare class
    assert got[2] == pytest.approx(0.9)
    assert got[3] == pytest.approx(0.3)  # predicted rare: every boundary weighs 1, best rival at 0.1
    assert np.argmax(got) == 2 and np.argmax(margin(p)) == 0  # plain margin would ask row 0 first


def test_pairwise_margin_is_plain_margin_in_a_binary_task_and_skips_unseen_classes():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(2), size=50)
    assert np.allclose(pairwise_margin(p, [40, 3]), margin(p))
    # class 2 has no label: the model never saw it, so its (zero) column is no rival (else both rows
    # would score 1 - p_t against it, 0.3 and 0.1, times weight 1)
    p3 = np.array([[0.7, 0.3, 0.0], [0.9, 0.1, 0.0]])
    assert np.allclose(pairwise_margin(p3, [10, 10, 0]), margin(p3) * minority_weights([10, 10, 0])[0])


def test_pairwise_leaning_is_stored_with_the_rounds_counts_and_shows_its_stack():
    strat = resolve("pairwise-coreset")
    assert repr(strat) == "diverse(pairwise_leaning(margin, power=0.5, beta=0.95), method='coreset', factor=min(classes, 4), labeled=True)"
    assert strat.score_key(0) == "pairwise_margin:0.5:0.95" and strat.heads(10) == 40
    p = np.array([[0.5, 0.45, 0.05], [0.4, 0.3, 0.3]])
    # the counts in the scoring context are the lean: the same rows rank the other way round without a rare class
    assert np.argmax(strat.score(p, Context.from_counts([20, 20, 2]))) == 1
    assert np.argmax(strat.score(p, Context.from_counts([20, 20, 20]))) == 0
    with pytest.raises(StrategyError, match="beta"):
        type(resolve("pairwise-margin"))(beta=1.5)


@pytest.mark.parametrize("name", ["direct", "galaxy", "base"])
def test_order_rules_return_n_distinct_rows_on_a_random_pool(name):
    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.ones(4), size=60)
    q, orders = class_orders(proba)
    lab = rng.dirichlet(np.ones(4), size=8)
    ctx = Context.from_counts([5, 2, 1, 0], seed=1)
    ctx = ctx.with_rows(margins=q, orders=orders)
    from dataclasses import replace

    ctx = replace(ctx, labeled_proba=lab, labeled_y=np.array([0, 0, 0, 0, 0, 1, 1, 2]))
    strat = resolve(name)
    picks = np.asarray(strat.select(strat.score(proba, ctx), proba.argmax(1), 17, ctx))
    assert len(picks) == 17 and len(set(picks.tolist())) == 17
    assert picks.min() >= 0 and picks.max() < 60


def test_order_rules_need_the_orders():
    with pytest.raises(StrategyError, match="per-class orders"):
        Direct().select(np.zeros(3), np.zeros(3, int), 1, Context.from_counts([1, 1]))


# ------------------------------------------------------------------ through the engine


class _Spy(Direct):
    seen: list = []

    def select(self, scores, predicted, n, ctx):
        type(self).seen.append(ctx)
        return super().select(scores, predicted, n, ctx)


def _pool(tmp_path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (90, 3)), rng.normal(2, 1, (10, 3))]).astype(np.float32)
    y = np.array([0] * 90 + [1] * 10)
    pool = Pool.create(tmp_path / "p.db", "p", ["ok", "rare"])
    ids = pool.add(X)
    for i in (0, 1, 2, 95):
        pool.label(int(ids[i]), ["ok", "rare"][y[i]])
    model = LogisticRegression().fit(X[[0, 1, 2, 95, 96]], y[[0, 1, 2, 95, 96]])
    return pool, model


def test_engine_fills_labeled_outputs_and_computes_the_orders_once_per_round(tmp_path):
    pool, model = _pool(tmp_path)
    _Spy.seen = []
    engine = QueryEngine(model, strategy=_Spy(), random_state=0)
    first = engine.query(pool, 3)
    orders = engine._cache.orders
    second = engine.query(pool, 3)
    assert engine._cache.orders is orders  # reused, not recomputed
    ctx = _Spy.seen[0]
    assert ctx.labeled_proba.shape == (4, 2) and sorted(ctx.labeled_y.tolist()) == [0, 0, 0, 1]
    assert ctx.orders.shape == (2, 96) and ctx.margins.shape == (96, 2)
    assert _Spy.seen[1].orders.shape == (2, 93)  # the first three are leased now
    assert not {q.example_id for q in first} & {q.example_id for q in second}
    pool.close()
