"""levels.objective end to end: real runs over bundled data, checked against the engine run
independently on the bundled files (full history, no warehouse)."""

import datetime as dt
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest

from indicators.objective import PRESETS, compute_levels
from pipelines.lib.objective_day import levels_as_of
from pipelines.lib.margin import margin_tiers
from tests.conftest import BUNDLED_DATA
from tests.pipelines.dagster_helpers import run_range

DAY = dt.date(2026, 3, 5)
PREVIOUS = DAY - dt.timedelta(days=1)


@pytest.fixture(scope="module")
def filled_warehouse(bundled_warehouse):
    path, _, levels = bundled_warehouse
    return path, levels


def read_levels(path, day: dt.date) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select * from levels.objective where as_of = ? order by level_id", [day]).fetch_df()


def independent_levels(day: dt.date, preset: str) -> pd.DataFrame:
    """The engine on the bundled Parquet files directly: whole history, Binance prices, HL OI."""
    klines = pd.read_parquet(BUNDLED_DATA / "klines/binance/BTC.parquet")
    oi = pd.read_parquet(BUNDLED_DATA / "open_interest/hyperliquid/BTC.parquet")
    bars = klines.assign(ts=klines["ts"].dt.tz_convert(None).astype("datetime64[ns]"))
    oi_by_ts = oi.set_index(oi["ts"].dt.tz_convert(None).astype("datetime64[ns]"))["oi_usd"]
    bars["oi_usd"] = bars["ts"].map(oi_by_ts)
    params = PRESETS[preset]
    levels = compute_levels(bars, params, venue="hyperliquid", symbol="BTC",
                            tiers=margin_tiers("hyperliquid", "BTC", day, params),
                            as_of_end=np.datetime64(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()), "ns"))
    return levels_as_of(levels, day)


@pytest.mark.parametrize("preset", ["default", "leviathan"])
def test_partition_equals_engine_over_full_history(filled_warehouse, preset):
    path, _ = filled_warehouse
    stored = read_levels(path, DAY)
    stored = stored[(stored.preset == preset) & (stored.venue == "hyperliquid")].sort_values(["created_ts", "side", "leverage"])
    expected = independent_levels(DAY, preset).sort_values(["created_ts", "side", "leverage"])
    assert len(stored) == len(expected) > 20
    np.testing.assert_array_equal(stored.created_ts.to_numpy("datetime64[ns]"), expected.created_ts.to_numpy("datetime64[ns]"))
    assert list(stored.status) == list(expected.status.astype(str))
    np.testing.assert_allclose(stored.liq_price, expected.liq_price, rtol=1e-12)
    np.testing.assert_allclose(stored.notional_usd, expected.notional_usd, rtol=1e-9)


def test_levels_carry_across_days(filled_warehouse):
    path, _ = filled_warehouse
    before, after = read_levels(path, PREVIOUS), read_levels(path, DAY)
    carried = before[before.status == "active"].merge(after, on="level_id", suffixes=("_before", "_after"))
    assert len(carried) > 0
    assert (carried.created_ts_before == carried.created_ts_after).all()
    assert (carried.liq_price_before == carried.liq_price_after).all()
    # every level active at the end of the previous day is in the next day's partition
    assert set(before[before.status == "active"].level_id) <= set(after.level_id)


def test_long_levels_below_base_and_short_above(filled_warehouse):
    levels = read_levels(filled_warehouse[0], DAY)
    longs, shorts = levels[levels.side == "long"], levels[levels.side == "short"]
    assert (longs.liq_price < longs.base_price).all() and (shorts.liq_price > shorts.base_price).all()
    # the calibrated preset exists where the bundle's (synthetic) scans of the 14 days before allow a fit
    assert set(levels.venue) == {"hyperliquid", "all"} and set(levels.preset) == set(PRESETS) | {"calibrated"}
    # Hyperliquid allows BTC up to 40x: no 50x/100x levels with its own margin tiers
    default_hl = levels[(levels.preset == "default") & (levels.venue == "hyperliquid")]
    assert set(default_hl.leverage) <= {10, 25}


def test_metadata_has_counts_strongest_and_chart(filled_warehouse):
    _, result = filled_warehouse
    metadata = result.asset_materializations_for_node("levels__objective")[-1].metadata
    assert metadata["active_long"].value > 0 and metadata["active_short"].value > 0
    assert "liq_price" in metadata["strongest_five"].value
    assert metadata["chart"].value.startswith("![objective levels](data:image/png;base64,")


def test_rerun_of_a_level_day_is_idempotent(filled_warehouse, tmp_path):
    path = tmp_path / "copy.duckdb"
    shutil.copy(filled_warehouse[0], path)
    before = read_levels(path, DAY)
    assert run_range(path, ("levels",), DAY, DAY).success
    pd.testing.assert_frame_equal(read_levels(path, DAY), before)


@pytest.mark.parametrize("asset, table", [("levels/objective", "levels.objective"), ("levels/heatmap", "levels.heatmap"),
                                          ("levels/liquidation_map", "levels.liquidation_map")])
def test_each_day_of_a_two_day_run_carries_its_own_numbers(filled_warehouse, asset, table):
    """A single-run backfill materializes every day with that day's row count (not the run's total
    or its last day's), so the UI's partitions and Plots tab show real per-day numbers."""
    path, levels = filled_warehouse
    events = {e.partition: e.materialization.metadata for e in levels.get_asset_materialization_events()
              if e.asset_key.to_user_string() == asset}
    with duckdb.connect(str(path), read_only=True) as con:
        stored = dict(con.execute(f"select as_of::varchar || '|' || symbol, count(*) from {table} group by all").fetchall())
    assert set(events) == {f"{PREVIOUS}|BTC", f"{DAY}|BTC"}  # one partition per symbol-day
    assert {day: m["dagster/row_count"].value for day, m in events.items()} == {day: stored[day] for day in events}
    if asset == "levels/objective":
        for day, metadata in events.items():
            assert isinstance(metadata["active_long_usd"].value, int) and metadata["active_long_usd"].value > 0
