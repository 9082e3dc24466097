"""Stopping criteria on hand-made round sequences whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from activeloop.stopping import (
    AllOf,
    AnyOf,
    KappaStability,
    LabelBudget,
    MinorityPlateau,
    OverallUncertainty,
    PredictionChange,
    Snapshot,
    choose_stop_set,
    kappa,
    normalized_entropy,
    replay,
    snapshots,
    to_record,
    verdict,
)

BASE = np.array([0] * 90 + [1] * 10)


def flipped(k: int) -> np.ndarray:
    """BASE with its first k predictions changed to class 1."""
    out = BASE.copy()
    out[:k] = 1
    return out


def rounds_of(preds, *, labels_per_round=10, minority=None, uncertainty=None) -> list[Snapshot]:
    return [
        Snapshot(
            round=i + 1,
            n_labels=(i + 1) * labels_per_round,
            predictions=p,
            uncertainty=None if uncertainty is None else uncertainty[i],
            minority_found=None if minority is None else minority[i],
        )
        for i, p in enumerate(preds)
    ]


def feed(criterion, rounds) -> list[bool]:
    return [criterion.stop(s) for s in rounds]


# ---------------------------------------------------------------- κ-stability
def test_kappa_equals_sklearns_cohen_kappa_and_identical_predictions_agree_fully():
    a, b = flipped(5), flipped(8)
    assert kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert kappa(np.zeros(20), np.zeros(20)) == 1.0  # sklearn gives nan (0/0) here
    assert kappa(np.zeros(9), np.ones(9)) == pytest.approx(cohen_kappa_score(np.zeros(9), np.ones(9)), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_kappa_equals_sklearns_cohen_kappa_on_random_predictions(seed):
    rng = np.random.default_rng(seed)
    a = rng.choice(5, 300, p=[0.6, 0.2, 0.1, 0.07, 0.03])
    b = np.where(rng.random(300) < 0.2, rng.choice(5, 300), a)  # some rows change class, some classes vanish
    b[b == 4] = 3
    assert kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_kappa_stability_stops_once_the_window_mean_reaches_the_threshold():
    # pairs: (flip 20 -> 10) low κ, then three identical pairs: κ = 1, 1, 1
    preds = [flipped(20), flipped(10), flipped(10), flipped(10), flipped(10)]
    c = KappaStability(window=3, threshold=0.99)
    assert feed(c, rounds_of(preds)) == [False, False, False, False, True]
    assert c.history[1:] == [1.0, 1.0, 1.0]
    assert c.value == 1.0


def test_kappa_stability_needs_a_full_window_even_when_agreement_is_perfect():
    c = KappaStability(window=3, threshold=0.5)
    assert feed(c, rounds_of([BASE, BASE, BASE])) == [False, False, False]  # only 2 κ values
    assert c.explain() == "κ 1.00 over the last 2 rounds (needs 0.5 over 3)"


def test_kappa_stability_says_the_window_mean_and_threshold_when_not_yet():
    preds = [BASE, flipped(1), flipped(2), flipped(3)]
    c = KappaStability(window=3, threshold=0.99)
    assert feed(c, rounds_of(preds))[-1] is False
    expected = np.mean([kappa(BASE, flipped(1)), kappa(flipped(1), flipped(2)), kappa(flipped(2), flipped(3))])
    assert c.value == pytest.approx(expected)
    assert c.explain() == f"κ {expected:.2f} over the last 3 rounds (needs 0.99)"


def test_a_new_stop_set_restarts_the_comparison():
    c = KappaStability(window=2, threshold=0.9)
    s = rounds_of([BASE] * 4)
    s[3] = Snapshot(round=4, n_labels=40, predictions=BASE, stop_set="other")
    assert feed(c, s) == [False, False, True, False]
    assert c.history == []


# ---------------------------------------------------------------- prediction change
def test_prediction_change_stops_when_each_recent_round_changes_at_most_the_threshold():
    preds = [BASE, flipped(10), flipped(11), flipped(11)]  # changes: 10 %, 1 %, 0 %
    c = PredictionChange(window=2, threshold=0.01)
    assert feed(c, rounds_of(preds)) == [False, False, False, True]
    assert c.history == pytest.approx([0.10, 0.01, 0.0])
    assert c.value == pytest.approx(0.01)


def test_prediction_change_does_not_stop_on_one_quiet_round_after_a_big_change():
    c = PredictionChange(window=2, threshold=0.01)
    assert feed(c, rounds_of([BASE, flipped(30), flipped(30)])) == [False, False, False]
    assert c.value == pytest.approx(0.30)


# ---------------------------------------------------------------- overall uncertainty
def test_normalized_entropy_is_zero_when_sure_and_one_when_uniform():
    assert normalized_entropy(np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])) == pytest.approx([0.0, 1.0], abs=1e-9)


def test_overall_uncertainty_stops_once_the_mean_entropy_falls_to_the_threshold():
    c = OverallUncertainty(threshold=0.1)
    s = rounds_of([None] * 4, uncertainty=[0.5, 0.2, 0.1, 0.3])
    assert feed(c, s) == [False, False, True, False]  # it follows the latest round, up and down
    assert c.explain() == "uncertainty 0.30 on the stop set (needs ≤ 0.1)"


def test_snapshot_from_proba_takes_argmax_and_mean_normalized_entropy():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    s = Snapshot.from_proba(proba, round=1, n_labels=10)
    assert s.predictions.tolist() == [0, 1, 0]
    assert s.uncertainty == pytest.approx(normalized_entropy(proba).mean())


# ---------------------------------------------------------------- minority plateau
def test_minority_plateau_counts_labels_since_the_round_that_brought_the_last_new_minority():
    # 20 labels a round; minority found: 0, 1, 1, 2, 2, 2, 2, 2
    found = [0, 1, 1, 2, 2, 2, 2, 2]
    c = MinorityPlateau(patience=70)
    got = feed(c, rounds_of([None] * 8, labels_per_round=20, minority=found))
    assert got == [False] * 7 + [True]  # last new one at 80 labels: 140 - 80 < 70 <= 160 - 80
    assert c.value == 80
    assert c.explain() == "no new minority in 80 labels"


def test_minority_plateau_never_stops_before_any_minority_is_found():
    c = MinorityPlateau(patience=20)
    assert feed(c, rounds_of([None] * 6, minority=[0] * 6)) == [False] * 6
    assert c.explain() == "0 minority examples found (needs 1)"


def test_label_budget_stops_at_the_budget():
    c = LabelBudget(budget=30)
    assert feed(c, rounds_of([None] * 4)) == [False, False, True, True]
    assert c.explain() == "label budget of 30 reached"


# ---------------------------------------------------------------- combinations and the verdict
def test_all_of_needs_every_part_and_any_of_one_and_both_feed_every_part():
    s = rounds_of([BASE] * 5, minority=[1, 1, 1, 1, 1])
    both = AllOf(KappaStability(window=2, threshold=0.99), MinorityPlateau(patience=40))
    either = AnyOf(LabelBudget(budget=20), KappaStability(window=4, threshold=0.99))
    assert feed(both, s) == [False, False, False, False, True]  # κ from round 3, plateau (10r - 10 >= 40) from 5
    assert feed(either, s) == [False, True, True, True, True]
    assert either.criteria[1].history == [1.0] * 4  # fed even while the budget already stopped


def test_fresh_copies_parameters_and_drops_history():
    c = AllOf(KappaStability(window=4, threshold=0.9), LabelBudget(budget=7))
    feed(c, rounds_of([BASE, BASE]))
    f = c.fresh()
    assert repr(f) == repr(c) == "AllOf(KappaStability(window=4, threshold=0.9), LabelBudget(budget=7))"
    assert f.criteria[0].history == [] and c.criteria[0].history == [1.0]


def test_verdict_names_the_first_round_of_the_current_run_of_stops_and_why():
    preds = [flipped(30), BASE, BASE, BASE, BASE, BASE]
    s = rounds_of(preds, labels_per_round=20, minority=[1, 2, 2, 2, 2, 2])
    crit = AllOf(KappaStability(window=3, threshold=0.99), MinorityPlateau(patience=60))
    v = verdict(s, crit)
    # κ window full of 1.0 from round 5; last new minority at 40 labels, 60 labels later = round 5
    assert v.stop and v.since_round == 5
    assert v.text == "stop: yes since round 5 — predictions stable (κ 1.000 over 3 rounds), no new minority in 80 labels"


def test_verdict_not_yet_says_what_is_missing():
    s = rounds_of([BASE, flipped(1), flipped(2), flipped(3)], minority=[1, 1, 1, 1])
    v = verdict(s, AllOf(KappaStability(window=3, threshold=0.99), MinorityPlateau(patience=20)))
    assert not v.stop and v.since_round is None
    assert v.text.startswith("stop: not yet — κ 0.9")
    assert v.text.endswith("over the last 3 rounds (needs 0.99)")  # the plateau (30 >= 20) is met, so not named


def test_verdict_with_no_rounds():
    assert verdict([]).text == "stop: not yet — no rounds yet"


def test_replay_does_not_touch_the_criterion_it_was_given():
    c = KappaStability(window=1, threshold=0.5)
    decisions, values, fed = replay(rounds_of([BASE, BASE]), c)
    assert decisions == [False, True] and values[-1] == {"kappa": 1.0}
    assert c.history == [] and fed.history == [1.0]


def test_records_round_trip_through_round_metrics():
    class Stored:  # what RoundInfo offers: number, n_labels, metrics
        def __init__(self, number, n_labels, metrics):
            self.number, self.n_labels, self.metrics = number, n_labels, metrics

    s = rounds_of([BASE, flipped(2), flipped(2)], minority=[1, 1, 2], uncertainty=[0.4, 0.3, 0.2])
    stored = [Stored(x.round, x.n_labels, {"stopping": to_record(x, s[:i])}) for i, x in enumerate(s)]
    back = snapshots(stored)
    assert [b.predictions.tolist() for b in back] == [x.predictions.tolist() for x in s]
    assert [b.minority_found for b in back] == [1, 1, 2]
    assert stored[2].metrics["stopping"]["criteria"]["kappa"]["value"] == pytest.approx(
        np.mean([kappa(BASE, flipped(2)), 1.0])
    )
    assert verdict(stored).text == verdict(s).text


def test_stop_set_is_a_seeded_sorted_sample_of_the_given_ids():
    ids = np.arange(100, 5100)
    a, b = choose_stop_set(ids[::-1], size=1000), choose_stop_set(ids, size=1000)
    assert a.tolist() == b.tolist() and len(a) == 1000 and np.all(np.diff(a) > 0)
    assert set(a) <= set(ids.tolist())
    assert choose_stop_set([5, 3, 3], size=10).tolist() == [3, 5]


def test_a_value_just_short_of_its_threshold_is_never_shown_as_reaching_it():
    # κ 0.998 < 0.999: two decimals would print "κ 1.00 ... (needs 0.999)" for a rule that does not stop.
    a = np.array([0] * 500 + [1] * 500)
    b = a.copy()
    b[0] = 1
    k = KappaStability(window=1, threshold=0.999)
    feed(k, rounds_of([a, b]))
    assert not k.met
    assert k.explain() == "κ 0.998 over the last 1 round (needs 0.999)"
    # 1.04 % changed > 1 %: one decimal would print "1.0% ... (needs ≤ 1%)".
    c = PredictionChange(window=1, threshold=0.01)
    changed = BASE.copy()
    changed[:1] = 1
    feed(c, rounds_of([np.tile(BASE, 10)[:961], np.r_[np.tile(changed, 10)[:961]]]))
    assert c.value == pytest.approx(10 / 961) and not c.met
    assert c.explain() == "1.04% of stop-set predictions changed per round (needs ≤ 1% for 1)"
    u = OverallUncertainty(threshold=0.05)
    u.stop(Snapshot(round=1, n_labels=10, uncertainty=0.0504))
    assert not u.met
    assert u.explain() == "uncertainty 0.0504 on the stop set (needs ≤ 0.05)"
    assert verdict(rounds_of([a, b]), KappaStability(window=1, threshold=0.999)).text == (
        "stop: not yet — κ 0.998 over the last 1 round (needs 0.999)")
