"""Start a run of the nightly job the way `liqlevels run` and `liqlevels demo` do: checked up front,
in a child process that a signal can always stop, with Dagster's storage initialised once.

Why a child process: Dagster captures SIGINT/SIGTERM while a run executes and only acts on them at
step boundaries, so a run waiting on a pool slot or inside a long HTTP retry ignored both (only
SIGKILL ended it). The parent here only waits: on SIGTERM/SIGINT it asks the child to stop, kills it
after a grace period, marks its run failed and frees the pool slot it held.

Why the start-up clean-up: a run killed with SIGKILL keeps its `duckdb` pool slot in Dagster's
storage forever, and every later run waits on it. Runs started here carry the child's pid and host
as tags, so a later start can tell that the process is gone and free what it held.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import multiprocessing
import os
import signal
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.lib.paths import dagster_home

PID_TAG, HOST_TAG = "liqlevels/pid", "liqlevels/host"
STOP_GRACE_SECONDS = 3.0  # after SIGTERM, the child gets this long to stop before SIGKILL
ACTIVE = ("NOT_STARTED", "QUEUED", "STARTING", "STARTED", "CANCELING")


@dataclass
class RunOutcome:
    success: bool
    run_id: str
    failures: list[tuple[str, str]] = field(default_factory=list)  # (step key, one-line message)
    interrupted: str | None = None  # the signal's name when the run was stopped by one
    runs: int = 1  # one run per symbol; run_id is the first one's, and every one carries it as liqlevels/batch

    @property
    def label(self) -> str:
        """How a person finds the runs in the UI: the run id, or the batch tag of several."""
        return f"run id {self.run_id}" if self.runs == 1 else f"{self.runs} runs, tag liqlevels/batch={self.run_id}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _home_lock():
    """An exclusive lock on DAGSTER_HOME: two first runs must not both create Dagster's storage."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".liqlevels.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _instance():
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home())
    return dg.DagsterInstance.get()


def release_run(instance, run, reason: str) -> None:
    """Mark `run` failed (if it still looks active) and free every concurrency slot it holds."""
    if run.status.value in ACTIVE:
        instance.report_run_failed(run, message=reason)
    instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)


INSTANCE_TEMPLATE = Path(__file__).resolve().parents[1] / "warehouse" / "dagster_home" / "dagster.yaml"


def prepare_storage(say=print) -> None:
    """Create Dagster's storage under the lock and release what runs whose process died still hold.

    A DAGSTER_HOME without a dagster.yaml gets the project's (the one-writer `duckdb` pool limit that
    makes concurrent runs queue instead of fighting over the DuckDB lock).
    """
    with _home_lock():
        config = dagster_home() / "dagster.yaml"
        if not config.exists() and INSTANCE_TEMPLATE.is_file() and config != INSTANCE_TEMPLATE:
            config.write_text(INSTANCE_TEMPLATE.read_text())
            say(f"  wrote {config} (pool duckdb limited to 1, as in the project's warehouse/dagster_home)")
        instance = _instance()
        from dagster import DagsterRunStatus, RunsFilter

        active = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus(s) for s in ACTIVE]))
        holders = instance.event_log_storage.get_concurrency_run_ids()
        host = socket.gethostname()
        for run in active:
            pid = run.tags.get(PID_TAG)
            if pid and run.tags.get(HOST_TAG) == host and not _alive(int(pid)):
                release_run(instance, run, f"process {pid} is gone (killed?): marked failed by a later liqlevels start")
                say(f"  freed run {run.run_id[:8]}: its process {pid} is gone (killed?); marked failed, its duckdb pool slot released")
        for run_id in holders - {r.run_id for r in active}:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)  # a finished run cannot hold a slot
        waiting = [r for r in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus(s) for s in ACTIVE]))
                   if r.run_id in instance.event_log_storage.get_concurrency_run_ids()]
        for run in waiting:
            say(f"  run {run.run_id[:8]} (pid {run.tags.get(PID_TAG, '?')}) is using the warehouse: this run waits for it")


def _child(conn, args: dict) -> None:
    """The run itself, in the child process: result back through `conn` as a plain dict."""
    from pipelines.cli import quiet_progress_output, run_days

    from pipelines.lib import workers

    quiet_progress_output(args.pop("progress"))
    try:
        result = run_days(**args)
    finally:
        workers.shutdown()  # the run's worker processes end with it
    failures = []
    for event in result.all_events:
        if event.is_step_failure:
            failures.append((event.step_key, one_line(event.step_failure_data.error.message)))
        elif event.is_failure and not event.step_key and not failures:  # the run's own failure only says which steps
            failures.append(("run", one_line(event.message or "")))
    conn.send({"success": result.success, "run_id": result.run_id, "failures": failures, "runs": len(result.run_ids)})
    conn.close()


def one_line(message: str) -> str:
    """The first line of an error message, without Dagster's exception class prefix."""
    import re

    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    return re.sub(r"^(dagster\.[\w.]+\.)?\w*(Failure|Error|Exception): ", "", lines[0]) if lines else ""


def launch_days(start: dt.date, end: dt.date, symbols: list[str] | None, *, source: str, log_level: str = "CRITICAL",
                progress: bool = True, extra: dict | None = None, say=print) -> RunOutcome:
    """Run `run_days` in a child process; SIGTERM/SIGINT stop it within STOP_GRACE_SECONDS."""
    import uuid

    prepare_storage(say)
    run_id = str(uuid.uuid4())
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    args = {"start": start, "end": end, "symbols": symbols, "log_level": log_level, "source": source, "run_id": run_id,
            "progress": progress, **(extra or {})}
    child = ctx.Process(target=_child, args=(sender, args), name="liqlevels-run")
    received: dict[str, str] = {}

    def on_signal(signum, _frame):
        received.setdefault("name", signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        child.start()
        sender.close()
        outcome = None
        while child.is_alive() or receiver.poll():
            if receiver.poll(0.2):
                try:
                    outcome = receiver.recv()
                except EOFError:
                    break
            if "name" in received and outcome is None:
                _stop(child)
                break
        child.join(timeout=STOP_GRACE_SECONDS)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if outcome is None:  # stopped by a signal, or the child died before it could say how the run went
        reason = (f"stopped by {received['name']}" if "name" in received
                  else f"the run process ended without a result (exit code {child.exitcode})")
        _release(run_id, reason)
        return RunOutcome(False, run_id, [("run", reason)], received.get("name"))
    return RunOutcome(outcome["success"], outcome["run_id"], [tuple(f) for f in outcome["failures"]], runs=outcome["runs"])


def _stop(child) -> None:
    if child.pid is None:
        return
    try:
        os.kill(child.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while child.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if child.is_alive():
        child.kill()


def _release(run_id: str, reason: str) -> None:
    """Mark the stopped runs failed and free their pool slots: `run_id` and every run of its batch."""
    from dagster import RunsFilter

    from pipelines.cli import BATCH_TAG

    with _home_lock():
        instance = _instance()
        runs = {r.run_id: r for r in instance.get_runs(RunsFilter(tags={BATCH_TAG: run_id}))}
        if run_id not in runs:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        for run in runs.values():
            release_run(instance, run, reason)


def exit_code(outcome: RunOutcome) -> int:
    if outcome.interrupted:
        return 128 + getattr(signal, outcome.interrupted)
    return 0 if outcome.success else 1



