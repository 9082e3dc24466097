"""Suites of learning curves: every (data set, strategy, init, seed), in worker processes with ``jobs``."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence

from activeloop.bench.curve import Curve
from activeloop.bench.datasets import Dataset, load_dataset, split_dataset
from activeloop.bench.models import ceiling_score
from activeloop.bench.peers import peer_name
from activeloop.bench.runner import INITS, is_peer, run_curve
from activeloop.errors import ActiveloopError

__all__ = ["run_suite"]


@lru_cache(maxsize=8)
def _dataset(spec: str) -> Dataset:
    return load_dataset(spec)


def _split(spec: str | Dataset, seed: int, test_size: float):
    ds = spec if isinstance(spec, Dataset) else _dataset(spec)
    p, t = split_dataset(ds, seed, test_size)
    return ds, ds.X[p], ds.y[p], ds.X[t], ds.y[t]


def _ceiling_task(spec, seed, model, test_size):
    ds, Xp, yp, Xt, yt = _split(spec, seed, test_size)
    return ceiling_score(Xp, yp, Xt, yt, ds.classes, ds.minority, model, seed)


def _curve_task(spec, seed, strategy, start, model, init, batch, budget, test_size, ceiling, peer_model):
    ds, Xp, yp, Xt, yt = _split(spec, seed, test_size)
    return run_curve(Xp, yp, Xt, yt, strategy=strategy, model=model, init=init, batch=batch, budget=budget,
                     seed=seed, start=start, classes=ds.classes, minority=ds.minority, dataset=ds.name,
                     ceiling=ceiling, peer_model=peer_model)


def _worker_init() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _run_tasks(fn, tasks, jobs, on_done, client=None):
    if client is not None:
        from activeloop.bench.distributed import run_on_cluster

        return run_on_cluster(client, fn, tasks, on_done, init=_worker_init, name=f"activeloop-{fn.__name__[1:]}")
    results: list[Any] = [None] * len(tasks)
    if jobs <= 1:
        for k, args in enumerate(tasks):
            results[k] = fn(*args)
            if on_done:
                on_done(results[k])
        return results
    with ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init) as ex:
        futs = {ex.submit(fn, *args): k for k, args in enumerate(tasks)}
        for f in as_completed(futs):
            results[futs[f]] = f.result()
            if on_done:
                on_done(results[futs[f]])
    return results


def run_suite(
    datasets: Iterable[str | Dataset] = ("digits-imbalanced",),
    strategies: Sequence[Any] = ("default", "margin", "peer:modal-margin", "peer:random"),
    seeds: int | Sequence[int] = 5,
    *,
    model: Any = None,
    inits: Sequence[str] = ("random",),
    init: int = 10,
    batch: int = 10,
    budget: int | Mapping[str, int] = 300,
    test_size: float = 0.3,
    jobs: int = 1,
    peer_model: Any = None,
    ceiling: bool = True,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[Curve], None] | None = None,
    client: Any = None,
) -> list[Curve]:
    """Run every (data set, strategy, init, seed); curves in a deterministic order.

    Parameters
    ----------
    datasets : iterable of str or Dataset
        Names/paths for :func:`~activeloop.bench.datasets.load_dataset`, or Dataset objects.
    strategies : sequence
        As in :func:`run_curve`. Peers (``peer:modal-*``, ``peer:random``) run once per seed whatever ``inits``.
    seeds : int or sequence of int
        ``5`` means seeds 0..4.
    inits : sequence of {"random", "cold-start"}
        Start protocols for the activeloop strategies.
    budget : int or mapping of str to int
        Labels per run; a mapping gives each data set (by its spec) its own budget.
    jobs : int
        Processes (each with one torch thread); 1 runs in this process.
    ceiling : bool, default True
        Fit each model on the full pool for the ceiling (labels to 95 %); False skips those fits.
    client : distributed.Client, optional
        Run each (data set, strategy, init, seed) as one task on this dask cluster (the ``dask``
        extra) instead of local processes; ``jobs`` is then ignored. The curves are the same.
    on_start : callable(total_runs), optional
    on_done : callable(Curve), optional
        Called as each curve finishes (progress bars).

    Returns
    -------
    list of Curve
        Ordered by data set, strategy, init, seed, whatever ``jobs`` is.
    """
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    strategies = [peer_name(s) or s for s in strategies]  # old peer spellings: warned once, renamed
    specs = list(datasets)
    for s in inits:
        if s not in INITS:
            raise ActiveloopError(f"unknown init {s!r}; choose random or cold-start")
    if jobs > 1 or client is not None:
        for s in strategies:
            if not isinstance(s, str):
                import pickle

                try:
                    pickle.dumps(s)
                except Exception as exc:  # noqa: BLE001
                    raise ActiveloopError(f"strategy {s!r} cannot be sent to worker processes; use jobs=1") from exc
    # ceilings: one per (data set, seed, model kind), shared by the curves that use that model
    ceil_keys: list[tuple] = []
    for spec in specs:
        for seed in seed_list:
            for kind in ("activeloop", "peer"):
                if kind == "peer" and not any(is_peer(s) for s in strategies):
                    continue
                if kind == "activeloop" and all(is_peer(s) for s in strategies):
                    continue
                ceil_keys.append((spec, seed, kind))
    ceil_tasks = [(spec, seed, model if kind == "activeloop" else (peer_model or "logreg"), test_size)
                  for spec, seed, kind in ceil_keys]
    runs = []
    for spec in specs:
        for strat in strategies:
            for start in (["random"] if is_peer(strat) else list(inits)):
                for seed in seed_list:
                    runs.append((spec, seed, strat, start))
    if on_start:
        on_start(len(runs))
    ceils = dict(zip(ceil_keys, _run_tasks(_ceiling_task, ceil_tasks, jobs, None, client) if ceiling else
                     [None] * len(ceil_keys)))
    budgets = budget if isinstance(budget, Mapping) else {}
    tasks = [(spec, seed, strat, start, model, init, batch, budgets.get(str(spec), budget), test_size,
              ceils[(spec, seed, "peer" if is_peer(strat) else "activeloop")], peer_model)
             for spec, seed, strat, start in runs]
    return _run_tasks(_curve_task, tasks, jobs, on_done, client)
