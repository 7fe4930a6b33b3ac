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
