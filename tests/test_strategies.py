"""Pure strategy functions, wrappers, diversity, cold start and the name registry."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
from optional import needs_modal

from activeloop.errors import StrategyError
from activeloop.query.diversity import CandidateDistances
from activeloop.query import (
    ClassBalanced,
    Context,
    Diverse,
    MinorityLeaning,
    available,
    cold_start_select,
    coreset_select,
    entropy,
    kmeanspp_select,
    labels_until_all_seen,
    least_confidence,
    margin,
    minority_entropy,
    minority_least_confidence,
    minority_margin,
    minority_weights,
    random,
    resolve,
)
from activeloop.query.strategies import MARGIN, content_hash, top_n

# One row is a dead heat, the others are confident: every uncertainty measure must put it first.
PROBA = np.array(
    [
        [0.96, 0.02, 0.02],
        [0.34, 0.33, 0.33],  # the only uncertain one
        [0.05, 0.90, 0.05],
        [0.02, 0.03, 0.95],
    ]
)


@pytest.mark.parametrize("fn", [least_confidence, margin, entropy])
def test_uncertainty_measures_rank_the_only_uncertain_example_first(fn):
    scores = fn(PROBA)
    assert scores.shape == (4,)
    assert int(np.argmax(scores)) == 1


def test_uncertainty_measures_match_hand_computed_values():
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(least_confidence(p), [0.3, 0.5])
    np.testing.assert_allclose(margin(p), [1 - 0.5, 1.0])
    np.testing.assert_allclose(entropy(p), [-(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1)), np.log(2)])


def test_margin_of_a_single_class_model_is_zero_not_an_error():
    np.testing.assert_array_equal(margin(np.ones((3, 1))), np.zeros(3))


def test_random_uses_the_given_generator_only():
    a = random(PROBA, np.random.default_rng(3))
    b = random(PROBA, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    state = np.random.get_state()[1].copy()
    random(PROBA, np.random.default_rng(4))
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_minority_weights_favour_rare_classes_temper_and_fade():
    w = minority_weights([200, 5])
    assert w[1] == 1.0 and 0.3 < w[0] < 0.7  # tempered: not 5/200
    assert minority_weights([200, 60])[0] > 0.95  # fades once both classes have dozens of labels
    np.testing.assert_allclose(minority_weights([200, 5], power=0.0), [1.0, 1.0])
    assert minority_weights([0, 0, 0]).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(StrategyError, match="beta"):
        minority_weights([1, 2], beta=1.0)


@pytest.mark.parametrize("fn", [minority_least_confidence, minority_margin, minority_entropy])
def test_minority_leaning_ranks_a_minority_candidate_above_an_equally_uncertain_majority_one(fn):
    # Two mirror-image candidates: equally uncertain, one predicted majority (0), one minority (1).
    p = np.array([[0.6, 0.4], [0.4, 0.6], [0.99, 0.01]])
    counts = [50, 3]
    plain = {"minority_least_confidence": least_confidence, "minority_margin": margin, "minority_entropy": entropy}
    base = plain[fn.__name__](p)
    assert base[0] == pytest.approx(base[1])
    leaned = fn(p, counts)
    assert leaned[1] > leaned[0] > leaned[2]
    assert leaned[1] == pytest.approx(base[1])  # the rarest class keeps its score


def test_minority_leaning_wrapper_matches_the_function_and_shows_its_stack():
    ctx = Context.from_counts([50, 3])
    p = np.array([[0.6, 0.4], [0.4, 0.6], [0.8, 0.2]])
    strat = MinorityLeaning(MARGIN, power=1.0)
    np.testing.assert_allclose(strat(p, ctx), minority_margin(p, [50, 3], power=1.0))
    assert repr(strat) == "minority_leaning(margin, power=1, beta=0.95)"
    assert repr(resolve("previous-default")).startswith("diverse(minority_leaning(margin")
    assert repr(resolve("default")) == "diverse(margin, method='coreset', factor=min(classes, 4), labeled=True)"
    assert repr(resolve("pairwise-coreset")) == "diverse(pairwise_leaning(margin, power=0.5, beta=0.95), method='coreset', factor=min(classes, 4), labeled=True)"
    assert repr(resolve("pairwise-kmeans++")) == "diverse(pairwise_leaning(margin, power=0.5, beta=0.95), method='kmeans++', factor=4)"
    assert repr(resolve("coreset-4")) == "diverse(pairwise_leaning(margin, power=0.5, beta=0.95), method='coreset', factor=4, labeled=True)"


def test_scores_do_not_depend_on_chunk_size():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=101)
    X = rng.normal(size=(101, 5)).astype(np.float32)
    ctx = Context.from_counts([10, 1, 4, 0], seed=5)
    for name in available():
        strat = resolve(name)
        whole = strat.score(p, ctx.with_rows(ids=np.arange(101), features=X))
        parts = np.concatenate(
            [strat.score(p[i : i + 7], ctx.with_rows(ids=np.arange(i, min(i + 7, 101)), features=X[i : i + 7]))
             for i in range(0, 101, 7)]
        )
        np.testing.assert_array_equal(whole, parts, err_msg=name)


def test_content_hash_depends_on_content_and_seed_not_on_order():
    X = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)
    perm = np.random.default_rng(2).permutation(50)
    np.testing.assert_array_equal(content_hash(X)[perm], content_hash(X[perm]))
    assert len(np.unique(content_hash(X))) == 50
    assert not np.array_equal(content_hash(X, 0), content_hash(X, 1))


def test_top_n_is_best_first_with_ties_broken_by_position():
    s = np.array([0.1, 0.9, 0.5, 0.9, 0.2])
    assert top_n(s, 3).tolist() == [1, 3, 2]
    assert top_n(s, 10).tolist() == [1, 3, 2, 4, 0]
    assert top_n(s, 0).tolist() == []


def test_top_n_ranks_a_nan_score_last_and_still_returns_n():
    # a model that outputs NaN for some rows: those rows go last, the others keep their order
    s = np.array([np.nan, 0.5, np.nan, 0.1])
    assert top_n(s, 2).tolist() == [1, 3]
    assert top_n(s, 3).tolist() == [1, 3, 0]
    assert top_n(np.array([np.nan, 0.5, np.nan]), 2).tolist() == [1, 0]
    assert top_n(np.full(3, np.nan), 2).tolist() == [0, 1]


@pytest.mark.parametrize("select", ["kmeans++", "coreset"])
def test_diversity_over_nan_scores_returns_k_distinct_rows(select):
    X, scores = _two_clumps()
    scores[::3] = np.nan
    for s in (scores, np.full(len(scores), np.nan)):
        if select == "kmeans++":
            pos = kmeanspp_select(X, s, 5, np.random.default_rng(0))
        else:
            pos = coreset_select(X, s, 5)
        assert len(pos) == len(set(pos.tolist())) == 5
        assert {int(p) < 20 for p in pos} == {True, False}


def test_class_balanced_fills_slots_toward_the_least_labeled_classes():
    # 6 candidates predicted 0, 3 predicted 1, none predicted 2; class 0 already has many labels.
    predicted = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    ctx = Context.from_counts([20, 18, 0])
    pos = ClassBalanced(MARGIN).select(scores, predicted, 4, ctx)
    # class 1 is behind: it gets slots until it catches up (18 + 2 = 20), then the classes alternate
    assert sorted(predicted[pos].tolist()) == [0, 1, 1, 1]
    assert set(pos.tolist()) == {0, 6, 7, 8}
    assert repr(resolve("class-balanced:entropy")) == "class_balanced(entropy)"


@pytest.mark.parametrize("base", ["direct", "galaxy", "base", "default", "coreset-2", "class-balanced"])
def test_class_balanced_refuses_a_base_that_picks_its_own_batch_instead_of_ignoring_that_step(base):
    # class quotas rank by the base's scores only: DIRECT's cut or a core-set would silently be dropped
    with pytest.raises(StrategyError, match="picks its own batch") as err:
        resolve(f"class-balanced:{base}")
    assert str(err.value).startswith(f"class-balanced needs a base that ranks by score; {resolve(base)!r} ")


def test_class_balanced_takes_any_base_that_ranks_by_score():
    for base in ("margin", "minority-margin", "pairwise-margin", "random"):
        assert repr(resolve(f"class-balanced:{base}")) == f"class_balanced({resolve(base)!r})"


def _two_clumps(n_per=20, d=4, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.01, size=(n_per, d))
    b = rng.normal(5, 0.01, size=(n_per, d))
    X = np.vstack([a, b])
    scores = np.concatenate([np.full(n_per, 1.0), np.full(n_per, 0.9)])  # clump a scores higher
    return X, scores


@pytest.mark.parametrize("select", ["kmeans++", "coreset"])
def test_diversity_takes_one_from_each_clump_instead_of_near_duplicates(select):
    X, scores = _two_clumps()
    if select == "kmeans++":
        pos = kmeanspp_select(X, scores, 2, np.random.default_rng(0))
    else:
        pos = coreset_select(X, scores, 2)
    assert pos[0] == 0  # the best-scored candidate is always kept
    assert {int(p) < 20 for p in pos} == {True, False}
    # plain top-2 would take two near-duplicates of clump a
    assert all(p < 20 for p in top_n(scores, 2))


def test_diverse_wrapper_fetches_features_of_the_top_candidates_only():
    X, scores = _two_clumps()
    asked: list[np.ndarray] = []

    def fetch(pos):
        asked.append(np.asarray(pos))
        return X[pos]

    strat = Diverse(MARGIN, method="coreset", factor=20)
    ctx = Context.from_counts([1, 1]).with_rows(fetch_features=fetch)
    pos = strat.select(scores, np.zeros(40, int), 2, ctx)
    assert {int(p) < 20 for p in pos} == {True, False}
    assert len(asked) == 1 and len(asked[0]) == 40
    with pytest.raises(StrategyError, match="diversity method"):
        Diverse(MARGIN, method="farthest")


def _imbalanced_blobs(seed=0):
    """Three classes: 300 + 150 in broad blobs, and a tight rare mode of 6."""
    rng = np.random.default_rng(seed)
    X = np.vstack([
        rng.normal([0, 0], 1.0, size=(300, 2)),
        rng.normal([6, 0], 1.0, size=(150, 2)),
        rng.normal([3, 8], 0.2, size=(6, 2)),
    ]).astype(np.float32)
    y = np.array([0] * 300 + [1] * 150 + [2] * 6)
    return X, y


def test_cold_start_gives_a_small_minority_mode_its_own_representative():
    X, y = _imbalanced_blobs()
    pos = cold_start_select(X, 12, seed=0)
    assert len(set(pos.tolist())) == len(pos) == 12
    assert 2 in set(y[pos].tolist())
    assert labels_until_all_seen(y[pos]) <= 12
    # random order needs far more labels on average to see the rare mode
    rng = np.random.default_rng(0)
    random_needed = np.mean([labels_until_all_seen(y[rng.permutation(len(y))]) for _ in range(50)])
    assert random_needed > 30


def test_cold_start_does_not_depend_on_row_order():
    X, _ = _imbalanced_blobs()
    perm = np.random.default_rng(3).permutation(len(X))
    a = cold_start_select(X, 12, seed=1)
    b = perm[cold_start_select(X[perm], 12, seed=1)]
    assert a.tolist() == b.tolist()


def test_labels_until_all_seen_counts_to_the_label_that_completes_the_set():
    assert labels_until_all_seen(["a", "a", "b", "a", "c"]) == 5
    assert labels_until_all_seen(["a", "b"], classes=["a", "b", "c"]) is None
    assert labels_until_all_seen([], classes=[]) == 0
    assert labels_until_all_seen(["b", "a"], classes=["a"]) == 2


def test_every_registered_name_resolves_and_underscores_work():
    for name in available():
        assert resolve(name) is not None
    assert repr(resolve("least_confidence")) == repr(resolve("least-confidence"))
    assert {"random", "least-confidence", "margin", "entropy", "minority-least-confidence", "minority-margin",
            "minority-entropy", "class-balanced", "default"} <= set(available())


@pytest.mark.parametrize(
    "name, message",
    [
        ("nope", "unknown strategy 'nope'"),
        pytest.param("modal:not_a_function", "modAL has no query function", marks=needs_modal),
        ("no_such_pkg.mod:fn", "cannot import module"),
        ("numpy:no_such_function", "has no attribute"),
    ],
)
def test_bad_strategy_names_raise_strategy_error_with_a_clear_message(name, message):
    with pytest.raises(StrategyError, match=message):
        resolve(name)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_strategies.py").write_text(textwrap.dedent("""
        import numpy as np

        def top_prob_low(proba):
            return 1 - proba.max(axis=1)

        def with_context(proba, ctx):
            return proba[:, -1] * (ctx.class_counts[-1] + 1)

        def modal_style(classifier, X, n_instances=1):
            return np.arange(n_instances)

        def three_args(a, b, c):
            return a
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_strategies"
    sys.modules.pop("my_strategies", None)


