"""Heatmap, liquidation map, clusters, max pain and liquidation statistics on hand-computed cases."""

import pandas as pd
import pytest

from indicators.views import bin_width, clusters, heatmap, largest_liquidations, liquidation_map, liquidation_stats, max_pain

T0 = pd.Timestamp("2026-03-04")


def level(side, price, usd, leverage=10, created_h=0, filled_h=None, status="active"):
    return {"side": side, "liq_price": price, "notional_usd": usd, "leverage": leverage,
            "created_ts": T0 + pd.Timedelta(hours=created_h),
            "filled_ts": T0 + pd.Timedelta(hours=filled_h) if filled_h is not None else pd.NaT,
            "expires_ts": T0 + pd.Timedelta(days=30), "status": status}


LEVELS = pd.DataFrame([
    level("long", 95.02, 100.0, 10, created_h=0),
    level("long", 95.07, 50.0, 25, created_h=1),           # same 0.1-wide bin as 95.02
    level("long", 90.00, 30.0, 50, created_h=0, filled_h=2, status="filled"),
    level("short", 104.96, 70.0, 100, created_h=2),
])


def test_bin_width_is_a_tenth_of_a_percent():
    assert bin_width(100.0) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        bin_width(0)


def test_heatmap_hand_computed():
    cells = heatmap(LEVELS, pd.date_range(T0, periods=3, freq="1h"), 0.1)
    by = {(c.ts.hour, round(c.bin_low, 1)): (c.long_usd, c.short_usd) for c in cells.itertuples()}
    # hour 0: levels created at 00:00 (95.02, 90.00); hour 1: + 95.07; hour 2: 90.00 filled at 02:00, + short 104.96
    assert by == {(0, 95.0): (100.0, 0.0), (0, 90.0): (30.0, 0.0),
                  (1, 95.0): (150.0, 0.0), (1, 90.0): (30.0, 0.0),
                  (2, 95.0): (150.0, 0.0), (2, 104.9): (0.0, 70.0)}


def test_liquidation_map_hand_computed():
    rows = liquidation_map(LEVELS, close=100.0, width=0.1)
    assert [round(b, 1) for b in rows.bin_low] == [95.0, 104.9]  # the filled level is not in the map
    assert list(rows.long_usd) == [150.0, 0.0] and list(rows.short_usd) == [0.0, 70.0]
    assert list(rows.long_cum_usd) == [150.0, 0.0] and list(rows.short_cum_usd) == [0.0, 70.0]
    assert list(rows.usd_10x) == [100.0, 0.0] and list(rows.usd_25x) == [50.0, 0.0] and list(rows.usd_100x) == [0.0, 70.0]


def test_cumulative_long_grows_away_from_the_close():
    levels = pd.DataFrame([level("long", p, 10.0) for p in (99.0, 98.0, 97.0)])
    rows = liquidation_map(levels, close=100.0, width=0.5)
    assert list(rows.sort_values("bin_low", ascending=False).long_cum_usd) == [10.0, 20.0, 30.0]


def test_clusters_merge_neighbours_per_side_and_max_pain():
    objective = pd.DataFrame([level("long", 95.0, 100.0, 10), level("long", 95.2, 50.0, 25),
                              level("long", 90.0, 500.0, 50), level("short", 105.0, 70.0, 100)])
    pools = pd.DataFrame({"side": ["sell-side", "buy-side"], "price": [95.1, 110.0], "weight": [5.0, 7.0]})
    zones = clusters(objective, pools, gap=0.25)
    longs = zones[zones.side == "long"].sort_values("price_low")
    assert list(longs["count"]) == [1, 3]
    merged = longs.iloc[1]
    assert (merged.price_low, merged.price_high, merged.usd, merged.weight) == (95.0, 95.2, 150.0, 5.0)
    assert merged.price_mid == pytest.approx((95.0 * 100 + 95.2 * 50) / 150)
    assert merged.tiers == "10x,25x" and merged.methods == "behavioral,objective"
    pain = max_pain(zones, close=100.0)
    assert pain["long_price"] == 90.0 and pain["long_usd"] == 500.0 and pain["long_distance_pct"] == pytest.approx(-10.0)
    assert pain["short_price"] == 105.0 and pain["short_distance_pct"] == pytest.approx(5.0)


def test_liquidation_stats_rolling_windows():
    events = pd.DataFrame({"venue": ["okx", "okx", "hyperliquid", "okx"],
                           "ts": T0 + pd.to_timedelta([10, 70, 80, 60 * 5], unit="min"),
                           "side": ["long", "short", "unknown", "long"], "price": 1.0, "usd": [1.0, 2.0, 4.0, 8.0]})
    stats = liquidation_stats(events, pd.date_range(T0, periods=6, freq="1h"))
    at = lambda hour, venue, window: stats[(stats.ts == T0 + pd.Timedelta(hours=hour)) & (stats.venue == venue) & (stats.window_hours == window)].iloc[0]  # noqa: E731
    assert (at(2, "all", 1).long_usd, at(2, "all", 1).short_usd, at(2, "all", 1).unknown_usd) == (0.0, 2.0, 4.0)
    assert (at(2, "okx", 4).long_usd, at(2, "okx", 4)["count"]) == (1.0, 2)
    assert at(6, "all", 24).long_usd == 9.0 and at(6, "all", 4).long_usd == 8.0
    top = largest_liquidations(events, top=2)
    assert list(top["rank"]) == [1, 2] and list(top.usd) == [8.0, 4.0]
