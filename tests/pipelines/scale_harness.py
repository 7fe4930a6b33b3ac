"""Runs of the real CLI against a lake, with Dagster on PostgreSQL and steps on Celery workers (Redis),
as deploy/README.md sets them up: shared by the scale-out tests and bench/scale.py."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pipelines.lib.paths import PROJECT_ROOT

VENV_BIN = Path(sys.executable).parent
DEPLOY_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"


def instance_home(folder: Path, deploy: bool) -> Path:
    """A DAGSTER_HOME: deploy/dagster.yaml (PostgreSQL, queued runs), or the project's single-machine one."""
    folder.mkdir(parents=True, exist_ok=True)
    source = DEPLOY_YAML if deploy else PROJECT_ROOT / "warehouse" / "dagster_home" / "dagster.yaml"
    shutil.copyfile(source, folder / "dagster.yaml")
    return folder


def run_env(root: Path, lake: Path | str, home: Path, executor: str = "in_process", extra: dict | None = None) -> dict[str, str]:
    env = {**os.environ, "LIQLEVELS_LAKE": str(lake), "LIQLEVELS_WAREHOUSE": str(root / "catalog.duckdb"),
           "LIQLEVELS_EXPORTS": str(root / "exports"), "DAGSTER_HOME": str(home), "LIQLEVELS_EXECUTOR": executor,
           "PYTHONUNBUFFERED": "1", **(extra or {})}
    return env


def start_run(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`liqlevels <args>` in the background (its own session: a test can stop it and its children)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([str(VENV_BIN / "liqlevels"), *args], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            cwd=PROJECT_ROOT, start_new_session=True)


def run(args: list[str], env: dict[str, str], log: Path, timeout: float = 1800) -> int:
    process = start_run(args, env, log)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


class CeleryWorker:
    """`celery -A dagster_celery.app worker` on the Redis broker: one process (-P solo) running one step
    at a time, so its PID is the process a step runs in."""

    def __init__(self, name: str, env: dict[str, str], broker: str, backend: str, log: Path):
        self.name = f"{name}@{socket.gethostname()}"
        self.log = log
        self.process = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "dagster_celery.app", "-b", broker, "--result-backend", backend, "worker",
             "-Q", "dagster", "-P", "solo", "-n", self.name, "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, start_new_session=True)
        deadline = time.monotonic() + 120
        while "ready." not in log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker {name} did not start: {log.read_text()[-1500:]}")
            time.sleep(0.3)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