def test_user_functions_by_module_path_are_wrapped_by_their_signature(user_module):
    ctx = Context.from_counts([3, 1])
    p = np.array([[0.9, 0.1], [0.5, 0.5]])
    s1 = resolve(f"{user_module}:top_prob_low")
    np.testing.assert_allclose(s1(p, ctx), [0.1, 0.5])
    assert repr(s1) == "my_strategies:top_prob_low"
    s2 = resolve(f"{user_module}:with_context")
    np.testing.assert_allclose(s2(p, ctx), [0.2, 1.0])
    s3 = resolve(f"{user_module}:modal_style")
    assert getattr(s3, "needs_classifier", False)
    with pytest.raises(StrategyError, match="signature"):
        resolve(f"{user_module}:three_args")


def test_a_plain_callable_can_be_passed_directly():
    strat = resolve(lambda proba: proba[:, 0])
    np.testing.assert_allclose(strat(np.array([[0.2, 0.8]])), [0.2])
    with pytest.raises(StrategyError, match="not callable"):
        resolve(42)


def _kmeanspp_one_draw_at_a_time(X, scores, k, rng):
    """k-means++ as first written: each draw recomputes the distances to the new pick (the reference)."""
    X, s = np.asarray(X, np.float64), np.asarray(scores, np.float64)
    m, k = len(X), max(int(min(k, len(X))), 0)
    if k == 0:
        return np.empty(0, np.int64)
    s = s - min(s.min(), 0.0) + 1e-12
    picked = [int(top_n(s, 1)[0])]
    d2 = ((X - X[picked[0]]) ** 2).sum(axis=1)
    for _ in range(k - 1):
        w = s * d2
        w[picked] = 0.0
        if w.sum() <= 0:
            picked += [i for i in top_n(s, m) if i not in picked][: k - len(picked)]
            break
        cdf = (w / w.sum()).cumsum()
        picked.append(int(cdf.searchsorted(rng.random() * cdf[-1], side="right")))
        d2 = np.minimum(d2, ((X - X[picked[-1]]) ** 2).sum(axis=1))
    return np.asarray(picked, np.int64)


