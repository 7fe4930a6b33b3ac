"""Per-symbol compute in worker processes: the same results as in the asset's own process, each job's
failure its own, and no pool at all when the work is small or LIQLEVELS_WORKERS says so."""

import datetime as dt
import os

import duckdb
import pandas as pd
import pytest

from pipelines.lib import leaderboard as lb
from pipelines.lib import workers
from tests.conftest import LEVEL_DAY


def _pid(_: int) -> int:
    return os.getpid()


def _fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("job 2 is bad")
    return x * 10


def test_small_work_stays_in_this_process_and_large_work_uses_other_processes(monkeypatch):
    monkeypatch.setenv("LIQLEVELS_WORKERS", "2")
    small = [t() for t in workers.thunks(_pid, [(i,) for i in range(3)], small=4)]
    assert small == [os.getpid()] * 3
    large = [t() for t in workers.thunks(_pid, [(i,) for i in range(12)], small=4)]
    assert os.getpid() not in large and 1 <= len(set(large)) <= 2
    monkeypatch.setenv("LIQLEVELS_WORKERS", "0")
    assert {t() for t in workers.thunks(_pid, [(i,) for i in range(12)], small=4)} == {os.getpid()}


def test_a_failing_job_fails_alone(monkeypatch):
    monkeypatch.setenv("LIQLEVELS_WORKERS", "2")
    results = workers.thunks(_fail_on_two, [(i,) for i in range(6)], small=1)
    assert [results[i]() for i in (0, 1, 3, 4, 5)] == [0, 10, 30, 40, 50]
    with pytest.raises(ValueError, match="job 2 is bad"):
        results[2]()


def test_workers_setting_is_validated(monkeypatch):
    monkeypatch.setenv("LIQLEVELS_WORKERS", "two")
    with pytest.raises(ValueError, match="LIQLEVELS_WORKERS='two'"):
        workers.worker_count()


def test_a_leaderboard_fitted_in_a_worker_equals_the_one_fitted_here(bundled_warehouse, monkeypatch):
    monkeypatch.setenv("LIQLEVELS_WORKERS", "2")
    with duckdb.connect(str(bundled_warehouse[0]), read_only=True) as con:
        prepared = lb.prepare(con, "BTC", ["binance", "bybit", "okx", "hyperliquid"], LEVEL_DAY - dt.timedelta(days=29),
                              LEVEL_DAY, "1h", resamples=30)
    here = lb.compute(prepared)
    (there,) = [t() for t in workers.thunks(lb.compute, [(prepared,)], small=0)]
    pd.testing.assert_frame_equal(here.table, there.table)
    assert set(here.predictions) == set(there.predictions)
    for model, frame in here.predictions.items():
        pd.testing.assert_frame_equal(frame, there.predictions[model])


def test_objective_levels_computed_in_a_worker_equal_those_computed_here(bundled_warehouse, monkeypatch):
    from pipelines.lib.objective_day import objective_compute, objective_inputs

    monkeypatch.setenv("LIQLEVELS_WORKERS", "2")
    with duckdb.connect(str(bundled_warehouse[0]), read_only=True) as con:
        inputs = objective_inputs(con, "BTC", ["binance", "bybit", "okx", "hyperliquid"], LEVEL_DAY, "1h")
        stored = con.execute("select count(*) from levels.objective where as_of = ? and symbol = 'BTC'", [LEVEL_DAY]).fetchone()[0]
    here_rows, here_bars = objective_compute(inputs)
    ((there_rows, there_bars),) = [t() for t in workers.thunks(objective_compute, [(inputs,)], small=0)]
    assert len(here_rows) == stored > 0
    pd.testing.assert_frame_equal(here_rows, there_rows)
    pd.testing.assert_frame_equal(here_bars, there_bars)


def _child_using_the_pool() -> None:
    os.environ["LIQLEVELS_WORKERS"] = "2"
    assert len({t() for t in workers.thunks(_pid, [(i,) for i in range(6)], small=1)}) >= 1


def test_a_run_process_that_used_the_pool_exits():
    """`liqlevels run` executes its run in a multiprocessing child, where atexit never runs: the pool
    must still be stopped, or the child waits forever for its workers at exit (the demo hung so)."""
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(target=_child_using_the_pool)
    child.start()
    child.join(timeout=90)
    hung = child.is_alive()
    if hung:
        for worker in multiprocessing.active_children():
            worker.kill()
        child.kill()
    assert not hung and child.exitcode == 0
