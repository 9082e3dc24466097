"""Training pieces of :class:`~activeloop.model.FocalLossClassifier`: the network, batching, hold-out, the epoch loop."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from activeloop.model.focal import focal_loss

__all__ = [
    "TrainHistory",
    "build_mlp",
    "fit_lbfgs",
    "fit_temperature",
    "l2_strength",
    "init_linear",
    "one_cpu_thread",
    "plain_batches",
    "row_keys",
    "stratified_batches",
    "stratified_holdout",
    "train_epochs",
]

#: Early stopping / temperature scaling need at least this many held-out rows.
MIN_VALIDATION_ROWS = 100
#: A class needs this many rows before any of them is held out for validation.
MIN_ROWS_TO_HOLD_OUT = 5


@contextmanager
def one_cpu_thread():
    """Train small CPU models on one intra-op thread.

    These matrices are tiny: a second thread buys nothing, and OpenMP spin-waiting makes
    training up to 20x slower when the other core is busy. The old setting is restored.
    """
    old = torch.get_num_threads()
    if old == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)



def init_linear(layer: torch.nn.Linear, gen: torch.Generator | None) -> None:
    """torch's default Linear init (U(+-1/sqrt(fan_in))), drawn from a local generator."""
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=gen)
        layer.bias.uniform_(-bound, bound, generator=gen)


def build_mlp(n_in: int, hidden: list[int], n_out: int, gen: torch.Generator | None) -> torch.nn.Sequential:
    """Linear/ReLU stack, initialised from ``gen`` without touching torch's global RNG."""
    layers: list[torch.nn.Module] = []
    width = n_in
    with torch.random.fork_rng(devices=[]):  # nn.Linear's own init draws from the global RNG
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        layers.append(torch.nn.Linear(width, n_out))
    net = torch.nn.Sequential(*layers)
    if gen is not None:
        for m in net:
            if isinstance(m, torch.nn.Linear):
                init_linear(m, gen)
    return net


def row_keys(X: np.ndarray, seed: int) -> np.ndarray:
    """A seeded hash of each row's bytes: the same row gets the same key in every fit."""
    salt = seed.to_bytes(8, "little")
    rows = np.ascontiguousarray(X, dtype=np.float64)
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8, salt=salt).digest(), "little") for r in rows),
        dtype=np.uint64, count=len(rows),
    )


