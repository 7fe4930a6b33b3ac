"""Per-symbol compute on every core, with DuckDB's one-writer rule kept: the asset reads its inputs and
writes its rows in its own process; only pure work (rendering, model fitting) goes to worker processes.

One pool per process, started on first use and reused by every asset of a run (starting two spawned
workers costs ~3 s: a run pays it once, and only when some asset has enough work to gain from it).
Workers are spawned, not forked: the parent holds DuckDB and numba threads a fork would copy mid-state.
`LIQLEVELS_WORKERS` sets the number of worker processes (default: the machine's cores, at most 4;
0 or 1 computes everything in the asset's own process).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from multiprocessing import get_context
from multiprocessing.util import Finalize

_pool: ProcessPoolExecutor | None = None
# Jobs an asset computes in its own process: beyond this, the workers pay for starting (~3 s, once per run).
SMALL_WORK = 4


def worker_count(env=os.environ) -> int:
    value = env.get("LIQLEVELS_WORKERS", "")
    if value == "":
        return min(4, os.cpu_count() or 1)
    if not value.isdigit():
        raise ValueError(f"LIQLEVELS_WORKERS={value!r}: expected a whole number of worker processes (0 = none)")
    return int(value)


def _shared_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=worker_count(), mp_context=get_context("spawn"))
        # Shut down before multiprocessing joins this process's children at exit. In a process that is
        # itself a multiprocessing child (`liqlevels run` executes the run in one) atexit never runs,
        # and the join would wait forever for workers nobody told to stop. Priority 100: before the
        # pool's own queues close theirs (priority 10), or the stop sentinels are never delivered.
        Finalize(_pool, _pool.shutdown, kwargs={"cancel_futures": True}, exitpriority=100)
    return _pool


def shutdown(wait: bool = True) -> None:
    """Stop the shared workers (the end of a run, or a pool whose worker died): the next use starts a
    fresh pool."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=wait, cancel_futures=True)
    _pool = None


def thunks(fn: Callable, jobs: Sequence[tuple], small: int = SMALL_WORK) -> list[Callable[[], object]]:
    """One zero-argument callable per job giving `fn(*job)`: computed in the worker processes when there
    are more than `small` jobs and more than one worker, else in this process when called.

    Calling a thunk re-raises the job's exception, so each job's failure stays that job's (a symbol-day
    note), and a worker that died fails only the jobs it held; the next call starts a fresh pool.
    """
    if len(jobs) <= small or worker_count() < 2:
        return [partial(fn, *job) for job in jobs]
    try:
        futures = [_shared_pool().submit(fn, *job) for job in jobs]
    except BrokenProcessPool:
        shutdown(wait=False)
        futures = [_shared_pool().submit(fn, *job) for job in jobs]

    def result(future):
        try:
            return future.result()
        except BrokenProcessPool:
            shutdown(wait=False)
            raise

    return [partial(result, f) for f in futures]
