"""Connecting to a dask.distributed scheduler (the optional ``dask`` extra), with one-line errors.

Only the cluster paths (``--scheduler``, ``client=``) import this module's dask parts, lazily, so
activeloop works without the extra.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from activeloop.errors import ClusterError
from activeloop.extras import require

__all__ = ["connect", "distributed", "local_cluster", "n_workers", "session"]

CONNECT_TIMEOUT = 5.0


def distributed() -> Any:
    """The ``distributed`` module, or the one-line :class:`MissingExtraError` naming the dask extra."""
    return require("distributed", "dask", "a dask cluster")


def connect(address: str, *, timeout: float | None = None) -> Any:
    """A ``distributed.Client`` for the scheduler at ``address``; one line naming it when unreachable.

    ``timeout`` (default :data:`CONNECT_TIMEOUT` seconds) bounds the wait for an answer.
    """
    d = distributed()
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    try:  # before a Client exists: a half-built one complains again when it is garbage-collected
        scheme, where = d.comm.parse_address(address)
        d.comm.registry.get_backend(scheme)
        if scheme != "inproc":  # every network backend takes HOST:PORT; a missing port fails deep inside Client
            d.comm.addressing.parse_host_port(where)
    except ValueError as exc:
        raise ClusterError(f"{address!r} is not a dask scheduler address ({exc}); give one like tcp://HOST:8786") from None
    try:
        return d.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:  # refused, no route, no answer: all end in a timeout
        raise ClusterError(
            f"cannot reach the dask scheduler at {address} within {timeout:g} s ({type(exc).__name__}); "
            "start one with `dask scheduler` and workers with `dask worker ADDRESS`"
        ) from None


@contextmanager
def session(address: str | None) -> Iterator[Any]:
    """``connect(address)`` closed on exit; ``None`` when no address is given (run locally)."""
    if address is None:
        yield None
        return
    client = connect(address)
    try:
        yield client
    finally:
        client.close()


def n_workers(client: Any, *, timeout: float | None = None) -> int:
    """Workers the scheduler has (waiting up to ``timeout`` for the first); a :class:`ClusterError` when none comes."""
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    address = client.scheduler.address
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        raise ClusterError(
            f"the dask scheduler at {address} has no workers; start some with `dask worker {address}`"
        ) from None
    return len(client.scheduler_info().get("workers", {}))


def local_cluster(n_workers: int = 2, **kwargs: Any) -> Any:
    """A ``distributed.LocalCluster`` of ``n_workers`` processes (1 thread each) on loopback, no dashboard.

    Its scheduler's HTTP server (health and metrics, kept without a dashboard) listens on a free
    port rather than trying 8787 first, so clusters side by side neither clash nor warn.
    ``kwargs`` go to ``LocalCluster``.
    """
    d = distributed()
    options: dict[str, Any] = dict(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, scheduler_kwargs={"dashboard": False,
                                                                             "dashboard_address": "127.0.0.1:0"})
    options.update(kwargs)
    return d.LocalCluster(**options)
