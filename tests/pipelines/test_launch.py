"""`liqlevels run` as a user starts it: source from the environment, bounded without network,
stopped by signals, recovering from a killed run, refusing a corrupt warehouse, two first runs at once.

Every test runs the installed console script in a subprocess against loopback servers."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

LIQLEVELS = str(Path(sys.executable).parent / "liqlevels")
DAY = "2026-03-04"
LIVE_VENUES = ("binance", "bybit", "okx", "hyperliquid", "coinglass")


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([LIQLEVELS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def run(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([LIQLEVELS, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StallServer:
    """Accepts connections on loopback and never answers: a venue that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.set()

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


def live_env(url: str) -> dict:
    return {f"LIQLEVELS_{v.upper()}_REST_URL": url for v in LIVE_VENUES} | {"LIQLEVELS_SOURCE": "live"}


def run_states(home: Path) -> list[str]:
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        return [r.status.value for r in instance.get_runs()]


def held_slots(home: Path) -> set[str]:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        return instance.event_log_storage.get_concurrency_run_ids()


def test_run_honours_liqlevels_source_files():
    out = run("run", "--start", DAY, "--end", DAY, "--symbols", "BTC", "--quiet", env={"LIQLEVELS_SOURCE": "files"})
    assert out.returncode == 0, out.stderr
    assert "source files (bundled real data" in out.stdout.splitlines()[0]
    assert "Run succeeded" in out.stdout


def test_default_day_is_utc_yesterday():
    import datetime as dt

    from pipelines.cli import build_parser

    args = build_parser().parse_args(["run"])
    assert args.start == args.end == dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def test_a_live_run_without_network_ends_in_bounded_time_naming_venue_and_endpoint():
    url = f"http://127.0.0.1:{closed_port()}"  # nothing listens: connection refused, like no network
    began = time.monotonic()
    out = run("run", "--start", DAY, "--end", DAY, "--symbols", "BTC", "--quiet", "--http-retries", "2", env=live_env(url))
    elapsed = time.monotonic() - began
    assert out.returncode == 1
    assert re.search(r"binance /fapi/v1/\w+: cannot connect to http://127\.0\.0\.1", out.stderr), out.stderr
    assert "no further calls to binance in this run" in out.stderr
    # 4 venues x 3 attempts with 0 + 1 + 2 s backoff, plus start-up: far below the help's bound
    assert elapsed < 90, elapsed


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_hung_live_run_within_seconds_and_frees_its_slot(sig, isolated_paths):
    server = StallServer()
    try:
        proc = start("run", "--start", DAY, "--end", DAY, "--symbols", "BTC", "--quiet", env=live_env(f"http://127.0.0.1:{server.port}"))
        assert server.accepted.wait(60), proc.stderr.read() if proc.poll() is not None else "no request reached the server"
        sent = time.monotonic()
        os.kill(proc.pid, sig)
        proc.wait(timeout=15)
        assert time.monotonic() - sent < 8
    finally:
        server.close()
    assert proc.returncode == 128 + sig
    home = isolated_paths / "dagster_home"
    assert run_states(home) == ["FAILURE"]
    assert held_slots(home) == set()


