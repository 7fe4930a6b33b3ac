"""The real scale-out set-up (deploy/dagster.yaml): Dagster on PostgreSQL, steps on two Celery workers
over Redis, both installed from Debian packages when missing and started on loopback by this test; the
bundled backfill written to a Parquet lake. The lake's content must not depend on how the run executed:
one process, the multiprocess executor, two Celery workers, a worker killed mid-step (then the run
retried), two runs of the same partitions at once."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.lib.lake import Lake
from tests.pipelines.scale_harness import CeleryWorker, instance_home, run, run_env, start_run
from tests.pipelines.services import Postgres, Redis

pytestmark = pytest.mark.slow

DAYS = ["demo", "--start", "2026-03-04", "--end", "2026-03-05", "--symbols", "BTC"]


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    root = tmp_path_factory.mktemp("services")
    postgres, redis = Postgres(root / "pg"), Redis(root)
    yield postgres, redis
    redis.stop()
    postgres.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    """The lake's hash after the bundled backfill on one process (the single-machine set-up)."""
    root = tmp_path_factory.mktemp("reference")
    env = run_env(root, root / "lake", instance_home(root / "home", deploy=False))
    assert run(DAYS, env, root / "run.log") == 0, (root / "run.log").read_text()[-3000:]
    return Lake(str(root / "lake")).content_hash()


def _deployed(root: Path, services, executor: str, lake: Path) -> tuple[dict, str, str]:
    postgres, redis = services
    broker, backend = f"{redis.url}/0", f"{redis.url}/1"
    home = instance_home(root / "home", deploy=True)
    env = run_env(root, lake, home, executor, {**postgres.env(), "LIQLEVELS_CELERY_BROKER": broker,
                                               "LIQLEVELS_CELERY_BACKEND": backend})
    return env, broker, backend


def _whole_partitions(lake: Path) -> int:
    """Every partition file reads in full, and nothing but partition files is visible outside `.tmp/`."""
    files = [p for p in lake.rglob("*") if p.is_file() and not {".tmp", ".locks"} & set(p.relative_to(lake).parts)]
    stray = [p for p in files if p.name not in ("part.parquet", "_lake.json")]
    assert not stray, stray[:5]
    for path in files:
        if path.name == "part.parquet":
            pq.read_table(path)  # raises on a half-written file
    return len(files)


def test_multiprocess_executor_writes_the_same_lake(tmp_path, reference):
    env = run_env(tmp_path, tmp_path / "lake", instance_home(tmp_path / "home", deploy=False), "multiprocess",
                  {"LIQLEVELS_WORKERS": "2"})
    assert run(DAYS, env, tmp_path / "run.log") == 0, (tmp_path / "run.log").read_text()[-3000:]
    assert Lake(str(tmp_path / "lake")).content_hash() == reference


def test_two_celery_workers_on_postgres_write_the_same_lake(tmp_path, services, reference):
    env, broker, backend = _deployed(tmp_path, services, "celery", tmp_path / "lake")
    # a worker machine's own default exports folder: the run's settings must reach it in the run config
    elsewhere = {**env, "LIQLEVELS_EXPORTS": str(tmp_path / "worker_exports")}
    workers = [CeleryWorker(f"w{i}", elsewhere, broker, backend, tmp_path / f"w{i}.log") for i in (1, 2)]
    try:
        assert run(DAYS, env, tmp_path / "run.log") == 0, (tmp_path / "run.log").read_text()[-3000:]
    finally:
        for worker in workers:
            worker.stop()
    assert Lake(str(tmp_path / "lake")).content_hash() == reference
    assert (tmp_path / "exports" / "latest" / "BTC" / "levels.csv").is_file() and not (tmp_path / "worker_exports").exists()
    # both workers took steps, and the run's events are in PostgreSQL
    assert all("Task execute_plan" in (tmp_path / f"w{i}.log").read_text() for i in (1, 2))
    import dagster as dg

    os.environ.update({k: v for k, v in env.items() if k.startswith("LIQLEVELS_PG_")})
    instance = dg.DagsterInstance.from_config(str(tmp_path / "home"))
    runs = instance.get_runs()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage" and runs and runs[0].status.value == "SUCCESS"
    assert broker not in repr(runs[0].run_config)  # the executor reads the broker from the environment, it is not stored