def stratified_holdout(y: np.ndarray, fraction: float, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into (train, validation), stratified by class.

    Each class holds out its ``round(fraction * n_c)`` rows with the smallest keys, so a row
    held out in one fit stays held out when labels are added (warm starts do not validate
    on rows they trained on). Classes under 5 rows stay whole in training.
    """
    train, val = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[np.argsort(keys[idx], kind="stable")]
        k = int(round(fraction * len(idx))) if len(idx) >= MIN_ROWS_TO_HOLD_OUT else 0
        val.append(idx[:k])
        train.append(idx[k:])
    val_idx = np.concatenate(val)
    if len(val_idx) < MIN_VALIDATION_ROWS:
        return np.arange(len(y)), np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(train)), np.sort(val_idx)


def plain_batches(y: np.ndarray, bs: int, n_classes: int, rng: np.random.Generator):
    """ceil(n/bs) batches of a random permutation (no stratification)."""
    perm = rng.permutation(len(y))
    return [perm[i:i + bs] for i in range(0, len(y), bs)]


def stratified_batches(y: np.ndarray, bs: int, n_classes: int, rng: np.random.Generator):
    """ceil(n/bs) batches, each with its share of every class and at least one row of each."""
    n = len(y)
    nb = max(1, math.ceil(n / bs))
    if nb == 1:
        return [rng.permutation(n)]
    rows, slots = [], []
    for c in range(n_classes):
        idx = np.flatnonzero(y == c)
        if idx.size == 0:
            continue
        idx = rng.permutation(idx)
        if idx.size < nb:  # too few to go round: reuse rows so every batch gets one
            idx = np.concatenate([idx, rng.choice(idx, nb - idx.size)])
        rows.append(idx)
        slots.append((np.arange(idx.size) * nb) // idx.size)  # spread evenly over batches
    rows_a, slots_a = np.concatenate(rows), np.concatenate(slots)
    order = np.argsort(slots_a + rng.random(slots_a.size) * 0.5, kind="stable")
    rows_a, slots_a = rows_a[order], slots_a[order]
    cuts = np.flatnonzero(np.diff(slots_a)) + 1
    return np.split(rows_a, cuts)


def fit_temperature(net: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> float:
    """Temperature minimising the held-out negative log-likelihood (Guo et al., 2017)."""
    with torch.no_grad():
        logits = net(X).double()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=50, line_search_fn="strong_wolfe")
    wd = w.double()

    def closure():
        opt.zero_grad()
        loss = focal_loss(logits / log_t.exp(), y, gamma=0.0, sample_weight=wd)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp())
    return t if math.isfinite(t) and 0.01 < t < 100 else 1.0


@dataclass
class TrainHistory:
    """What :func:`train_epochs` ran: epochs, the epoch whose weights were kept, and the per-epoch losses."""

    n_epochs: int
    best_epoch: int
    loss_curve: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)


def train_epochs(
    net: torch.nn.Module,
    opt: torch.optim.Optimizer,
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
    *,
    n_classes: int,
    batch_size: int,
    balanced: bool,
    alpha: torch.Tensor | None,
    gamma: float,
    mixup: float,
    max_epochs: int,
    patience: int,
    tol: float,
    early_stopping: bool,
    rng: np.random.Generator,
    on_epoch: Callable[[int, int, float], None] | None = None,
) -> TrainHistory:
    """The epoch loop: focal-loss mini-batches (stratified when ``balanced``, MixUp when ``mixup > 0``).

    Stops after ``patience`` epochs without a ``tol`` improvement of the monitored loss (held-out
    when ``val`` is given, else training) unless ``max_epochs`` is 1. With ``val`` and
    ``early_stopping`` the best epoch's weights are loaded back into ``net``; ``net`` ends in eval mode.
    """
    Xt, yt, wt = train
    dev = Xt.device
    batches_fn = stratified_batches if balanced else plain_batches
    y_train_np = yt.cpu().numpy()
    hist = TrainHistory(0, 0)
    best, best_state, since_best = math.inf, None, 0
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        net.train()
        total, weight_total = 0.0, 0.0
        for idx in batches_fn(y_train_np, batch_size, n_classes, rng):
            bi = torch.as_tensor(idx, device=dev)
            xb, yb, wb = Xt[bi], yt[bi], wt[bi]
            target = yb
            if mixup > 0 and len(idx) > 1:
                lam = float(rng.beta(mixup, mixup))
                perm = torch.as_tensor(rng.permutation(len(idx)), device=dev)
                xb = lam * xb + (1 - lam) * xb[perm]
                onehot = torch.nn.functional.one_hot(yb, n_classes).to(xb.dtype)
                target = lam * onehot + (1 - lam) * onehot[perm]
                wb = lam * wb + (1 - lam) * wb[perm]
            wsum = float(wb.sum())
            if wsum <= 0:
                continue
            loss = focal_loss(net(xb), target, alpha=alpha, gamma=gamma, sample_weight=wb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * wsum
            weight_total += wsum
        train_loss = total / max(weight_total, 1e-12)
        hist.loss_curve.append(train_loss)
        if val is not None:
            net.eval()
            with torch.no_grad():
                monitored = float(focal_loss(net(val[0]), val[1], alpha=alpha, gamma=gamma, sample_weight=val[2]))
            hist.validation_loss.append(monitored)
        else:
            monitored = train_loss
        if on_epoch is not None:
            on_epoch(epoch, max_epochs, train_loss)
        if monitored < best - tol or best == math.inf:
            best, since_best, hist.best_epoch = monitored, 0, epoch
            if val is not None and early_stopping:
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            since_best += 1
            if since_best >= patience and max_epochs > 1:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    else:
        hist.best_epoch = epoch
    net.eval()
    hist.n_epochs = epoch
    return hist


def l2_strength(sample_weight: torch.Tensor, row_alpha: torch.Tensor, C: float, n_classes: int) -> float:
    """Coefficient ``lam`` of ``lam * ||W||^2`` that makes our objective scikit-learn's ``LogisticRegression(C)``.

    scikit-learn minimises ``C * sum_i s_i a_i l_i + ||W||^2 / 2`` (``a_i``: class weight of row i,
    intercept unpenalised). Our loss is ``sum_i s_i a_i l_i / sum_i s_i`` (focal loss, mean
    reduction). Dividing scikit-learn's objective by ``C * sum_i s_i a'_i``, with the class weights
    rescaled to ``a'`` so they average 1 over the rows as its "balanced" weights do, gives
    ``lam = sum_i s_i a_i / (2 C (sum_i s_i)^2)`` on our scale. With two classes scikit-learn fits one
    weight vector ``w`` where softmax has two rows; at the optimum they are ``+-w/2``, so ``lam``
    doubles to penalise ``||w||^2`` alike.
    """
    s = float(sample_weight.sum())
    lam = float((sample_weight * row_alpha).sum()) / (2.0 * C * s * s) if s > 0 else 0.0
    return 2.0 * lam if n_classes == 2 else lam


def fit_lbfgs(
    net: torch.nn.Module,
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    alpha: torch.Tensor | None,
    gamma: float,
    C: float,
    max_iter: int,
    n_classes: int,
) -> TrainHistory:
    """Full-batch L-BFGS with a strong-Wolfe line search on the L2-penalised focal loss, in float64.

    With ``gamma=0`` and no hidden layer the problem is convex (weighted multinomial logistic
    regression), so this solves it to convergence as scikit-learn's ``lbfgs`` solver does, with the
    penalty of ``LogisticRegression(C=C)`` (see :func:`l2_strength`; biases are not penalised).
    ``net`` is trained in float64, then returned to float32 in eval mode.
    """
    Xt, yt, wt = (train[0].double(), train[1], train[2].double())
    net.double().train()
    a = None if alpha is None else alpha.double()
    row_alpha = torch.ones_like(wt) if a is None else a[yt]
    lam = l2_strength(wt, row_alpha, C, n_classes)
    weights = [m.weight for m in net if isinstance(m, torch.nn.Linear)]
    opt = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=max_iter, history_size=10,
                            tolerance_grad=1e-7, tolerance_change=1e-12, line_search_fn="strong_wolfe")
    losses: list[float] = []

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = focal_loss(net(Xt), yt, alpha=a, gamma=gamma, sample_weight=wt)
        loss = loss + lam * sum((w * w).sum() for w in weights)
        loss.backward()
        losses.append(float(loss.detach()))
        return loss

    opt.step(closure)
    net.float().eval()
    n_iter = int(opt.state[opt._params[0]].get("n_iter", 0))
    return TrainHistory(n_iter, n_iter, loss_curve=[losses[-1]] if losses else [])
