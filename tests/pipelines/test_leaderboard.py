"""The model leaderboard after real runs: the nightly asset, `liqlevels score --leaderboard` on the
bundled data and on a user's 5-minute data, and realized truth from aggregated bars."""

import datetime as dt
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from indicators.models import registry
from indicators.simulated import simulated_market
from tests.conftest import LEVEL_DAY
from tests.pipelines.dagster_helpers import run_range
from tests.pipelines.test_resolution import watchlist_file

LIQLEVELS = str(Path(sys.executable).parent / "liqlevels")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def cli(warehouse, exports, *args, watchlist=None):
    env = {"LIQLEVELS_WAREHOUSE": str(warehouse), "LIQLEVELS_EXPORTS": str(exports), "PATH": "/usr/bin:/bin",
           **({"LIQLEVELS_WATCHLIST": str(watchlist)} if watchlist else {})}
    return subprocess.run([LIQLEVELS, "score", "--resamples", "20", *args], capture_output=True, text=True, timeout=300, env=env)


def test_nightly_asset_keeps_a_rolling_leaderboard(bundled_warehouse):
    path, _, levels = bundled_warehouse
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("select * from levels.leaderboard where symbol = 'BTC'").fetch_df()
    assert set(rows["as_of"].astype(str)) == {str(LEVEL_DAY)}  # a run's leaderboard is as of its last day
    assert set(rows["model"]) == set(registry()) and set(rows["part"]) == {"train", "test"}
    # realized OKX liquidations on 03-04 and 03-05 only: tuned on the first, reported on the second
    assert (rows["first_test_day"].astype(str) == "2026-03-05").all()
    assert rows["realized"].str.startswith("events: raw.liquidations, okx").all()
    assert rows["verdict"].nunique() == 1 and "placebo" in rows["verdict"].iloc[0]
    test = rows[rows["part"] == "test"].set_index("model")
    assert test.loc["placebo", "realized_usd"] > 0 and test["spearman_pooled"].drop("measured").between(-1, 1).all()
    # the measured map (synthetic demo scans) and the calibrated preset are scored next to the models, never as the best
    assert test.loc["measured", "kind"] == "measured" and test.loc["objective:calibrated", "kind"] == "model"
    assert "measured" not in rows["verdict"].iloc[0].split("(best on")[0]
    metadata = levels.asset_materializations_for_node("levels__leaderboard")[-1].metadata
    assert "placebo" in metadata["BTC_table"].value and metadata["BTC_chart"].value.startswith("![BTC leaderboard](data:image/png;base64,")


def test_cli_leaderboard_on_the_bundled_data(bundled_warehouse, tmp_path):
    out = cli(bundled_warehouse[0], tmp_path, "--leaderboard", "--symbol", "BTC", "--start", "2026-03-04", "--end", "2026-03-05")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "tuned on 2026-03-04 → 2026-03-04, reported on 2026-03-05 → 2026-03-05" in out.stdout
    assert all(len(line) <= 100 for line in lines if not line.startswith("  details:"))
    for name in registry():
        assert any(line.strip().startswith(name) for line in lines), name
    assert any(line.startswith("=> ") for line in lines)
    stem = tmp_path / "leaderboard" / "BTC_2026-03-04_2026-03-05"
    assert png_size(stem.with_suffix(".png"))[0] >= 1280
    table = pd.read_csv(stem.with_suffix(".csv"))
    assert set(table["part"]) == {"train", "test"} and "partial_rank_ci_low" in table and "lift_vs_range" in table
    assert "**" in stem.with_suffix(".md").read_text()


def test_cli_leaderboard_refuses_what_it_cannot_score(bundled_warehouse, tmp_path):
    out = cli(bundled_warehouse[0], tmp_path, "--leaderboard", "--symbol", "BTC", "--start", "2026-02-10", "--end", "2026-02-20")
    assert out.returncode == 1 and "no realized liquidations" in out.stderr and "Traceback" not in out.stderr
    out = cli(bundled_warehouse[0], tmp_path, "--leaderboard", "--symbol", "BTC", "--start", "2026-03-04", "--end", "2026-03-05",
              "--models", "no_such_model")
    assert out.returncode == 1 and "unknown model(s) no_such_model" in out.stderr


