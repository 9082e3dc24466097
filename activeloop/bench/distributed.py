"""A suite's runs as tasks on a dask.distributed cluster: one task per run, results in submission order.

Each task has a deterministic key (the suite's token and the run's position), so submitting the
same suite twice never runs a finished task again, and ``retries`` plus the scheduler's own
rescheduling run a task again when its worker dies. Results are placed by position, so the output
is the same as a local run whatever order the tasks finish in, and nothing is counted twice.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from activeloop.cluster import distributed, n_workers
from activeloop.errors import ClusterError

__all__ = ["RETRIES", "run_on_cluster"]

RETRIES = 3


def _call(init: Callable[[], None] | None, fn: Callable[..., Any], args: tuple) -> Any:
    if init is not None:
        init()
    return fn(*args)


def run_on_cluster(
    client: Any,
    fn: Callable[..., Any],
    tasks: Sequence[tuple],
    on_done: Callable[[Any], None] | None = None,
    *,
    init: Callable[[], None] | None = None,
    name: str = "activeloop-run",
    retries: int = RETRIES,
) -> list[Any]:
    """``[fn(*args) for args in tasks]`` computed on ``client``'s workers; ``on_done`` as each finishes.

    ``init`` runs in the worker before each task (e.g. one torch thread, as the local worker
    processes have). ``fn`` must be importable on the workers (a module-level function).
    """
    d = distributed()
    from dask.base import tokenize

    n_workers(client)
    try:
        token = tokenize(fn, init, list(tasks))
    except Exception as exc:  # noqa: BLE001 - whatever fails to hash would fail to pickle too
        raise ClusterError(f"{name}: the tasks cannot be sent to dask workers ({exc})") from None
    futures = [client.submit(_call, init, fn, args, key=f"{name}-{token}-{k}", pure=False, retries=retries)
               for k, args in enumerate(tasks)]
    position = {f.key: k for k, f in enumerate(futures)}
    results: list[Any] = [None] * len(tasks)
    try:
        for fut in d.as_completed(futures, loop=client.loop):
            k = position[fut.key]
            results[k] = fut.result()
            if on_done is not None:
                on_done(results[k])
    finally:
        client.cancel(futures)
    return results
