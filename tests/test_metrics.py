"""classification_metrics(): imbalance-aware metrics as plain JSON-serialisable numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score

from activeloop.model import classification_metrics

CLASSES = ["ok", "spam", "fraud"]


@pytest.fixture
def case():
    # 10 rows: 6 ok, 3 spam, 1 fraud.
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 2])
    proba = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.8, 0.1, 0.1],
            [0.7, 0.2, 0.1],
            [0.6, 0.3, 0.1],
            [0.3, 0.6, 0.1],  # ok predicted spam
            [0.5, 0.1, 0.4],
            [0.1, 0.8, 0.1],
            [0.2, 0.7, 0.1],
            [0.6, 0.3, 0.1],  # spam predicted ok
            [0.2, 0.1, 0.7],
        ]
    )
    return y, proba


def test_values_match_hand_counts(case):
    y, proba = case
    m = classification_metrics(y, proba, CLASSES)
    assert m["n"] == 10
    assert m["accuracy"] == pytest.approx(0.8)
    # ok: 5 of 6 right, precision 5/6; spam: 2 of 3, precision 2/3; fraud 1 of 1.
    assert m["per_class"]["ok"] == pytest.approx({"precision": 5 / 6, "recall": 5 / 6, "f1": 5 / 6, "support": 6})
    assert m["per_class"]["spam"]["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["fraud"] == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1})
    assert m["balanced_accuracy"] == pytest.approx((5 / 6 + 2 / 3 + 1) / 3)
    assert m["macro_f1"] == pytest.approx(f1_score(y, proba.argmax(1), average="macro"))
    assert m["confusion"] == [[5, 1, 0], [1, 2, 0], [0, 0, 1]]


def test_minority_classes_and_their_pr_auc(case):
    y, proba = case
    m = classification_metrics(y, proba, CLASSES)
    # 1/C = 1/3, half of it = 1/6: fraud (0.1) is a minority, spam (0.3) is not.
    assert m["minority"] == ["fraud"]
    assert m["minority_recall"] == 1.0
    assert set(m["pr_auc"]) == {"fraud"}
    assert m["pr_auc"]["fraud"] == pytest.approx(average_precision_score(y == 2, proba[:, 2]))


def test_rarest_class_is_listed_even_when_none_is_below_the_threshold():
    y = np.array([0, 0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]])
    m = classification_metrics(y, proba, ["a", "b"])
    assert m["minority"] == ["b"]
    assert m["minority_recall"] == pytest.approx(0.5)


def test_labels_and_indices_give_the_same_result(case):
    y, proba = case
    by_index = classification_metrics(y, proba, CLASSES)
    by_name = classification_metrics([CLASSES[i] for i in y], proba, CLASSES)
    assert by_index == by_name


def test_integer_labels_are_read_as_labels_when_they_are_the_classes():
    y = np.array([3, 3, 7])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    m = classification_metrics(y, proba, [3, 7])
    assert m["accuracy"] == 1.0 and m["minority"] == ["7"]


def test_everything_is_plain_json(case):
    y, proba = case
    m = classification_metrics(y, proba, CLASSES)
    assert json.loads(json.dumps(m)) == m

    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                assert type(k) is str
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        else:
            assert type(v) in (int, float, str), type(v)

    walk(m)


def test_ece_is_zero_when_confidence_equals_accuracy_and_large_when_overconfident():
    y = np.array([0, 1] * 50)
    half = np.full((100, 2), 0.5)
    half[:, 0] += 1e-9  # always predicts 0: right half of the time at confidence 0.5
    assert classification_metrics(y, half, ["a", "b"])["ece"] == pytest.approx(0.0, abs=1e-6)
    sure = np.tile([0.99, 0.01], (100, 1))
    assert classification_metrics(y, sure, ["a", "b"])["ece"] == pytest.approx(0.49, abs=1e-6)


def test_absent_class_gets_zero_scores_without_warnings(case):
    y, proba = case
    y = np.where(y == 2, 1, y)  # no fraud left in y_true
    with np_warnings_as_errors():
        m = classification_metrics(y, proba, CLASSES)
    assert m["per_class"]["fraud"]["support"] == 0
    assert "fraud" not in m["pr_auc"]


def test_bad_inputs_raise(case):
    y, proba = case
    with pytest.raises(ValueError, match="shape"):
        classification_metrics(y, proba[:, :2], CLASSES)
    with pytest.raises(ValueError, match="rows"):
        classification_metrics(y[:3], proba, CLASSES)
    with pytest.raises(ValueError, match="neither"):
        classification_metrics(["ok"] * 9 + ["unknown"], proba, CLASSES)


class np_warnings_as_errors:
    """Turn every warning into an error inside the block."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def test_a_class_absent_from_y_true_and_never_predicted_does_not_lower_macro_f1():
    # Perfect on the two classes the eval split holds; "fraud" has no eval labels and is never predicted.
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.1, 0.9, 0.0], [0.2, 0.8, 0.0]])
    m = classification_metrics(y, proba, CLASSES)
    assert m["macro_f1"] == pytest.approx(1.0)  # was 2/3: the absent class counted as an F1 of 0
    assert m["balanced_accuracy"] == pytest.approx(1.0)
    assert m["per_class"]["fraud"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # predicted but absent: a false alarm, so it does count, as a 0
    proba[0] = [0.1, 0.1, 0.8]
    m = classification_metrics(y, proba, CLASSES)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    assert m["macro_f1"] == pytest.approx(f1_score(y, proba.argmax(1), average="macro"))


def test_no_examples_is_one_clear_error():
    with pytest.raises(ValueError, match="needs at least one example"):
        classification_metrics([], np.zeros((0, 3)), CLASSES)
