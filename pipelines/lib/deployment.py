"""How runs execute, from the environment (deploy/README.md): one process, processes on one machine,
or Celery workers on many machines.

- `LIQLEVELS_EXECUTOR`: `in_process` (default), `multiprocess` or `celery`.
- `LIQLEVELS_WORKERS`: steps at once for `multiprocess` (default: the machine's cores).
- `LIQLEVELS_PARALLEL_RUNS`: symbol runs at once for `liqlevels run`/`demo` (default 1): partitions are
  (day, symbol), each symbol's days are one run, and runs of different symbols are independent.
- `LIQLEVELS_CELERY_BROKER` / `LIQLEVELS_CELERY_BACKEND`: the Celery broker and result backend
  (e.g. redis://host:6379/0 and redis://host:6379/1). Read by Dagster at run time (`EnvVar`-style
  `{"env": …}` config), so a password in the URL never lands in run config or the event log.

Steps that write the DuckDB file take its one lock in turn whatever the executor (pool `duckdb`); on a
lake they write disjoint partitions, and the executor's parallelism is real.
"""

from __future__ import annotations

import os

import dagster as dg

EXECUTORS = ("in_process", "multiprocess", "celery")
PRELOAD = ("pipelines.definitions", "pipelines.defs.resources", "pipelines.defs.levels.views", "pipelines.defs.checks.checks",
           "pipelines.defs.exports.assets", "pipelines.defs.ingest.assets")


class DeploymentError(ValueError):
    """The environment asks for an executor that cannot work as configured."""


def executor_from_env() -> dg.ExecutorDefinition:
    name = os.environ.get("LIQLEVELS_EXECUTOR", "in_process").strip() or "in_process"
    if name not in EXECUTORS:
        raise DeploymentError(f"LIQLEVELS_EXECUTOR must be one of {', '.join(EXECUTORS)}, got {name!r}")
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        workers = os.environ.get("LIQLEVELS_WORKERS", "").strip()
        if workers and (not workers.isdigit() or int(workers) < 1):
            raise DeploymentError(f"LIQLEVELS_WORKERS must be a whole number ≥ 1, got {workers!r}")
        # forkserver with the project preloaded: a step's process starts from a copy that has already imported
        # Dagster, pandas and the definitions (spawn paid ~5 s of imports for every step)
        return dg.multiprocess_executor.configured(
            {"max_concurrent": int(workers) if workers else None,
             "start_method": {"forkserver": {"preload_modules": list(PRELOAD)}}}, name="multiprocess")
    for variable in ("LIQLEVELS_CELERY_BROKER", "LIQLEVELS_CELERY_BACKEND"):
        if not os.environ.get(variable):
            raise DeploymentError(f"LIQLEVELS_EXECUTOR=celery needs {variable} (e.g. redis://127.0.0.1:6379/0)")
    from dagster_celery import celery_executor

    return celery_executor.configured({"broker": {"env": "LIQLEVELS_CELERY_BROKER"},
                                       "backend": {"env": "LIQLEVELS_CELERY_BACKEND"}},
                                      name="celery")


def parallel_runs_from_env() -> int:
    """How many symbol runs `liqlevels run`/`demo` execute at once (`LIQLEVELS_PARALLEL_RUNS`, default 1).

    Each run is one symbol's days, executed in one of that many run worker processes as Dagster's run
    worker executes it (`dagster api execute_run`, what its default run launcher starts; the process is
    kept for the worker's next run), so runs of different symbols use different cores; their
    steps execute with `LIQLEVELS_EXECUTOR`. More than one needs a lake (`LIQLEVELS_LAKE`): a DuckDB
    file takes one writer process."""
    value = os.environ.get("LIQLEVELS_PARALLEL_RUNS", "").strip() or "1"
    if not value.isdigit() or int(value) < 1:
        raise DeploymentError(f"LIQLEVELS_PARALLEL_RUNS must be a whole number ≥ 1, got {value!r}")
    return int(value)