@pytest.mark.parametrize("pairwise_rows", [4096, 0], ids=["distance-matrix", "row-per-draw"])
def test_kmeanspp_from_one_distance_matrix_picks_what_one_draw_at_a_time_picks(pairwise_rows, monkeypatch):
    """Both paths (the m x m matrix for small candidate sets, a row per draw above) pick as the reference."""
    from activeloop.query import diversity

    monkeypatch.setattr(diversity, "PAIRWISE_ROWS", pairwise_rows)
    r = np.random.default_rng(0)
    for seed in range(600):
        m, d = int(r.integers(1, 160)), int(r.integers(1, 70))
        X = r.normal(size=(m, d)).astype(np.float32)
        if seed % 5 == 0 and m > 3:  # duplicates are never drawn twice
            X[1], X[3] = X[0], X[2]
        if seed % 7 == 0:  # all duplicates: score order
            X[:] = X[0]
        s = r.random(m) - (0.3 if seed % 3 == 0 else 0.0)
        k = int(r.integers(0, m + 3))
        got = kmeanspp_select(X, s, k, np.random.default_rng(seed))
        want = _kmeanspp_one_draw_at_a_time(X, s, k, np.random.default_rng(seed))
        assert np.array_equal(got, want), seed


def _coreset_one_pick_at_a_time(X, s, k, centers=None):
    """The greedy k-center core-set as written in the paper: farthest row next, ties to the better score."""
    X, m = np.asarray(X, np.float64), len(X)
    k = max(min(k, m), 0)
    rank = np.empty(m)
    rank[top_n(s, m)] = np.arange(m)
    if centers is not None and len(centers):
        C = np.asarray(centers, np.float64)
        d2 = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2).min(axis=1)
        picked = []
    else:
        picked = [int(top_n(s, 1)[0])] if k else []
        d2 = ((X - X[picked[0]]) ** 2).sum(axis=1) if k else np.zeros(m)
    while len(picked) < k:
        cand = [i for i in range(m) if i not in picked]
        best = max(d2[i] for i in cand)
        nxt = min((i for i in cand if d2[i] == best), key=lambda i: rank[i])
        picked.append(nxt)
        d2 = np.minimum(d2, ((X - X[nxt]) ** 2).sum(axis=1))
    return np.asarray(picked, np.int64)


