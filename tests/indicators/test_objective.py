"""Objective engine: fast implementation == bar-by-bar reference, plus hand-checked small cases."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indicators.objective import PRESETS, ObjectiveParams, compute_levels, preset
from tests.indicators.objective_reference import reference_levels

TIERS = {10: (0.004, 0.0), 25: (0.004, 0.0), 50: (0.004, 0.0), 100: (0.004, 0.0)}

HL_BTC_TIERS = {10: (0.0125, 0.0), 25: (0.0125, 0.0)}  # Hyperliquid BTC tier 1 (max 40x)


def synthetic_bars(n: int, seed: int, with_taker: bool = False, freq: str = "1h") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, n)))
    contracts = 1e6 + np.cumsum(rng.normal(0, 2e3, n) + rng.standard_t(3, n) * 1e3)
    volume = rng.gamma(2.0, 1e3, n)
    bars = pd.DataFrame({
        "ts": pd.date_range("2026-01-01", periods=n, freq=freq).astype("datetime64[ns]"),
        "open": open_, "high": high, "low": low, "close": close, "volume": volume,
        "oi_usd": np.abs(contracts) * close,
    })
    if with_taker:
        bars["taker_buy_volume"] = volume * rng.uniform(0.2, 0.8, n)
    return bars


def assert_same_levels(fast: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert len(fast) == len(ref)
    exact = ["venue", "symbol", "side", "leverage", "created_ts", "size_class", "filled_ts", "expires_ts", "status", "liq_model"]
    pd.testing.assert_frame_equal(fast[exact].astype(str).reset_index(drop=True), ref[exact].astype(str).reset_index(drop=True))
    for column in ["base_price", "liq_price", "initial_notional_usd", "notional_usd"]:
        np.testing.assert_array_equal(fast[column].to_numpy(float), ref[column].to_numpy(float), err_msg=column)


params_strategy = st.builds(
    ObjectiveParams,
    source=st.sampled_from(["oi", "oi+volume", "oi+cvd", "volume", "cvd"]),
    baseline_bars=st.integers(2, 40),
    sensitivity=st.sampled_from([0.5, 1.0, 1.5]),
    base=st.sampled_from(["close", "hl2", "ohlc4"]),
    sides=st.sampled_from(["both", "bias"]),
    liq_model=st.sampled_from(["exchange", "simple"]),
    expiry_hours=st.sampled_from([5.0, 48.0, 720.0]),
)


@settings(max_examples=60, deadline=None)
@given(params=params_strategy, seed=st.integers(0, 10_000), n=st.integers(1, 400), with_taker=st.booleans(),
       venue=st.sampled_from(["hyperliquid", "binance", "all"]))
def test_fast_equals_reference_on_random_series(params, seed, n, with_taker, venue):
    bars = synthetic_bars(n, seed, with_taker)
    tiers = HL_BTC_TIERS if venue == "hyperliquid" else None
    fast = compute_levels(bars, params, venue=venue, symbol="BTC", tiers=tiers)
    ref = reference_levels(bars, params, venue=venue, symbol="BTC", tiers=tiers)
    assert_same_levels(fast, ref)


def test_fast_equals_reference_with_as_of_cut():
    bars = synthetic_bars(600, 7)
    as_of = np.datetime64("2026-01-15T00:00", "ns")
    fast = compute_levels(bars, PRESETS["default"], as_of_end=as_of)
    assert_same_levels(fast, reference_levels(bars, PRESETS["default"], as_of_end=as_of))
    assert fast["created_ts"].max() < pd.Timestamp(as_of)
    assert (fast["filled_ts"].dropna() < pd.Timestamp(as_of)).all()


def _tiny_bars(closes, lows=None, highs=None, oi=None):
    n = len(closes)
    closes = np.asarray(closes, float)
    return pd.DataFrame({
        "ts": pd.date_range("2026-01-01", periods=n, freq="1h").astype("datetime64[ns]"),
        "open": closes, "high": closes if highs is None else highs, "low": closes if lows is None else lows,
        "close": closes, "volume": 1.0, "oi_usd": oi,
    })


def test_hand_computed_event_levels_and_fill():
    # Constant price 100; OI contracts 100 → 101 → 102 → 110 (ΔOI USD 100, 100, 800).
    # Baseline SMA(|ΔOI|, 2) on bar 3 = (100 + 800)/2 = 450; 800/450 = 1.78 > 1.2 → one small event.
    closes = [100.0, 100.0, 100.0, 100.0, 100.0, 100.0]
    lows = [100.0, 100.0, 100.0, 100.0, 100.0, 95.0]   # bar 5 trades down to 95: fills the 25x long (96)
    oi = np.array([100, 101, 102, 110, 110, 110.0]) * 100.0
    params = ObjectiveParams(baseline_bars=2, leverages=(10, 25), liq_model="simple")
    levels = compute_levels(_tiny_bars(closes, lows=lows, oi=oi), params, symbol="X")
    assert list(zip(levels.side, levels.leverage, levels.liq_price.round(6))) == [
        ("long", 10, 90.0), ("long", 25, 96.0), ("short", 10, 110.0), ("short", 25, 104.0)]
    assert (levels.created_ts == pd.Timestamp("2026-01-01 03:00")).all()
    assert list(levels.size_class) == ["small"] * 4
    assert list(levels.initial_notional_usd) == [400.0] * 4  # 800 USD over two tiers
    assert list(levels.status) == ["active", "filled", "active", "active"]
    assert levels.filled_ts[1] == pd.Timestamp("2026-01-01 05:00")


def test_falling_oi_shrinks_active_levels_pro_rata():
    oi = np.array([100, 101, 102, 110, 55, 55.0]) * 100.0  # bar 4 closes half of all contracts
    params = ObjectiveParams(baseline_bars=2, leverages=(10,), liq_model="simple")
    levels = compute_levels(_tiny_bars([100.0] * 6, oi=oi), params)
    assert list(levels.notional_usd) == [400.0, 400.0]  # 800 opened, then halved


def test_price_move_alone_opens_nothing():
    closes = np.array([100, 101, 150, 151, 149, 150.0])
    contracts = np.full(6, 1000.0)
    levels = compute_levels(_tiny_bars(closes, oi=contracts * closes), ObjectiveParams(baseline_bars=2))
    assert levels.empty


def test_leverage_not_allowed_on_the_venue_gets_no_level():
    bars = synthetic_bars(300, 3)
    levels = compute_levels(bars, PRESETS["default"], venue="hyperliquid", tiers=HL_BTC_TIERS)
    assert set(levels.leverage) == {10, 25}


def test_exchange_model_is_closer_than_rule_of_thumb():
    bars = synthetic_bars(300, 5)
    exchange = compute_levels(bars, PRESETS["default"], venue="hyperliquid", tiers=HL_BTC_TIERS)
    simple = compute_levels(bars, preset("default", liq_model="simple"), venue="hyperliquid", tiers=HL_BTC_TIERS)
    merged = exchange.merge(simple, on=["created_ts", "side", "leverage"], suffixes=("_x", "_s"))
    gap_x = (merged.liq_price_x - merged.base_price_x).abs()
    gap_s = (merged.liq_price_s - merged.base_price_s).abs()
    assert len(merged) > 0 and (gap_x < gap_s).all()


def test_sensitivity_reduces_levels():
    bars = synthetic_bars(1000, 11)
    counts = [len(compute_levels(bars, preset("oi_jumps", sensitivity=s))) for s in (0.5, 1.0, 2.0)]
    assert counts[0] > counts[1] > counts[2]


def test_bias_opens_one_side_per_event():
    bars = synthetic_bars(500, 13, with_taker=True)
    levels = compute_levels(bars, preset("default", sides="bias"))
    assert (levels.groupby("created_ts").side.nunique() == 1).all()


def test_long_levels_below_base_short_above():
    levels = compute_levels(synthetic_bars(500, 17), PRESETS["default"], venue="binance", tiers={10: (0.004, 0), 25: (0.004, 0), 50: (0.004, 0), 100: (0.004, 0)})
    longs, shorts = levels[levels.side == "long"], levels[levels.side == "short"]
    assert (longs.liq_price < longs.base_price).all() and (shorts.liq_price > shorts.base_price).all()


@pytest.mark.parametrize("bad", [dict(source="price"), dict(base="open"), dict(sides="up"), dict(thresholds=(2, 1, 3)), dict(leverages=(1,))])
def test_invalid_params_raise(bad):
    with pytest.raises(ValueError):
        ObjectiveParams(**bad)


def test_a_night_from_its_bounded_window_equals_the_whole_history():
    """The nightly asset reads warmup_hours + baseline + 2 bars before the day, never more: the levels
    standing on the day equal those of a run over the whole history (ids and states exactly, USD
    to 1e-9: the OI shrink is a ratio of running products, the OI calibration of running sums)."""
    params = PRESETS["default"]
    bars = synthetic_bars(24 * 150, 11)
    warmup = pd.Timedelta(hours=params.warmup_hours) + (params.baseline_bars + 2) * pd.Timedelta(hours=1)
    assert bars["ts"].iloc[0] < pd.Timestamp("2026-04-10") - warmup  # the whole history is longer than a night's window
    checked = 0
    for day in pd.date_range("2026-04-10", periods=10, freq="1D"):
        end = day + pd.Timedelta(days=1)

        def standing(levels):
            rows = levels[(levels["created_ts"] < end) & (levels["filled_ts"].isna() | (levels["filled_ts"] >= day))
                          & (levels["expires_ts"] > day)]
            return rows.astype({c: str for c in ("side", "size_class", "status", "venue", "symbol", "liq_model")}).reset_index(drop=True)

        full = standing(compute_levels(bars, params, tiers=TIERS, as_of_end=np.datetime64(end, "ns")))
        night = standing(compute_levels(bars[bars["ts"] >= day - warmup], params, tiers=TIERS, as_of_end=np.datetime64(end, "ns")))
        usd = ["notional_usd", "initial_notional_usd"]  # ratios of running sums (OI shrink, OI calibration): to 1e-9
        pd.testing.assert_frame_equal(night.drop(columns=usd), full.drop(columns=usd), check_exact=True)
        np.testing.assert_allclose(night[usd].to_numpy(float), full[usd].to_numpy(float), rtol=1e-9)
        checked += len(full)
    assert checked > 100


def test_fills_are_timed_by_the_first_finer_candle_that_touches_the_level():
    from indicators.objective import refine_fills

    fine = synthetic_bars(5 * 2_000, 21, freq="1min")
    coarse = fine.groupby(fine["ts"].dt.floor("5min")).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"), volume=("volume", "sum"),
        oi_usd=("oi_usd", "first")).reset_index()
    levels = compute_levels(coarse, PRESETS["default"], tiers=TIERS)
    refined = refine_fills(levels, fine, np.timedelta64(5, "m"))
    filled = levels["filled_ts"].notna()
    assert filled.sum() > 20
    pd.testing.assert_frame_equal(refined.drop(columns="filled_ts"), levels.drop(columns="filled_ts"))
    offsets = (refined["filled_ts"] - levels["filled_ts"])[filled]
    assert offsets.between(pd.Timedelta(0), pd.Timedelta(minutes=4)).all() and (offsets > pd.Timedelta(0)).any()
    by_ts = fine.set_index("ts")
    for row in refined[filled].itertuples():
        inside = by_ts.loc[levels.loc[row.Index, "filled_ts"]: row.filled_ts]
        touched = inside["low"] <= row.liq_price if row.side == "long" else inside["high"] >= row.liq_price
        assert touched.iloc[-1] and not touched.iloc[:-1].any()  # the first touch, none earlier in the bar


@pytest.mark.parametrize("weights", [(0.5, 0.3, 0.2, 0.0), (1.0, 1.0, 1.0, 1.0), (0.1, 0.2, 0.3, 0.4)])
def test_a_leverage_mix_shares_each_bar_like_the_slow_reference(weights):
    """Each tier carries its share of a bar's notional (a zero share opens no level); the engine
    matches the bar-by-bar reference, and equal weights give the same USD as no weights."""
    bars = synthetic_bars(400, 11)
    params = ObjectiveParams(leverage_weights=weights)
    fast = compute_levels(bars, params, venue="binance", tiers=TIERS)
    ref = reference_levels(bars, params, venue="binance", tiers=TIERS)
    exact = ["side", "leverage", "created_ts", "filled_ts", "status"]
    pd.testing.assert_frame_equal(fast[exact].astype(str).reset_index(drop=True), ref[exact].astype(str).reset_index(drop=True))
    for column in ("initial_notional_usd", "notional_usd"):
        np.testing.assert_allclose(fast[column].to_numpy(float), ref[column].to_numpy(float), rtol=1e-12)
    assert 100 not in set(fast.leverage) if weights[-1] == 0 else set(fast.leverage) == {10, 25, 50, 100}
    plain = compute_levels(bars, ObjectiveParams(), venue="binance", tiers=TIERS)
    per_bar = fast.groupby(["created_ts", "side"])["initial_notional_usd"].sum()
    np.testing.assert_allclose(per_bar.to_numpy(), plain.groupby(["created_ts", "side"])["initial_notional_usd"].sum().to_numpy(), rtol=1e-12)
    shares = fast.groupby("leverage")["initial_notional_usd"].sum() / fast["initial_notional_usd"].sum()
    expected = {L: w / sum(weights) for L, w in zip((10, 25, 50, 100), weights) if w > 0}
    assert shares.to_dict() == pytest.approx(expected)
