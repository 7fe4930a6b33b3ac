"""Behavioral pools: fast engine == bar-by-bar reference; hand-checked ATR, pools and profile."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indicators.behavioral import BehavioralParams, compute_pools, pools_for_day, profile, standing_pools, warmup_bars, wilder_atr
from tests.indicators.behavioral_reference import reference_pools
from tests.indicators.test_objective import synthetic_bars


def assert_same(fast: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert len(fast) == len(ref)
    for column in ["venue", "symbol", "side", "created_ts", "swept_ts"]:
        assert fast[column].astype(str).tolist() == ref[column].astype(str).tolist(), column
    np.testing.assert_array_equal(fast["price"].to_numpy(float), ref["price"].to_numpy(float))
    np.testing.assert_array_equal(fast["weight"].to_numpy(float), ref["weight"].to_numpy(float))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 700), lookback=st.sampled_from([5, 30, 300]),
       create_on=st.sampled_from(["all", "lookback"]), grid=st.sampled_from([10, 100]))
def test_fast_equals_reference_on_random_series(seed, n, lookback, create_on, grid):
    bars = synthetic_bars(n, seed)
    params = BehavioralParams(lookback=lookback, create_on=create_on, grid=grid)
    assert_same(compute_pools(bars, params, venue="binance", symbol="BTC"), reference_pools(bars, params, venue="binance", symbol="BTC"))


def test_fast_equals_reference_with_flat_and_repeated_prices():
    bars = synthetic_bars(400, 5)
    bars.loc[100:140, ["open", "high", "low", "close"]] = 100.0  # equal highs/lows: ties create pools
    assert_same(compute_pools(bars), reference_pools(bars))


def test_wilder_atr_hand_computed():
    high = np.array([10.0, 12.0, 11.0, 13.0])
    low = np.array([9.0, 10.0, 9.0, 11.0])
    close = np.array([9.5, 11.0, 10.0, 12.0])
    # TR = [1, 2.5 (12-9.5), 2 (11-9), 3 (13-10)]; ATR(2): seed mean(1, 2.5) = 1.75, then (1.75+2)/2, ...
    atr = wilder_atr(high, low, close, 2)
    assert np.isnan(atr[0])
    assert atr[1:].tolist() == [1.75, 1.875, 2.4375]


def test_pool_geometry_on_a_hand_made_series():
    # 20 bars rising by 1 with range 1 and volume 1: every bar is a 2-bar high.
    n = 20
    close = np.arange(100.0, 100.0 + n)
    bars = pd.DataFrame({"ts": pd.date_range("2026-01-01", periods=n, freq="1h").astype("datetime64[ns]"),
                         "open": close - 0.5, "high": close + 0.5, "low": close - 0.5, "close": close, "volume": 1.0})
    params = BehavioralParams(lookback=5, volume_window=2, atr_length=2, grid=10)
    pools = compute_pools(bars, params)
    above = pools[pools.side == "buy-side"]
    assert len(above) > 0 and set(pools.side) == {"buy-side"}  # rising lows never make a 2-bar low
    assert (above.weight == 2.0).all()  # 2-bar volume sum
    # each pool is swept by the first later bar whose high exceeds it, never earlier
    for row in above.itertuples():
        later = bars[(bars.ts >= row.created_ts) & (bars.high > row.price)]
        expected = later.ts.iloc[0] if len(later) else pd.NaT
        assert (pd.isna(row.swept_ts) and pd.isna(expected)) or row.swept_ts == expected


def test_profile_point_of_control_and_sides():
    bars = synthetic_bars(600, 9)
    pools = compute_pools(bars)
    prof = profile(pools, bars)
    assert len(prof) == 50 and prof.share.between(0, 1).all()
    assert prof.loc[prof.is_poc, "weight"].iloc[0] == prof.weight.max() > 0
    close = bars.close.iloc[-1]
    assert (prof[prof.side == "buy-side"].mid > close).all() and (prof[prof.side == "sell-side"].mid <= close).all()


def test_decay_lowers_old_weight():
    bars = synthetic_bars(600, 9)
    pools = compute_pools(bars)
    plain = profile(pools, bars).weight.sum()
    decayed = profile(pools, bars, BehavioralParams(decay_half_life_hours=24)).weight.sum()
    assert 0 < decayed < plain


def test_standing_pools_as_of():
    bars = synthetic_bars(300, 2)
    pools = compute_pools(bars)
    cut = bars.ts.iloc[150]
    standing = standing_pools(pools, cut)
    assert (standing.created_ts < cut).all() and (standing.swept_ts.isna() | (standing.swept_ts >= cut)).all()


@pytest.mark.parametrize("bad", [dict(lookback=0), dict(create_on="some"), dict(decay_half_life_hours=0)])
def test_invalid_params(bad):
    with pytest.raises(ValueError):
        BehavioralParams(**bad)


def standing_during(pools: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    rows = pools[(pools["created_ts"] < end) & (pools["swept_ts"].isna() | (pools["swept_ts"] >= start))].copy()
    rows.loc[rows["swept_ts"] >= end, "swept_ts"] = pd.NaT  # a sweep after the day is not known on it
    return rows.astype({"venue": str, "symbol": str, "side": str}).sort_values(["created_ts", "side", "price"]).reset_index(drop=True)


def nightly(bars: pd.DataFrame, days: list[pd.Timestamp], params: BehavioralParams, bar: pd.Timedelta) -> list[pd.DataFrame]:
    """Day by day as the asset runs: each night sees warm-up + its day and the previous night's standing pools."""
    out, standing = [], None
    for start in days:
        end = start + pd.Timedelta(days=1)
        if standing is None:  # the first night has no state: from scratch
            night = standing_during(compute_pools(bars[bars["ts"] < end], params, venue="v", symbol="S"), start, end)
        else:
            window = bars[(bars["ts"] >= start - warmup_bars(params) * bar) & (bars["ts"] < end)]
            night = pools_for_day(window, standing, start, params, venue="v", symbol="S")
            night = night.sort_values(["created_ts", "side", "price"]).reset_index(drop=True)
        out.append(night)
        standing = night[night["swept_ts"].isna()]
    return out


def assert_nights_equal_from_scratch(bars: pd.DataFrame, days: list[pd.Timestamp], params: BehavioralParams, bar: pd.Timedelta):
    full = compute_pools(bars, params, venue="v", symbol="S")
    for start, night in zip(days, nightly(bars, days, params, bar)):
        expected = standing_during(full, start, start + pd.Timedelta(days=1))
        assert len(night) == len(expected), start
        assert_same(night, expected)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_nights_equal_a_from_scratch_run_on_random_series(seed):
    bars = synthetic_bars(24 * 120, seed)  # 120 days of hourly bars
    first = bars["ts"].iloc[0].normalize()
    days = [first + pd.Timedelta(days=d) for d in range(60, 75)]
    assert_nights_equal_from_scratch(bars, days, BehavioralParams(), pd.Timedelta(hours=1))


def test_incremental_nights_equal_a_from_scratch_run_on_bundled_candles():
    from tests.conftest import BUNDLED_DATA

    raw = pd.read_parquet(BUNDLED_DATA / "klines" / "binance" / "BTC.parquet")
    bars = pd.DataFrame({"ts": raw["ts"].dt.tz_convert(None).astype("datetime64[ns]"), **{c: raw[c].astype(float) for c in
                                                                                          ("open", "high", "low", "close", "volume")}})
    days = [pd.Timestamp("2026-02-10") + pd.Timedelta(days=d) for d in range(20)]
    assert_nights_equal_from_scratch(bars, days, BehavioralParams(), pd.Timedelta(hours=1))