def test_coreset_picks_what_the_one_pick_at_a_time_reference_picks():
    """Ties in distance (duplicates, grid points) and in score included; with and without labeled centers."""
    r = np.random.default_rng(1)
    for seed in range(400):
        m, d = int(r.integers(1, 90)), int(r.integers(1, 6))
        X = r.integers(0, 3, size=(m, d)).astype(np.float32) if seed % 2 else r.normal(size=(m, d))
        s = r.integers(0, 3, size=m).astype(float) if seed % 3 else r.random(m)
        centers = None if seed % 4 == 0 else r.integers(0, 3, size=(int(r.integers(1, 8)), d)).astype(float)
        k = int(r.integers(0, m + 3))
        assert np.array_equal(coreset_select(X, s, k, centers), _coreset_one_pick_at_a_time(X, s, k, centers)), seed


def test_distances_kept_per_id_across_a_rounds_queries_pick_what_fresh_ones_pick():
    """Overlapping candidate sets, as the queries of a round have; duplicates stay exactly 0 apart."""
    r = np.random.default_rng(3)
    X_all = r.normal(size=(160, 6))
    X_all[41] = X_all[40]
    centers = X_all[:12]
    kept = CandidateDistances(centers)
    for q in range(40):
        ids = np.union1d(r.choice(np.arange(12, 160), size=int(r.integers(0, 100)), replace=False), [40, 41])
        X, s = X_all[ids], r.random(len(ids))
        k = int(r.integers(1, len(ids) + 2))
        nearest, pairwise = kept.to_labeled(ids, X), kept.among(ids, X)
        exact = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
        assert np.allclose([pairwise(i) for i in range(len(ids))], exact, rtol=1e-9, atol=1e-9), q
        assert np.array_equal(coreset_select(X, s, k, nearest=nearest, pairwise=pairwise),
                              coreset_select(X, s, k, centers)), q
        assert np.array_equal(kmeanspp_select(X, s, k, np.random.default_rng(q), nearest=nearest, pairwise=pairwise),
                              kmeanspp_select(X, s, k, np.random.default_rng(q), centers)), q
        first = int(np.searchsorted(ids, 40))
        assert pairwise(first)[first + 1] == 0.0 and pairwise(first + 1)[first] == 0.0, q
    assert CandidateDistances().to_labeled([1, 2], np.zeros((2, 6))) is None