def test_aggregated_bars_are_realized_truth_and_never_single_liquidations(bundled_warehouse, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    shutil.copy(bundled_warehouse[0], warehouse)
    days = pd.date_range("2026-02-10", "2026-02-25", freq="D")
    rng = np.random.default_rng(1)
    with duckdb.connect(str(warehouse)) as con:
        frame = pd.DataFrame({"venue": "coinglass", "symbol": "BTC", "interval": "1d", "ts": days,
                              "long_usd": rng.gamma(1.0, 1e7, len(days)), "short_usd": rng.gamma(1.0, 1e7, len(days))})
        con.execute("insert into raw.liquidation_history select * from frame")
    out = cli(warehouse, tmp_path, "--symbol", "BTC", "--start", "2026-02-10", "--end", "2026-02-25")
    assert out.returncode == 0, out.stderr
    assert "realized truth: aggregates: raw.liquidation_history, coinglass 1d bars" in out.stdout and "(1d windows" in out.stdout
    out = cli(warehouse, tmp_path, "--symbol", "BTC", "--start", "2026-02-10", "--end", "2026-02-25", "--realized", "events")
    assert "no verdict: no realized liquidations" in out.stdout
    out = cli(warehouse, tmp_path, "--leaderboard", "--symbol", "BTC", "--start", "2026-02-10", "--end", "2026-02-25")
    assert out.returncode == 0, out.stderr
    assert "aggregates: raw.liquidation_history, coinglass 1d bars" in out.stdout and "first test day 2026-02-18" in out.stdout
    # levels.largest_liquidations lists single liquidations only: the aggregate bars never appear
    run_range(warehouse, ("levels",), dt.date(2026, 2, 20), dt.date(2026, 2, 20))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        largest = con.execute("select count(*), count(*) filter (where venue = 'coinglass') from levels.largest_liquidations "
                              "where as_of = '2026-02-20'").fetchall()[0]
    assert largest == (0, 0)


@pytest.fixture(scope="module")
def five_minute_user(tmp_path_factory):
    """A user's 5-minute files (the simulated market: candles with taker volume, OI, liquidations)."""
    base = tmp_path_factory.mktemp("user5m")
    bars, events = simulated_market(12 * 288, seed=4, freq="5min", sigma=0.0012, start="2026-02-01")
    stamp = lambda ts: pd.to_datetime(ts).dt.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    for table in ("klines", "open_interest", "liquidations"):
        (base / "data" / table / "binance").mkdir(parents=True)
    scale = 68_000 / 100
    pd.DataFrame({"ts": stamp(bars["ts"]), "interval": "5m", "open": bars["open"] * scale, "high": bars["high"] * scale,
                  "low": bars["low"] * scale, "close": bars["close"] * scale, "volume": bars["volume"],
                  "taker_buy_volume": bars["taker_buy_volume"]}).to_csv(base / "data/klines/binance/BTC.csv", index=False)
    pd.DataFrame({"ts": stamp(bars["ts"]), "interval": "5m", "oi_usd": bars["oi_usd"] * scale}).to_csv(
        base / "data/open_interest/binance/BTC.csv", index=False)
    pd.DataFrame({"ts": stamp(events["ts"]), "side": events["side"], "price": 68_000.0, "qty_base": events["usd"] / 68_000.0,
                  "usd": events["usd"]}).to_csv(base / "data/liquidations/binance/BTC.csv", index=False)
    result = run_range(base / "w.duckdb", ("ingest",), dt.date(2026, 2, 1), dt.date(2026, 2, 12), data_root=base / "data",
                       watchlist=watchlist_file(base, "5m"))
    assert result.success
    return base


def test_cli_leaderboard_on_a_users_five_minute_data(five_minute_user):
    base = five_minute_user
    out = cli(base / "w.duckdb", base / "exports", "--leaderboard", "--symbol", "BTC", "--start", "2026-02-04", "--end", "2026-02-12",
              watchlist=base / "watchlist.toml")
    assert out.returncode == 0, out.stderr
    assert "30min windows, events: raw.liquidations, binance" in out.stdout
    table = pd.read_csv(base / "exports/leaderboard/BTC_2026-02-04_2026-02-12.csv")
    test = table[table["part"] == "test"].set_index("model")
    assert (test["windows"] == test.loc["placebo", "windows"]).all() and test.loc["placebo", "windows"] >= 4 * 48
    # taker volume exists here, so the taker-side model differs from the plain OI-jump recipe
    assert test.loc["taker_side", "partial_rank"] != test.loc["objective:oi_jumps", "partial_rank"]
    assert png_size(base / "exports/leaderboard/BTC_2026-02-04_2026-02-12.png")[0] >= 1280