def _step_on(instance, run_id: str, step: str) -> str | None:
    """The Celery worker running `step` of the run, once it has started and not yet finished."""
    events = instance.all_logs(run_id)
    finished = {e.step_key for e in events if e.dagster_event and e.dagster_event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE")}
    for record in events:
        event = record.dagster_event
        if event and event.event_type_value == "ENGINE_EVENT" and record.step_key == step and step not in finished:
            for entry in event.engine_event_data.metadata.items():
                if entry[0] == "Celery worker":
                    return entry[1].value
    return None


def test_a_worker_killed_mid_step_leaves_whole_partitions_and_the_retried_run_the_same_lake(tmp_path, services, reference):
    import dagster as dg

    env, broker, backend = _deployed(tmp_path, services, "celery", tmp_path / "lake")
    workers = {w.name: w for w in (CeleryWorker(f"k{i}", env, broker, backend, tmp_path / f"k{i}.log") for i in (1, 2))}
    os.environ.update({k: v for k, v in env.items() if k.startswith("LIQLEVELS_PG_")})
    instance = dg.DagsterInstance.from_config(str(tmp_path / "home"))
    process = start_run(DAYS, env, tmp_path / "killed.log")
    victim = None
    try:
        deadline = time.monotonic() + 600
        while victim is None and time.monotonic() < deadline and process.poll() is None:
            runs = [r for r in instance.get_runs() if r.status.value == "STARTED"]
            name = _step_on(instance, runs[0].run_id, "levels__objective") if runs else None
            if name:
                victim = workers[name]
                os.kill(victim.pid, signal.SIGKILL)  # the process the step runs in, mid-step
                killed_run = runs[0].run_id
            time.sleep(0.05)
        assert victim is not None, "the objective step never started on a worker"
        time.sleep(2)
        done = {e.step_key for e in instance.all_logs(killed_run)
                if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS"}
        assert "levels__objective" not in done  # the kill did land mid-step
        assert _whole_partitions(tmp_path / "lake") > 0
    finally:
        if process.poll() is None:  # the run waits for a result that will never come: stop it as a user would
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
    assert instance.get_run_by_id(killed_run).status.value in ("FAILURE", "CANCELED")
    spare = CeleryWorker("k3", env, broker, backend, tmp_path / "k3.log")  # the killed worker's replacement
    try:
        assert run(DAYS, env, tmp_path / "retried.log") == 0, (tmp_path / "retried.log").read_text()[-3000:]
    finally:
        for worker in [*workers.values(), spare]:
            worker.stop()
    _whole_partitions(tmp_path / "lake")
    assert Lake(str(tmp_path / "lake")).content_hash() == reference


def test_two_runs_of_the_same_partitions_at_once_leave_one_consistent_lake(tmp_path, services, reference):
    env, _, _ = _deployed(tmp_path, services, "in_process", tmp_path / "lake")
    runs = [start_run(DAYS, {**env, "LIQLEVELS_EXPORTS": str(tmp_path / f"exports{i}")}, tmp_path / f"run{i}.log") for i in (1, 2)]
    codes = [r.wait(timeout=1800) for r in runs]
    assert codes == [0, 0], [(tmp_path / f"run{i}.log").read_text()[-2000:] for i in (1, 2)]
    _whole_partitions(tmp_path / "lake")
    assert Lake(str(tmp_path / "lake")).content_hash() == reference


def test_symbol_runs_in_parallel_write_the_same_lake_as_one_after_another(tmp_path):
    """Partitions are (day, symbol): `liqlevels demo` makes one run per symbol, and LIQLEVELS_PARALLEL_RUNS=2
    runs two at once in two run worker processes that take the runs from a queue (three runs, two pids).
    Same lake, same day folders, one run per symbol in storage."""
    import dagster as dg

    days = ["demo", "--start", "2026-03-04", "--end", "2026-03-05", "--symbols", "BTC", "ETH", "SOL"]
    hashes, manifests = {}, {}
    for parallel in (1, 2):
        root = tmp_path / f"p{parallel}"
        env = run_env(root, root / "lake", instance_home(root / "home", deploy=False), "in_process",
                      {"LIQLEVELS_PARALLEL_RUNS": str(parallel)})
        assert run(days, env, root / "run.log") == 0, (root / "run.log").read_text()[-3000:]
        hashes[parallel] = Lake(str(root / "lake")).content_hash()
        manifests[parallel] = [f["path"] for f in json.loads((root / "exports" / "2026-03-05" / "manifest.json").read_text())["files"]]
        instance = dg.DagsterInstance.from_config(str(root / "home"))
        runs = instance.get_runs()
        assert sorted(r.tags["dagster/asset_partition_range_start"] for r in runs) == ["2026-03-04|BTC", "2026-03-04|ETH", "2026-03-04|SOL"]
        assert {r.status.value for r in runs} == {"SUCCESS"}
        assert len({r.tags["liqlevels/batch"] for r in runs}) == 1
        if parallel == 2:  # two run worker processes, one of them running two of the three runs
            pids = {e.dagster_event.engine_event_data.metadata["pid"].value for r in runs for e in instance.all_logs(r.run_id)
                    if e.dagster_event and e.dagster_event.event_type_value == "ENGINE_EVENT"
                    and "pid" in (e.dagster_event.engine_event_data.metadata or {})}
            assert len(pids) == 2
            assert all(f"{symbol}: run" in (root / "run.log").read_text() for symbol in ("BTC", "ETH", "SOL"))
    assert hashes[1] == hashes[2]
    # the day's manifest lists both symbols' files whichever run wrote it last
    assert manifests[1] == manifests[2] and any(p.startswith("ETH/") for p in manifests[2]) and any(p.startswith("BTC/") for p in manifests[2])