def test_labeled_rows_as_centers_keep_kmeanspp_and_coreset_out_of_a_labeled_clump():
    """Clump a (best scores), clumps b and c (equal scores, mirror images); b is already labeled."""
    a = np.zeros((10, 2))
    b = np.tile([5.0, 0.0], (10, 1))
    c = np.tile([-5.0, 0.0], (10, 1))
    X = np.vstack([a, b, c])
    scores = np.concatenate([np.full(10, 1.0), np.full(20, 0.5)])
    labeled = np.array([[5.0, 0.0]])  # exactly on clump b: distance 0, weight 0
    with_centers = [kmeanspp_select(X, scores, 2, np.random.default_rng(s), labeled) for s in range(20)]
    assert all(p[0] == 0 and 20 <= p[1] < 30 for p in with_centers)  # the best, then clump c every time
    without = [kmeanspp_select(X, scores, 2, np.random.default_rng(s)) for s in range(20)]
    assert any(10 <= p[1] < 20 for p in without)  # b and c are alike without the labeled row
    assert 20 <= coreset_select(X, scores, 1, centers=labeled)[0] < 30  # farthest from the labeled b: c


def test_diverse_with_labeled_centers_reads_ctx_labeled_features_and_says_so():
    X = np.vstack([np.tile([5.0, 0.0], (10, 1)), np.tile([-5.0, 0.0], (10, 1))])
    strat = Diverse(MARGIN, method="kmeans++", factor=10, labeled=True)
    assert strat.needs_labeled_features and not Diverse(MARGIN).needs_labeled_features
    assert repr(strat).endswith("factor=10, labeled=True)") and "labeled" not in repr(resolve("pairwise-kmeans++"))
    ctx = Context.from_counts([1, 1], labeled_features=np.array([[-5.0, 0.0]])).with_rows(fetch_features=lambda p: X[p])
    scores = np.concatenate([np.full(10, 0.5), np.full(10, 1.0)])  # clump -5 scores best but is labeled
    pos = strat.select(scores, np.zeros(20, int), 2, ctx)
    assert sorted(int(p) >= 10 for p in pos) == [False, True]  # the best row, then the unlabeled clump


