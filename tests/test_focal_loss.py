"""Focal loss and class-balanced alpha: exact values, gradients, reductions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from activeloop.model import class_alpha, focal_loss


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(32, 5, generator=g, dtype=torch.float64) * 3
    target = torch.randint(0, 5, (32,), generator=g)
    return logits, target


def test_gamma_zero_and_unit_alpha_equal_cross_entropy(batch):
    logits, target = batch
    for alpha in (None, torch.ones(5, dtype=torch.float64)):
        got = focal_loss(logits, target, alpha=alpha, gamma=0.0)
        assert torch.allclose(got, F.cross_entropy(logits, target), atol=1e-6, rtol=0)
    got = focal_loss(logits.float(), target, gamma=0.0, reduction="none")
    assert torch.allclose(got, F.cross_entropy(logits.float(), target, reduction="none"), atol=1e-6, rtol=0)


def test_gamma_zero_with_alpha_equals_weighted_cross_entropy_sum(batch):
    logits, target = batch
    w = torch.tensor([0.5, 1.0, 2.0, 3.0, 0.1], dtype=torch.float64)
    got = focal_loss(logits, target, alpha=w, gamma=0.0, reduction="sum")
    assert torch.allclose(got, F.cross_entropy(logits, target, weight=w, reduction="sum"), atol=1e-9)


def test_hand_computed_example():
    # logits [0, ln 3] -> softmax p = [1/4, 3/4]; alpha = [2, 1]; gamma = 2.
    # row 0, target 0: p_y = 0.25: 2 * (1 - 0.25)^2 * -ln(0.25) = 2 * 0.5625 * 1.3862944 = 1.5595812
    # row 1, target 1: p_y = 0.75: 1 * (1 - 0.75)^2 * -ln(0.75) = 1 * 0.0625 * 0.2876821 = 0.0179801
    # mean = (1.5595812 + 0.0179801) / 2 = 0.7887807
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]], dtype=torch.float64)
    target = torch.tensor([0, 1])
    alpha = [2.0, 1.0]
    rows = focal_loss(logits, target, alpha=alpha, gamma=2.0, reduction="none")
    assert rows.tolist() == pytest.approx([1.5595812, 0.0179801], abs=1e-7)
    assert float(focal_loss(logits, target, alpha=alpha, gamma=2.0)) == pytest.approx(0.7887807, abs=1e-7)
    # sample weights [1, 3]: weighted mean = (1.5595812 + 3 * 0.0179801) / 4 = 0.4033804
    sw = torch.tensor([1.0, 3.0], dtype=torch.float64)
    got = focal_loss(logits, target, alpha=alpha, gamma=2.0, sample_weight=sw)
    assert float(got) == pytest.approx(0.4033804, abs=1e-7)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 3.5])
def test_gradient_matches_finite_differences(gamma):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0, 1, 2, 3, 1, 0])
    alpha = torch.tensor([0.5, 2.0, 1.0, 1.5], dtype=torch.float64)
    sw = torch.rand(6, generator=g, dtype=torch.float64) + 0.5
    assert torch.autograd.gradcheck(
        lambda z: focal_loss(z, target, alpha=alpha, gamma=gamma, sample_weight=sw), (logits,)
    )
    soft = torch.softmax(torch.randn(6, 4, generator=g, dtype=torch.float64), dim=1)
    assert torch.autograd.gradcheck(lambda z: focal_loss(z, soft, alpha=alpha, gamma=gamma), (logits,))


def test_one_hot_soft_target_equals_index_target(batch):
    logits, target = batch
    onehot = F.one_hot(target, 5).double()
    a = torch.linspace(0.5, 2.0, 5, dtype=torch.float64)
    assert torch.allclose(focal_loss(logits, onehot, alpha=a), focal_loss(logits, target, alpha=a))


def test_loss_is_finite_for_extreme_logits():
    logits = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], requires_grad=True)
    loss = focal_loss(logits, torch.tensor([1, 1]), gamma=2.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert float(loss.detach()) == pytest.approx(1e4, rel=1e-6)  # row 0: (1-0)^2 * 2e4 / 2 rows


def test_focusing_downweights_easy_examples():
    logits = torch.tensor([[4.0, 0.0], [0.5, 0.0]])
    target = torch.tensor([0, 0])
    ce = focal_loss(logits, target, gamma=0.0, reduction="none")
    fl = focal_loss(logits, target, gamma=2.0, reduction="none")
    assert (fl < ce).all()
    assert fl[0] / ce[0] < fl[1] / ce[1]  # the easy row loses a larger share


def test_bad_shapes_and_reduction_raise(batch):
    logits, target = batch
    with pytest.raises(ValueError, match="2-D"):
        focal_loss(logits[0], target[:1])
    with pytest.raises(ValueError, match="target"):
        focal_loss(logits, target[:3])
    with pytest.raises(ValueError, match="reduction"):
        focal_loss(logits, target, reduction="avg")


def test_class_alpha_effective_number_follows_cui_et_al():
    counts = [1000, 100, 10]
    beta = 0.999
    raw = np.array([(1 - beta) / (1 - beta**n) for n in counts])
    got = class_alpha(counts, "effective_number", beta=beta)
    np.testing.assert_allclose(got, raw * 3 / raw.sum())
    assert got.sum() == pytest.approx(3.0)
    assert got[0] < got[1] < got[2]


def test_class_alpha_balanced_is_inverse_frequency_summing_to_c():
    got = class_alpha([30, 10], "balanced")
    np.testing.assert_allclose(got, [0.5, 1.5])


def test_class_alpha_beta_zero_is_uniform_and_beta_near_one_is_balanced():
    np.testing.assert_allclose(class_alpha([500, 5, 50], "effective_number", beta=0.0), [1, 1, 1])
    np.testing.assert_allclose(
        class_alpha([500, 5, 50], "effective_number", beta=1 - 1e-9), class_alpha([500, 5, 50], "balanced"), rtol=1e-5
    )


def test_class_alpha_missing_class_gets_largest_finite_weight():
    got = class_alpha([100, 0, 10], "effective_number")
    assert np.all(np.isfinite(got))
    assert got[1] == pytest.approx(got[2]) and got[2] > got[0]
    assert got.sum() == pytest.approx(3.0)
    np.testing.assert_allclose(class_alpha([0, 0], "balanced"), [1.0, 1.0])


def test_class_alpha_explicit_and_none():
    assert class_alpha([5, 5], None) is None
    np.testing.assert_allclose(class_alpha([5, 5], [0.25, 0.75]), [0.25, 0.75])
    with pytest.raises(ValueError, match="2 classes"):
        class_alpha([5, 5], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="mode"):
        class_alpha([5, 5], "median")
