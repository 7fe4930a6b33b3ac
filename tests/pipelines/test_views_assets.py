"""The behavioral and view tables after real runs, against independent computations on the
bundled files."""

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from indicators.behavioral import compute_pools
from tests.conftest import BUNDLED_DATA, HISTORY_DAYS, LEVEL_DAY

DAY = LEVEL_DAY - dt.timedelta(days=1)  # 2026-03-04: a full day with OKX liquidations
TABLES = ["levels.behavioral", "levels.heatmap", "levels.liquidation_map", "levels.clusters", "levels.max_pain",
          "levels.liquidation_stats", "levels.largest_liquidations"]


def query(path, sql, params=()):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, list(params)).fetch_df()


def test_every_view_table_has_rows_for_the_day(bundled_warehouse):
    for table in TABLES:
        assert len(query(bundled_warehouse[0], f"select * from {table} where as_of = ? and symbol = 'BTC'", [DAY])) > 0, table


def test_behavioral_pools_match_the_engine_on_the_bundled_file(bundled_warehouse):
    klines = pd.read_parquet(BUNDLED_DATA / "klines/binance/BTC.parquet")
    bars = klines.assign(ts=klines.ts.dt.tz_convert(None).astype("datetime64[ns]"))
    # the warehouse holds HISTORY_DAYS before LEVEL_DAY: the engine must see the same history
    bars = bars[(bars.ts >= pd.Timestamp(LEVEL_DAY - dt.timedelta(days=HISTORY_DAYS))) & (bars.ts < pd.Timestamp(DAY + dt.timedelta(days=1)))]
    pools = compute_pools(bars.reset_index(drop=True))
    start, end = pd.Timestamp(DAY), pd.Timestamp(DAY + dt.timedelta(days=1))
    expected = pools[(pools.created_ts < end) & (pools.swept_ts.isna() | (pools.swept_ts >= start))]
    stored = query(bundled_warehouse[0], "select * from levels.behavioral where as_of = ? and venue = 'binance' order by created_ts, side, price", [DAY])
    expected = expected.sort_values(["created_ts", "side", "price"])
    assert len(stored) == len(expected) > 0
    np.testing.assert_allclose(stored.price, expected.price, rtol=1e-12)
    assert (stored.status == "active").sum() == expected.swept_ts.isna().sum() + (expected.swept_ts >= end).sum()


def test_liquidation_stats_match_the_bundled_events(bundled_warehouse):
    events = pd.read_parquet(BUNDLED_DATA / "liquidations/okx/BTC.parquet")
    ts = events.ts.dt.tz_convert(None)
    day_end = pd.Timestamp(DAY + dt.timedelta(days=1))
    in_last_24h = events[(ts >= day_end - pd.Timedelta(hours=24)) & (ts < day_end)]
    stats = query(bundled_warehouse[0], "select * from levels.liquidation_stats where as_of = ? and venue = 'okx' "
                                        "and window_hours = 24 and ts = ?", [DAY, day_end.to_pydatetime()])
    assert stats.long_usd[0] == pytest.approx(in_last_24h[in_last_24h.side == "long"].usd.sum(), rel=1e-12)
    assert stats.short_usd[0] == pytest.approx(in_last_24h[in_last_24h.side == "short"].usd.sum(), rel=1e-12)
    largest = query(bundled_warehouse[0], "select * from levels.largest_liquidations where as_of = ? order by rank", [DAY])
    day_events = events[(ts >= pd.Timestamp(DAY)) & (ts < day_end)]
    assert largest.usd.tolist() == sorted(day_events.usd, reverse=True)[:10]


def test_max_pain_is_the_strongest_cluster_on_each_side(bundled_warehouse):
    pain = query(bundled_warehouse[0], "select * from levels.max_pain where as_of = ? and symbol = 'BTC'", [DAY]).iloc[0]
    zones = query(bundled_warehouse[0], "select * from levels.clusters where as_of = ? and symbol = 'BTC'", [DAY])
    longs = zones[(zones.side == "long") & (zones.price_mid < pain.close)]
    assert pain.long_usd == longs.usd.max() and pain.long_price < pain.close < pain.short_price
    assert pain.long_distance_pct == (pain.long_price / pain.close - 1) * 100


def test_heatmap_last_hour_equals_active_levels(bundled_warehouse):
    path = bundled_warehouse[0]
    heat = query(path, "select sum(long_usd + short_usd) as usd from levels.heatmap where as_of = ? and symbol = 'BTC' and ts = ?",
                 [DAY, dt.datetime.combine(DAY, dt.time(23))])
    active = query(path, "select sum(notional_usd) as usd from levels.objective where as_of = ? and symbol = 'BTC' "
                         "and status = 'active' and preset = 'default' and venue = 'all'", [DAY])
    assert heat.usd[0] == pytest.approx(active.usd[0], rel=1e-9) and active.usd[0] > 0