def test_a_run_killed_with_sigkill_does_not_block_the_next_one(isolated_paths):
    server = StallServer()
    try:
        proc = start("run", "--start", DAY, "--end", DAY, "--symbols", "BTC", "--quiet", env=live_env(f"http://127.0.0.1:{server.port}"))
        assert server.accepted.wait(60)
        home = isolated_paths / "dagster_home"
        assert held_slots(home), "the hung step should hold the duckdb pool slot"
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, child included
        proc.wait(timeout=10)
    finally:
        server.close()
    out = run("run", "--start", DAY, "--end", DAY, "--symbols", "BTC", "--quiet", env={"LIQLEVELS_SOURCE": "files"}, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "is gone (killed?); marked failed, its duckdb pool slot released" in out.stdout
    assert sorted(run_states(home)) == ["FAILURE", "SUCCESS"]


def test_a_corrupt_warehouse_file_is_a_clear_error_at_once(isolated_paths):
    bad = isolated_paths / "warehouse.duckdb"
    bad.write_bytes(b"this is a spreadsheet, not a database\n" * 200)
    began = time.monotonic()
    out = run("run", "--start", DAY, "--end", DAY, "--symbols", "BTC", env={"LIQLEVELS_SOURCE": "files"})
    assert out.returncode == 2
    assert time.monotonic() - began < 30
    assert f"warehouse {bad} is not a DuckDB database" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert bad.read_bytes().startswith(b"this is a spreadsheet")  # nothing written over it


def test_a_corrupt_warehouse_fails_an_asset_step_without_retries(isolated_paths):
    import datetime as dt

    from tests.pipelines.dagster_helpers import materialize_day

    bad = isolated_paths / "warehouse.duckdb"
    bad.write_bytes(b"garbage" * 100)
    began = time.monotonic()
    result = materialize_day(bad, dt.date.fromisoformat(DAY), raise_on_error=False)
    assert not result.success
    assert time.monotonic() - began < 30  # no 4 attempts x backoff per step
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures and all("is not a DuckDB database" in e.step_failure_data.error.message for e in failures)
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]


def test_two_first_runs_at_once_on_a_fresh_dagster_home(isolated_paths):
    env = {"LIQLEVELS_SOURCE": "files"}
    procs = [start("run", "--start", DAY, "--end", DAY, "--symbols", "BTC", "--quiet", env=env) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    with duckdb.connect(str(isolated_paths / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.klines where venue = 'binance'").fetchall() == [(24,)]


def test_run_refuses_days_before_the_first_partition_and_unknown_symbols():
    early = run("run", "--start", "2019-08-31", "--end", "2019-09-02", "--source", "files")
    assert early.returncode == 2 and "outside the allowed range 2019-09-01" in early.stderr
    unknown = run("demo", "--symbols", "DOGE")
    assert unknown.returncode == 2 and "symbol DOGE is not in the watchlist" in unknown.stderr
    parallel = run("demo", "--symbols", "BTC", env={"LIQLEVELS_PARALLEL_RUNS": "two"})
    assert parallel.returncode == 2 and "LIQLEVELS_PARALLEL_RUNS must be a whole number" in parallel.stderr
    assert "Traceback" not in unknown.stderr + early.stderr + parallel.stderr


def test_a_symbols_blocking_check_stops_its_own_exports_and_not_another_symbols(tmp_path):
    """Partitions are symbol-days and `liqlevels demo` makes one run per symbol: BTC's broken candle fails
    BTC's blocking klines check (its levels and exports are withheld) while ETH's run exports as usual."""
    import shutil

    import pandas as pd

    from tests.conftest import BUNDLED_DATA

    root = tmp_path / "data"
    shutil.copytree(BUNDLED_DATA, root)
    path = root / "klines" / "binance" / "BTC.parquet"
    klines = pd.read_parquet(path)
    target = klines.index[klines.ts == pd.Timestamp("2026-03-05 05:00", tz="UTC")][0]
    klines.loc[target, "high"] = klines.loc[target, "low"] * 0.9
    klines.to_parquet(path)
    done = run("demo", "--start", "2026-03-05", "--end", "2026-03-05", "--symbols", "BTC", "ETH", "--data", str(root), timeout=600)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2 runs, tag liqlevels/batch=" in done.stdout
    exports = Path(os.environ["LIQLEVELS_EXPORTS"]) / "2026-03-05"
    assert (exports / "ETH" / "levels.csv").is_file() and (exports / "ETH" / "ETH_liquidation_levels.pine").is_file()
    assert not (exports / "BTC").exists()
    with duckdb.connect(os.environ["LIQLEVELS_WAREHOUSE"], read_only=True) as con:
        checks = dict(con.execute("select symbol, bool_and(success) from ops.validation_results where table_name = 'raw.klines' "
                                  "and blocking group by symbol").fetchall())
        levels = dict(con.execute("select symbol, count(*) from levels.objective where as_of = '2026-03-05' group by 1").fetchall())
    assert checks == {"BTC": False, "ETH": True}
    assert set(levels) == {"ETH"}
