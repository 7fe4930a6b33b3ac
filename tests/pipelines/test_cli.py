"""The installed `liqlevels` console script, run as a user would."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

LIQLEVELS = str(Path(sys.executable).parent / "liqlevels")
SEED = ["liq-price", "--venue", "bybit", "--contract", "inverse", "--side", "long", "--qty", "100000",
        "--entry", "50000", "--leverage", "50", "--mmr", "0.005"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LIQLEVELS, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("extra", "last_line"),
    [(["--margin", "isolated"], "49261.08"), (["--margin", "cross", "--balance", "0.5"], "39525.69")],
)
def test_seed_examples_print_as_last_line(extra, last_line):
    out = run(*SEED, *extra)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == last_line


def test_help_documents_every_option():
    out = run("liq-price", "--help")
    for option in ["--venue", "--contract", "--margin", "--side", "--qty", "--entry", "--leverage", "--mmr",
                   "--balance", "--mm-deduction", "--taker-fee", "--max-leverage", "--symbol", "--date"]:
        assert option in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--venue", "okx", "--contract", "inverse", "--side", "long", "--qty", "1", "--entry", "5", "--mmr", "0.01", "--leverage", "5"], "only implemented for bybit"),
        ([*SEED, "--margin", "cross"], "needs --balance"),
        (["--venue", "bybit", "--side", "long", "--qty", "1", "--entry", "5"], "needs --leverage, --mmr"),
        (["--venue", "hyperliquid", "--side", "long", "--qty", "1", "--entry", "5", "--leverage", "5"], "--mmr or --max-leverage"),
        (["--venue", "binance", "--side", "long", "--qty", "1", "--entry", "5", "--leverage", "5", "--symbol", "DOGE"], "no bundled Binance bracket table"),
    ],
)
def test_invalid_combinations_exit_nonzero_with_a_message(args, message):
    out = run("liq-price", *args) if args[0] != "liq-price" else run(*args)
    assert out.returncode != 0
    assert message in out.stderr


def test_hyperliquid_from_max_leverage():
    out = run("liq-price", "--venue", "hyperliquid", "--side", "short", "--qty", "1", "--entry", "100000", "--leverage", "10", "--max-leverage", "40")
    assert out.stdout.strip().splitlines()[-1] == "108641.98"


def test_run_command_executes_the_nightly_job_on_the_files_source(tmp_path, capsys):
    """`liqlevels run` (and `liqlevels demo`, which shares run_days) for one bundled day, end to end."""
    import duckdb

    from pipelines.cli import main
    from pipelines.lib.paths import warehouse_path

    assert main(["run", "--source", "files", "--start", "2026-03-04", "--end", "2026-03-04", "--symbols", "BTC",
                 "--log-level", "ERROR"]) == 0
    out = capsys.readouterr().out
    assert "Run succeeded" in out
    assert re.search(r"raw\.klines\s+binance\s+24\n", out) and re.search(r"raw\.liquidations\s+okx\s+65\n", out)
    with duckdb.connect(str(warehouse_path()), read_only=True) as con:
        venues = dict(con.execute("select venue, count(*) from raw.klines group by 1").fetchall())
        checked = con.execute("select count(distinct table_name) from ops.validation_results where day = '2026-03-04'").fetchall()
    assert venues == {"binance": 24, "bybit": 24, "okx": 24}, venues
    assert checked[0][0] >= 10  # raw and level tables were validated: the whole job ran


@pytest.mark.parametrize(("args", "message"), [
    (["--venue", "binance", "--side", "long", "--qty", "1", "--entry", "100000", "--leverage", "-5", "--symbol", "BTC"],
     "--leverage must be within 1..150 (the BTC bracket table's largest), got -5"),
    (["--venue", "binance", "--side", "long", "--qty", "1", "--entry", "100000", "--leverage", "1000", "--mmr", "0.004"],
     "--leverage must be within 1..150 (binance's largest), got 1000"),
    (["--venue", "okx", "--side", "long", "--qty", "1", "--entry", "100000", "--leverage", "500", "--mmr", "0.004"],
     "--leverage must be within 1..100 (okx's largest), got 500"),
    (["--venue", "hyperliquid", "--side", "long", "--qty", "1", "--entry", "100000", "--leverage", "100", "--max-leverage", "40"],
     "--leverage must be within 1..40 (--max-leverage), got 100"),
    (["--venue", "bybit", "--side", "long", "--qty", "1", "--entry", "100000", "--leverage", "1000", "--mmr", "0.005"],
     "--leverage must be within 1..100 (bybit's largest), got 1000"),
    (["--venue", "bybit", "--margin", "cross", "--side", "long", "--qty", "1", "--entry", "100000", "--leverage", "10",
      "--mmr", "0.005", "--balance", "-1"], "--balance must be a finite number >= 0, got -1.0"),
    (["--venue", "bybit", "--side", "long", "--qty", "1", "--entry", "20000", "--leverage", "50", "--mmr", "0.5"],
     "liquidation at or above its entry"),
])
def test_liq_price_refuses_inputs_outside_the_allowed_range(args, message):
    out = run("liq-price", *args)
    assert out.returncode == 2 and message in out.stderr and out.stdout == ""


def test_on_a_terminal_the_run_is_one_progress_bar_with_the_step_summaries_above_it():
    import io
    import logging

    from pipelines.cli import ProgressHandler

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    handler = ProgressHandler(screen)
    handler.start(3)

    def say(message: str, per_day: bool) -> None:
        handler.emit(logging.LogRecord("liqlevels.progress", logging.INFO, "", 0, message, None, None) if not per_day else
                     logging.makeLogRecord({"name": "liqlevels.progress", "levelno": logging.INFO, "msg": message, "per_day": True}))

    say("2026-03-04 raw.klines: 24 rows", per_day=True)
    assert handler.bar.n == 0 and handler.bar.desc == "2026-03-04 raw.klines: 24 rows"
    say("raw.klines: 2 days, 48 rows", per_day=False)
    say("levels.objective: 2 days, 600 levels", per_day=False)
    say("exports: pictures for 2 symbol-days", per_day=False)
    assert handler.bar.n == 2  # the bar ends with the run, not with a summary line
    handler.finish()
    text = screen.getvalue()
    assert "  raw.klines: 2 days, 48 rows\n" in text and "2/3 steps" in text and handler.bar is None


def test_the_measured_summary_fits_100_columns_and_compares_the_presets_on_the_same_scans():
    import datetime as dt

    import duckdb
    import pandas as pd

    from pipelines.cli import measured_summary
    from pipelines.lib.warehouse import migrate

    day = dt.date(2026, 3, 5)
    con = duckdb.connect()
    migrate(con)
    snaps = [dt.datetime(2026, 3, 5, h) for h in (0, 6, 12)]
    con.register("s", pd.DataFrame({"as_of": day, "symbol": "BTC", "venue": "hyperliquid", "snapshot_ts": snaps, "scan_end": snaps,
                                    "kind": "full", "price": 70000.0, "addresses_read": 44_000, "addresses_failed": 1_321,
                                    "positions": 123_456, "positions_without_liq": 0, "long_usd": 1.0, "short_usd": 1.0,
                                    "cross_usd": 1.0, "isolated_usd": 1.0}))
    con.execute("insert into levels.measured_snapshots select * from s")
    # the calibrated preset has no row for the first scan: both are averaged over the two scans they share
    rows = [(t, p, side, c) for t, c_def, c_cal in ((snaps[0], 0.9, None), (snaps[1], 0.2, 0.4), (snaps[2], 0.4, 0.6))
            for p, c in (("default", c_def), ("calibrated", c_cal)) if c is not None for side in ("long", "short")]
    con.register("m", pd.DataFrame([{"as_of": day, "symbol": "BTC", "venue": "hyperliquid", "snapshot_ts": t, "preset": p, "side": side,
                                     "bins": 150, "spearman": c, "cosine": c, "estimated_usd": 1.0, "measured_usd": 1.0}
                                    for t, p, side, c in rows]))
    con.execute("insert into levels.measured_similarity select * from m")
    con.execute("insert into levels.max_pain (as_of, symbol, close, long_price, short_price, source) "
                "values (?, 'BTC', 70000, 61234.5, 123456.7, 'measured')", [day])
    lines = measured_summary(con, day, day, synthetic=True)
    assert all(len(line) <= 100 for line in lines), [len(line) for line in lines]
    assert "SYNTHETIC" in lines[0] and "0.300 → 0.500 (2 scans)" in lines[2] and "  45,321   2.9%" in lines[2]
    assert "SYNTHETIC" not in measured_summary(con, day, day, synthetic=False)[0]
