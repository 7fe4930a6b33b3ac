"""The executor comes from the environment; a setting that cannot work is refused at load, naming the variable."""

import pytest

from pipelines.lib.deployment import DeploymentError, executor_from_env


@pytest.mark.parametrize("env, expected", [
    ({}, "in_process"),
    ({"LIQLEVELS_EXECUTOR": "multiprocess", "LIQLEVELS_WORKERS": "2"}, "multiprocess"),
    ({"LIQLEVELS_EXECUTOR": "celery", "LIQLEVELS_CELERY_BROKER": "redis://127.0.0.1:6379/0",
      "LIQLEVELS_CELERY_BACKEND": "redis://127.0.0.1:6379/1"}, "celery"),
])
def test_executor_named_by_the_environment(monkeypatch, env, expected):
    for name in ("LIQLEVELS_EXECUTOR", "LIQLEVELS_WORKERS", "LIQLEVELS_CELERY_BROKER", "LIQLEVELS_CELERY_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert executor_from_env().name == expected


@pytest.mark.parametrize("env, message", [
    ({"LIQLEVELS_EXECUTOR": "threads"}, "LIQLEVELS_EXECUTOR must be one of"),
    ({"LIQLEVELS_EXECUTOR": "multiprocess", "LIQLEVELS_WORKERS": "two"}, "LIQLEVELS_WORKERS must be a whole number"),
    ({"LIQLEVELS_EXECUTOR": "celery"}, "needs LIQLEVELS_CELERY_BROKER"),
])
def test_settings_that_cannot_work_are_refused(monkeypatch, env, message):
    for name in ("LIQLEVELS_WORKERS", "LIQLEVELS_CELERY_BROKER", "LIQLEVELS_CELERY_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(DeploymentError, match=message):
        executor_from_env()


@pytest.mark.parametrize("value, expected", [(None, 1), ("", 1), ("3", 3)])
def test_parallel_runs_from_the_environment(monkeypatch, value, expected):
    from pipelines.lib.deployment import parallel_runs_from_env

    monkeypatch.delenv("LIQLEVELS_PARALLEL_RUNS", raising=False)
    if value is not None:
        monkeypatch.setenv("LIQLEVELS_PARALLEL_RUNS", value)
    assert parallel_runs_from_env() == expected


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_parallel_runs_that_cannot_work_are_refused(monkeypatch, value):
    from pipelines.lib.deployment import parallel_runs_from_env

    monkeypatch.setenv("LIQLEVELS_PARALLEL_RUNS", value)
    with pytest.raises(DeploymentError, match="LIQLEVELS_PARALLEL_RUNS must be a whole number"):
        parallel_runs_from_env()