def test_blocked_products_equal_one_product_across_block_edges():
    from activeloop.query.diversity import GRAM_ROWS, _gram

    rng = np.random.default_rng(3)
    for m, n, d in [(1, 1, 1), (GRAM_ROWS + 1, 1000, 64), (2 * GRAM_ROWS, 5, 700), (40, 300, 3), (0, 4, 8), (3, 0, 8),
                    (5, 7, 20_000)]:
        A, B = rng.normal(size=(m, d)), rng.normal(size=(n, d))
        np.testing.assert_allclose(_gram(A, B), A @ B.T, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("counts, window", [([5], 2), ([5, 5], 2), ([5, 5, 5], 3), ([5] * 4, 4), ([5] * 10, 4)])
def test_the_default_window_holds_one_candidate_per_class_per_slot_up_to_four(counts, window):
    from activeloop.query.strategies import Strategy

    asked = []

    class Spy(Strategy):
        def select(self, scores, predicted, n, ctx):
            asked.append(n)
            return top_n(scores, n)

    X = np.random.default_rng(0).normal(size=(100, 3))
    ctx = Context.from_counts(counts, labeled_features=X[:2]).with_rows(fetch_features=lambda p: X[p])
    strat = Diverse(Spy(), method="coreset", factor=4, labeled=True, by_classes=True)
    picks = strat.select(np.linspace(1, 0, 100), np.zeros(100, int), 5, ctx)
    assert asked == [window * 5] and len(set(picks.tolist())) == 5 and set(picks.tolist()) <= set(range(window * 5))
    assert strat.window(ctx) == window
    assert Diverse(Spy(), factor=4).window(ctx) == 4  # without by_classes the factor is fixed
