"""Leaderboard models: golden values, each kernel against a slow reference, the registry, and a
split that never lets the test part choose."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from indicators import leaderboard, quality
from indicators.liqprice import simple_liq_price
from indicators.models import ModelInputs, registry, tier_rows
from indicators.models._events import anchors, oi_multiplier
from indicators.models.taker_side import calibrate
from dataclasses import replace

from indicators.objective import PRESETS, ObjectiveParams, compute_activity
from indicators.simulated import simulated_market
from tests.indicators.test_objective import synthetic_bars


def inputs_for(bars, freq="1h"):
    return ModelInputs(bars=bars, venue_bars={"x": bars}, bar=pd.Timedelta(freq),
                       price_for=lambda side, base, L: simple_liq_price(side, np.asarray(base, float), L))


EXPECTED = {"objective:default", "objective:oi_jumps", "objective:leviathan", "behavioral", "entry_spread", "leverage_mix",
            "leverage_mix:fitted", "decay", "oi_volume", "liqmap", "taker_side", "multi_venue", "range_only", "fixed_bands", "placebo"}


def test_registry_holds_every_model_with_its_source():
    models = registry()
    assert EXPECTED <= set(models)
    assert [m.kind for m in models.values()][-3:] == ["baseline"] * 3
    for model in models.values():
        assert model.doc and len(model.doc) > 40, model.name
        assert (model.levels is None) != (model.window_predict is None), model.name
        assert model.candidates()[0] == model.defaults  # the documented default is tried first


@pytest.mark.parametrize("contracts, k, expected", [
    ([100.0, 101.0, 101.0, 99.0], 8.0, [1.0, 1.0 + 8 * (1 / 101), 1.0, 1.0]),  # ΔOI⁺/OI of the new count; falls count 0
    ([100.0, 150.0], 8.0, [1.0, 3.0]),  # clamped at 3
    ([100.0, np.nan, 110.0], 8.0, [1.0, 1.0, 1.0]),  # unknown OI: weight 1
])
def test_oi_multiplier_golden(contracts, k, expected):
    close = np.full(len(contracts), 50.0)
    np.testing.assert_allclose(oi_multiplier(np.asarray(contracts) * close, close, k), expected)


def test_oi_volume_engine_golden():
    # 3 bars, close 100, volume 2 (USD volume 200), OI contracts 1000 → 1010 → 1000
    bars = pd.DataFrame({"ts": pd.date_range("2026-01-01", periods=3, freq="1h"), "open": 100.0, "high": 101.0, "low": 99.0,
                         "close": 100.0, "volume": 2.0, "oi_usd": [1000 * 100.0, 1010 * 100.0, 1000 * 100.0]})
    turnover = ObjectiveParams(source="oi_volume", oi_weight=8.0, volume_power=1.0)
    act = compute_activity(bars, turnover)
    np.testing.assert_allclose(act.notional, [200.0, 200.0 * (1 + 8 * 10 / 1010), 200.0])
    half = compute_activity(bars, replace(turnover, volume_power=0.5))
    np.testing.assert_allclose(half.notional[0], 200.0 ** 0.5)
    # calibrated (3 bars inside one window): OI (USD) × the bar's share of the window's weighted turnover so far
    calibrated = compute_activity(bars, replace(turnover, calibrate_to_oi=True, expiry_hours=24))
    w = act.notional
    np.testing.assert_allclose(calibrated.notional, [1000 * 100.0, 1010 * 100.0 * w[1] / (w[0] + w[1]), 1000 * 100.0 * w[2] / w.sum()])
    # the default preset: volume power 0, so the weights alone, in USD of OI
    default = compute_activity(bars, PRESETS["default"])
    weights = np.array([1.0, 1 + 8 * 10 / 1010, 1.0])
    np.testing.assert_allclose(default.notional, [1e5, 1.01e5 * weights[1] / weights[:2].sum(), 1e5 * 1.0 / weights.sum()])


def test_default_preset_is_the_promoted_oi_volume_model():
    bars = synthetic_bars(600, 5)
    inputs = inputs_for(bars)
    models = registry()
    p = PRESETS["default"]
    engine = models["objective:default"].levels(replace(inputs, tiers_for=lambda params: None))
    model = models["oi_volume"].levels(inputs, k=p.oi_weight, volume_power=p.volume_power, expiry_h=p.expiry_hours,
                                       calibrate=p.calibrate_to_oi)
    key = ["created_ts", "side", "price"]
    engine, model = (f.sort_values(key, kind="stable").reset_index(drop=True) for f in (engine, model))
    assert len(engine) == len(model) == 600 * 8
    np.testing.assert_allclose(engine["price"], model["price"], rtol=1e-12)
    np.testing.assert_allclose(engine["size"], model["size"], rtol=1e-12)
    assert (engine["expires_ts"] == model["expires_ts"]).all() and (engine["created_ts"] == model["created_ts"]).all()


def test_tier_rows_conserve_usd_and_anchor_ranges():
    bars = synthetic_bars(50, 2)
    inputs = inputs_for(bars)
    idx = np.arange(10, 20)
    usd = np.linspace(1.0, 10.0, 10)
    spots = anchors(inputs, idx, "range", 5)
    np.testing.assert_allclose(spots[0][0], bars["low"].to_numpy()[idx])
    np.testing.assert_allclose(spots[-1][0], bars["high"].to_numpy()[idx])
    rows = tier_rows(inputs, idx, spots, usd, 2 * usd, {10: 0.35, 25: 0.30, 50: 0.20, 100: 0.15}, 24)
    by_side = rows.groupby("side")["size"].sum()
    assert by_side["long"] == pytest.approx(usd.sum()) and by_side["short"] == pytest.approx(2 * usd.sum())
    assert rows["created_ts"].min() == bars["ts"].iloc[10] + pd.Timedelta("1h")


def reference_decayed_predictions(levels, windows):
    """Window by window: a level counts in the first window at or after it is known whose range
    holds its price (and that starts before it expires), with its size halved per half-life."""
    out = {"long_pred": np.zeros(len(windows)), "short_pred": np.zeros(len(windows))}
    for level in levels.itertuples():
        for j, w in enumerate(windows.itertuples()):
            if w.start < level.created_ts:
                continue
            reached = w.low <= level.price if level.side == "long" else w.high >= level.price
            if reached:
                if w.start < level.expires_ts and w.low <= level.price <= w.high:
                    age_h = (w.start - level.created_ts) / pd.Timedelta(hours=1)
                    out[f"{level.side}_pred"][j] += level.size * 2 ** (-age_h / level.half_life_h)
                break
    return pd.DataFrame(out)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_decayed_predictions_equal_the_window_by_window_reference(seed):
    bars = synthetic_bars(300, seed)
    inputs = inputs_for(bars)
    levels = registry()["decay"].levels(inputs, scale=1.0)
    windows = quality.make_windows(bars, pd.DataFrame(columns=["ts", "side", "usd"]), "1h")
    fast = quality.predictions(levels, windows)
    slow = reference_decayed_predictions(levels.head(400), windows)
    fast_head = quality.predictions(levels.head(400), windows)
    np.testing.assert_allclose(fast_head.to_numpy(), slow.to_numpy(), rtol=1e-12)
    assert fast.to_numpy().sum() < quality.predictions(levels.drop(columns="half_life_h"), windows).to_numpy().sum()


def reference_calibrate(start, end, sizes, oi, n_bars):
    """Bar by bar with an explicit list of standing levels."""
    out, standing = np.zeros(len(sizes)), []
    for t in range(n_bars):
        standing = [m for m in standing if end[m] > t]
        new = [m for m in range(len(sizes)) if start[m] == t]
        if not new:
            continue
        held = sum(out[m] for m in standing)
        total = sum(sizes[m] for m in new)
        factor = 1.0 if np.isnan(oi[t]) or held + total <= oi[t] else max(oi[t] - held, 0.0) / total
        for m in new:
            out[m] = sizes[m] * factor
        standing += new
    return out


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_oi_calibration_equals_the_bar_by_bar_reference(seed):
    rng = np.random.default_rng(seed)
    n, count = 60, 200
    start = np.sort(rng.integers(0, n, count))
    end = start + rng.integers(1, 20, count)
    sizes = rng.gamma(1.0, 50.0, count)
    oi = rng.uniform(100, 400, n)
    oi[rng.random(n) < 0.1] = np.nan
    fast = calibrate(start, end, sizes, oi, n)
    np.testing.assert_allclose(fast, reference_calibrate(start, end, sizes, oi, n), rtol=1e-12, atol=1e-9)
    assert (fast <= sizes + 1e-12).all() and fast.sum() < sizes.sum()


def test_calibrated_side_never_holds_more_than_oi():
    bars = synthetic_bars(400, 8, with_taker=True)
    bars["oi_usd"] = bars["oi_usd"] - 0.99 * bars["oi_usd"].min()  # the same jumps on a thin book, so the cap binds
    rows = registry()["taker_side"].levels(inputs_for(bars), side_rule="share", calibrate_to_oi=True)
    raw = registry()["taker_side"].levels(inputs_for(bars), side_rule="share", calibrate_to_oi=False)
    assert rows["size"].sum() < raw["size"].sum()


def leaderboard_on(bars, events, window="1h"):
    inputs = inputs_for(bars)
    windows = quality.make_windows(bars, events, window)
    first = windows["day"].iloc[0] + dt.timedelta(days=31)
    scored = (windows["day"] >= first).to_numpy()
    split = leaderboard.default_split(leaderboard.realized_days(windows, scored))
    return leaderboard.evaluate(registry(), inputs, windows, scored, split, resamples=40), windows, scored, split


def test_simulated_market_rewards_the_models_that_know_how_it_was_made():
    bars, events = simulated_market(2400, seed=3)
    (table, predictions), *_ = leaderboard_on(bars, events)
    test = table[table["part"] == "test"].set_index("model")
    # positions open on OI jumps in the simulation, so the OI-event models carry information
    assert test.loc["objective:oi_jumps", "partial_rank_ci_low"] > test.loc["placebo", "partial_rank"]
    assert leaderboard.leaderboard_verdict(table).startswith("BEATS the placebo")
    assert set(predictions) == set(test.index)
    assert table.attrs["train"][1] < table.attrs["first_test_day"] == table.attrs["test"][0]


def test_the_test_part_never_chooses_a_parameter():
    bars, events = simulated_market(2000, seed=11)
    (table, _), windows, scored, split = leaderboard_on(bars, events)
    # scramble the realized liquidations of the test part only: every chosen parameter stays
    later = pd.to_datetime(events["ts"]).dt.date >= split
    shuffled = events.copy()
    shuffled.loc[later, "usd"] = np.random.default_rng(0).permutation(shuffled.loc[later, "usd"].to_numpy())
    (other, _), *_ = leaderboard_on(bars, shuffled)
    pd.testing.assert_series_equal(table["params"], other["params"])
    train = table["part"] == "train"
    pd.testing.assert_series_equal(table.loc[train, "partial_rank"], other.loc[train, "partial_rank"])
    assert not np.allclose(table.loc[~train, "partial_rank"].fillna(0), other.loc[~train, "partial_rank"].fillna(0))
    assert leaderboard.best_model(table) == leaderboard.best_model(other)


def test_split_needs_two_days_and_a_day_inside_the_range():
    with pytest.raises(ValueError, match="at least 2"):
        leaderboard.default_split([dt.date(2026, 1, 1)])
    bars, events = simulated_market(900, seed=1)
    inputs = inputs_for(bars)
    windows = quality.make_windows(bars, events, "1h")
    with pytest.raises(ValueError, match="empty part"):
        leaderboard.evaluate(registry(), inputs, windows, np.ones(len(windows), bool), dt.date(2030, 1, 1), resamples=5)
