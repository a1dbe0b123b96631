"""Running backtests on Dask: the cluster, the data sent once, tasks in batches, progress.

The work unit is :func:`run_batch`: several backtests in one task, so scheduling overhead
(a few milliseconds per task) stays small next to sub-second backtests. The market goes to
each worker once (:func:`ship`); each backtest replays on its own shallow copy of it (a market
carries the replay clock, ``as_of``, of the broker that drives it), so the caches a worker builds
on first use serve every later backtest there.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import uuid
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

from ..settings import Settings


def run_one(market, strategy, settings: Settings, start, end, options: dict) -> dict[str, float]:
    """One backtest's ``stats`` as a plain dict (what a task sends back)."""
    from ..backtest import backtest

    # backtest() replays on its own shallow copy of the market (its own clock), while the caches it
    # builds on first use (bar views, indicators) stay on this worker's one copy of the market (ship).
    result = backtest(market, copy.deepcopy(strategy), settings, start=start, end=end, progress=False, **options)
    return {k: float(v) for k, v in result.stats.items()}


def run_batch(market, strategy, jobs: Sequence[tuple[Settings, Any, Any]], options: dict) -> list[dict]:
    """Backtests of ``(settings, start, end)`` jobs, one after the other, inside one task."""
    return [run_one(market, strategy, s, start, end, options) for s, start, end in jobs]


@contextmanager
def client_for(client):
    """A ``dask.distributed.Client``: the one given, one connected to a scheduler address, or
    (``None``) one on a new ``LocalCluster`` sized to this machine, closed afterwards."""
    from dask.distributed import Client

    if client is None:
        cluster = local_cluster()
        c = Client(cluster)
        try:
            yield c
        finally:
            c.close()
            cluster.close()
    elif isinstance(client, str):
        c = Client(client)
        try:
            yield c
        finally:
            c.close()
    elif isinstance(client, Client):
        yield client
    else:
        raise TypeError(f"client must be None, a scheduler address like 'tcp://host:8786' or a "
                        f"dask.distributed.Client, not {type(client).__name__}")


def local_cluster(n_workers: int | None = None):
    """A ``LocalCluster`` for backtests: one single-threaded worker process per core.

    Dask's statistical profiler is off on its workers: it samples every worker thread every
    10 ms, which cost a CPU-bound backtest about 10% (a 2-worker sweep's speed-up went from
    1.65x to 1.80x; benchmarks/RESULTS.md).
    """
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.worker.profile.enabled": False}):
        return LocalCluster(n_workers=n_workers or max(1, os.cpu_count() or 1), threads_per_worker=1,
                            processes=True, dashboard_address=":0", silence_logs=logging.ERROR)


def _has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def batch_size(n_jobs: int, n_threads: int) -> int:
    """Jobs per task: about sixteen tasks per worker thread. A task costs a few milliseconds of
    scheduling and a backtest a few hundred, so batches only matter for large sweeps; many tasks
    per thread keep the last wave short (backtests of different settings take different times)
    and make a retry cheap.

    >>> batch_size(1000, 2), batch_size(16, 2), batch_size(0, 2)
    (32, 1, 1)
    """
    return max(1, math.ceil(n_jobs / max(1, 16 * n_threads)))


def ship(client, market):
    """The market on the cluster, as the future every task of a sweep reads.

    Not ``client.scatter``: data scattered from the client cannot be recomputed, and Dask's
    active memory manager soon keeps a single replica even of a broadcast (dask/distributed#8657),
    so a worker dying with it cancelled the whole sweep. A task's result is recomputed from its
    spec, on a surviving worker, when its holders die; workers fetch it from each other as their
    tasks need it. The scheduler keeps the pickled market for that (~34 MB for 100 symbols x 10
    years of daily bars).
    """
    with warnings.catch_warnings():  # the market is meant to travel in the task's spec
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        return client.submit(_same, market, key=f"market-{uuid.uuid4().hex}")  # a fresh key: never shared


def _same(x):
    return x


def run_jobs(client, market, strategy, jobs: list[tuple[Settings, Any, Any]], options: dict, *,
             progress=None, batch: int | None = None, label: str = "backtests") -> list[dict]:
    """Run every job on the cluster; results in the order of ``jobs``."""
    from dask.distributed import as_completed

    if not jobs:
        return []
    threads = sum(client.nthreads().values()) or 1
    size = batch or batch_size(len(jobs), threads)
    data = ship(client, market)
    futures = {}
    for i in range(0, len(jobs), size):
        chunk = jobs[i:i + size]
        f = client.submit(run_batch, data, strategy, chunk, options, pure=False, retries=2)
        futures[f] = (i, len(chunk))
    results: list[dict | None] = [None] * len(jobs)
    tick = _progress(progress, len(jobs), label, client)
    try:
        for f in as_completed(futures):
            i, n = futures[f]
            results[i:i + n] = f.result()
            tick(n)
    finally:
        tick(None)
    return results  # type: ignore[return-value]


def _progress(progress, total: int, label: str, client) -> Callable[[int | None], None]:
    """``tick(n)`` advances by n, ``tick(None)`` closes: tqdm, a callable, or nothing."""
    if callable(progress) and not isinstance(progress, bool):
        done = [0]

        def call(n):
            if n is not None:
                done[0] += n
                progress(done[0], total)
        return call
    if progress is None:
        from ..backtest.progress import interactive

        progress = interactive() and total > 1
    if not progress:
        return lambda n: None
    from tqdm.auto import tqdm

    link = getattr(client, "dashboard_link", None) if _has_bokeh() else None
    bar = tqdm(total=total, desc=label, unit="run")
    if link:
        bar.write(f"Dask dashboard: {link}")

    def tick(n):
        if n is None:
            bar.close()
        else:
            bar.update(n)
    return tick
