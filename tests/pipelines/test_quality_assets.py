"""levels.quality after real runs, and `liqlevels score` on the warehouse or an external file."""

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.conftest import BUNDLED_DATA, LEVEL_DAY

DAY = LEVEL_DAY - dt.timedelta(days=1)
LIQLEVELS = str(Path(sys.executable).parent / "liqlevels")
MODELS = {"objective:default", "objective:oi_jumps", "objective:leviathan", "objective:calibrated", "behavioral", "range_only",
          "fixed_bands", "placebo"}


def test_scorecard_rows_per_model_and_span(bundled_warehouse):
    with duckdb.connect(str(bundled_warehouse[0]), read_only=True) as con:
        rows = con.execute("select * from levels.quality where as_of = ? and symbol = 'BTC'", [DAY]).fetch_df()
    assert set(rows.model) == MODELS and set(rows.span) == {"day", "rolling_7d"}
    day = rows[rows.span == "day"].set_index("model")
    events = pd.read_parquet(BUNDLED_DATA / "liquidations/okx/BTC.parquet")
    ts = events.ts.dt.tz_convert(None)
    realized = events[(ts >= pd.Timestamp(DAY)) & (ts < pd.Timestamp(LEVEL_DAY)) & events.side.isin(["long", "short"])].usd.sum()
    assert day.loc["placebo", "realized_usd"] == pytest.approx(realized, rel=1e-9) and realized > 0
    # the default 30-minute window is widened to the 1 h candles: 24 windows in the day
    assert day.loc["objective:default", "windows"] == 24 and (day["window_minutes"] == 60).all()
    assert day["spearman_pooled"].between(-1, 1).all() and day["verdict"].str.contains("placebo").all()


def test_metadata_carries_scores_and_chart(bundled_warehouse):
    _, _, levels = bundled_warehouse
    metadata = levels.asset_materializations_for_node("levels__quality")[-1].metadata
    assert "placebo" in metadata["scores"].value
    assert metadata["chart"].value.startswith("![scorecard](data:image/png;base64,")


def run_score(warehouse, *args):
    env = {"LIQLEVELS_WAREHOUSE": str(warehouse), "PATH": "/usr/bin:/bin"}
    return subprocess.run([LIQLEVELS, "score", "--symbol", "BTC", "--start", str(DAY), "--end", str(LEVEL_DAY), "--resamples", "20", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_cli_scores_an_external_level_file(bundled_warehouse, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    shutil.copy(bundled_warehouse[0], warehouse)
    levels = pd.DataFrame({"created_ts": ["2026-03-03T00:00:00Z"] * 2, "side": ["long", "short"],
                           "price": [69_000.0, 74_000.0], "notional_usd": [1e6, 1e6]})
    levels.to_csv(tmp_path / "mine.csv", index=False)
    out = run_score(warehouse, "--levels", str(tmp_path / "mine.csv"))
    assert out.returncode == 0, out.stderr
    for name in ("external", "range_only", "fixed_bands", "placebo"):
        assert name in out.stdout
    assert "=> external" in out.stdout


def test_cli_refuses_a_bad_level_file(bundled_warehouse, tmp_path):
    pd.DataFrame({"created_ts": ["2026-03-03"], "side": ["up"], "price": [1.0], "notional_usd": [1.0]}).to_csv(tmp_path / "bad.csv", index=False)
    out = run_score(bundled_warehouse[0], "--levels", str(tmp_path / "bad.csv"))
    assert out.returncode == 2 and "field 'side'" in out.stderr and "bad.csv" in out.stderr


def test_a_day_without_realized_liquidations_gives_no_verdict(bundled_warehouse):
    quiet = DAY - dt.timedelta(days=10)
    env = {"LIQLEVELS_WAREHOUSE": str(bundled_warehouse[0]), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([LIQLEVELS, "score", "--symbol", "BTC", "--start", str(quiet), "--end", str(quiet)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "no verdict: no realized liquidations" in out.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--window", "30min"], "--window 30min is finer than the 1h candles: windows cannot split a bar"),
    (["--window", "abc"], "--window 'abc' is not a duration"),
    (["--resamples", "0"], "--resamples must be at least 20"),
])
def test_score_refuses_windows_and_resamples_it_cannot_honour(bundled_warehouse, args, message):
    out = run_score(bundled_warehouse[0], *args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_score_splits_a_level_file_that_mixes_models_and_refuses_rows_without_size(bundled_warehouse, tmp_path):
    mixed = pd.DataFrame({"created_ts": ["2026-03-03T00:00:00Z"] * 4, "side": ["long", "short", "long", "short"],
                          "price": [69_000.0, 74_000.0, 68_000.0, 75_000.0], "notional_usd": [1e6, 1e6, None, None],
                          "weight": [None, None, 50.0, 60.0], "method": ["objective", "objective", "behavioral", "behavioral"],
                          "preset": "default", "venue": ["all", "all", "binance", "binance"]})
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    out = run_score(bundled_warehouse[0], "--levels", str(tmp_path / "mixed.csv"))
    assert out.returncode == 0, out.stderr
    assert "file:objective:default:all" in out.stdout and "file:behavioral:default:binance" in out.stdout
    assert out.stdout.count("=> ") == 2  # one verdict per model in the file
    mixed.assign(method="objective").to_csv(tmp_path / "unsized.csv", index=False)
    out = run_score(bundled_warehouse[0], "--levels", str(tmp_path / "unsized.csv"))
    assert out.returncode == 2 and "2 rows without a positive notional_usd" in out.stderr and "line(s) 4, 5" in out.stderr
