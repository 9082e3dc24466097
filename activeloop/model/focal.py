"""Multi-class softmax focal loss and class-balanced per-class weights (alpha)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["focal_loss", "class_alpha"]


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: torch.Tensor | Sequence[float] | None = None,
    gamma: float = 2.0,
    sample_weight: torch.Tensor | None = None,
    reduction: Literal["mean", "sum", "none"] = "mean",
) -> torch.Tensor:
    """Softmax focal loss ``FL = -alpha_y (1 - p_y)^gamma log p_y``.

    Computed from ``log_softmax`` so it stays finite for any logits. With ``gamma=0`` and
    ``alpha=None`` it is exactly cross-entropy.

    Parameters
    ----------
    logits : Tensor of shape (n_samples, n_classes)
        Unnormalised scores.
    target : Tensor of shape (n_samples,) or (n_samples, n_classes)
        Class indices (int64), or a soft target distribution (rows summing to 1, e.g. from
        MixUp); for soft targets the loss is the target-weighted sum of the per-class terms.
    alpha : Tensor or sequence of shape (n_classes,), default=None
        Per-class weights; None weighs every class 1.
    gamma : float, default=2.0
        Focusing parameter; 0 gives (weighted) cross-entropy.
    sample_weight : Tensor of shape (n_samples,), default=None
        Per-row weights; weight k counts like the row repeated k times.
    reduction : {"mean", "sum", "none"}, default="mean"
        "mean" divides the weighted sum by the sum of ``sample_weight`` (or by n_samples);
        alpha is *not* part of the denominator, so alpha scales the loss as written.

    Returns
    -------
    Tensor
        A scalar, or shape (n_samples,) for ``reduction="none"``.
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (n_samples, n_classes), got shape {tuple(logits.shape)}")
    n, c = logits.shape
    logp = F.log_softmax(logits, dim=1)
    if target.ndim == 1 and target.shape[0] == n:
        logp_y = logp.gather(1, target.long().view(-1, 1)).squeeze(1)
        per_row = -logp_y
        if gamma != 0:
            per_row = per_row * (-torch.expm1(logp_y)).clamp_min(0).pow(gamma)
        if alpha is not None:
            a = torch.as_tensor(alpha, dtype=logits.dtype, device=logits.device)
            per_row = per_row * a[target.long()]
    elif target.shape == logits.shape:
        per_class = -logp
        if gamma != 0:
            per_class = per_class * (-torch.expm1(logp)).clamp_min(0).pow(gamma)
        if alpha is not None:
            a = torch.as_tensor(alpha, dtype=logits.dtype, device=logits.device)
            per_class = per_class * a.view(1, c)
        per_row = (per_class * target.to(logits.dtype)).sum(1)
    else:
        raise ValueError(
            f"target must have shape ({n},) or ({n}, {c}), got {tuple(target.shape)}"
        )
    if sample_weight is not None:
        sw = torch.as_tensor(sample_weight, dtype=logits.dtype, device=logits.device)
        per_row = per_row * sw
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    if reduction == "mean":
        if sample_weight is not None:
            return per_row.sum() / sw.sum().clamp_min(torch.finfo(logits.dtype).tiny)
        return per_row.mean()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def class_alpha(
    counts: Sequence[float] | np.ndarray,
    mode: str | Sequence[float] | np.ndarray | None = "effective_number",
    beta: float = 0.999,
) -> np.ndarray | None:
    """Per-class loss weights from class counts.

    Parameters
    ----------
    counts : array-like of shape (n_classes,)
        Number (or summed sample weight) of training rows of each class.
    mode : {"effective_number", "balanced"}, array-like or None, default="effective_number"
        - ``"effective_number"``: Cui et al. (2019), ``w_c = (1 - beta) / (1 - beta^n_c)``;
        - ``"balanced"``: inverse frequency, ``w_c = 1 / n_c``;
        - an explicit array of n_classes weights, returned as float64 unchanged;
        - None: no weighting (returns None).
        The computed modes are normalised so the weights sum to n_classes. A class with
        ``n_c = 0`` (none in this training set) gets the largest weight of the present
        classes, so it is not infinitely weighted if it appears later.
    beta : float in [0, 1), default=0.999
        Effective-number hyper-parameter; ``beta -> 1`` approaches "balanced", ``beta = 0``
        gives equal weights.

    Returns
    -------
    ndarray of shape (n_classes,) or None
    """
    counts_arr = np.asarray(counts, dtype=np.float64).ravel()
    c = counts_arr.size
    if mode is None:
        return None
    if not isinstance(mode, str):
        w = np.asarray(mode, dtype=np.float64).ravel()
        if w.size != c:
            raise ValueError(f"alpha has {w.size} entries but there are {c} classes")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("alpha entries must be finite and non-negative")
        return w
    if np.any(counts_arr < 0) or not np.all(np.isfinite(counts_arr)):
        raise ValueError("class counts must be finite and non-negative")
    present = counts_arr > 0
    if not present.any():
        return np.ones(c)
    w = np.zeros(c)
    if mode == "balanced":
        w[present] = 1.0 / counts_arr[present]
    elif mode == "effective_number":
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        # (1 - beta) / (1 - beta**n); -expm1(n*log(beta)) = 1 - beta**n without cancellation.
        if beta == 0.0:
            w[present] = 1.0
        else:
            w[present] = (1.0 - beta) / -np.expm1(counts_arr[present] * np.log(beta))
    else:
        raise ValueError(f"alpha mode must be 'effective_number', 'balanced', a list or None, got {mode!r}")
    w[~present] = w[present].max()
    return w * (c / w.sum())
