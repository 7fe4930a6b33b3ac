"""Scorecard metrics on hand-computed cases, and on a simulated market whose truth is known."""

import numpy as np
import pandas as pd
import pytest

from indicators.liqprice import simple_liq_price
from indicators.objective import ObjectiveParams, compute_levels
from indicators.quality import (fixed_bands, make_windows, partial_spearman, placebo, predictions, range_only, score,
                                spearman, top_decile_capture)


def test_spearman_hand_computed():
    assert spearman(np.array([1, 2, 3, 4.0]), np.array([10, 20, 30, 40.0])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4.0]), np.array([4, 3, 2, 1.0])) == pytest.approx(-1.0)
    # ranks x 1,2,3,4 vs y 1,3,2,4: d² = 0+1+1+0 = 2 → 1 − 6·2/(4·15) = 0.8
    assert spearman(np.array([1, 2, 3, 4.0]), np.array([1, 3, 2, 4.0])) == pytest.approx(0.8)
    assert np.isnan(spearman(np.ones(5), np.arange(5.0)))


def test_constant_prediction_captures_a_tenth():
    realized = np.random.default_rng(0).gamma(1.0, 1.0, 37)
    assert top_decile_capture(np.zeros(37), realized) == pytest.approx(0.10)


def test_capture_hand_computed():
    prediction = np.arange(20.0)  # the top 10 % = the two highest predictions (18, 19)
    realized = np.zeros(20)
    realized[[19, 0]] = [3.0, 1.0]
    assert top_decile_capture(prediction, realized) == pytest.approx(0.75)


def test_partial_rank_removes_the_shared_driver():
    rng = np.random.default_rng(1)
    z = rng.normal(size=500)
    x, y = z + 0.01 * rng.normal(size=500), z + 0.01 * rng.normal(size=500)
    assert spearman(x, y) > 0.95 and abs(partial_spearman(x, y, z)) < 0.2


def bars_frame(closes, lows, highs, start="2026-03-04", freq="1h"):
    ts = pd.date_range(start, periods=len(closes), freq=freq)
    return pd.DataFrame({"ts": ts, "open": closes, "high": highs, "low": lows, "close": closes})


def test_predictions_hand_computed():
    bars = bars_frame([100.0] * 4, lows=[99.0, 99.0, 94.0, 99.0], highs=[101.0, 101.0, 101.0, 106.0])
    windows = make_windows(bars, pd.DataFrame(columns=["ts", "side", "usd"]), "1h")
    levels = pd.DataFrame({
        "created_ts": pd.to_datetime(["2026-03-04 00:00", "2026-03-04 00:30", "2026-03-04 03:00", "2026-03-04 00:00"]),
        "side": ["long", "long", "long", "short"], "price": [95.0, 99.5, 98.0, 105.0], "size": [10.0, 5.0, 7.0, 3.0]})
    pred = predictions(levels, windows)
    # 95 long: first touched in window 2 (low 94) → 10 there; 99.5 known from window 1 (created 00:30), touched in 1 → 5;
    # 98 created at window 3's start, window 3's low 99 never reaches it → nothing; short 105 touched in window 3
    assert pred.long_pred.tolist() == [0.0, 5.0, 10.0, 0.0]
    assert pred.short_pred.tolist() == [0.0, 0.0, 0.0, 3.0]


def test_window_finer_than_bars_is_refused():
    with pytest.raises(ValueError, match="finer than the bars"):
        make_windows(bars_frame([1.0, 1.0], [1.0, 1.0], [1.0, 1.0]), pd.DataFrame(columns=["ts", "side", "usd"]), "30min")


def simulated_market(n=3000, seed=3):
    """Positions open when OI rises (leverage 10/25/50/100 with probabilities .4/.3/.2/.1, both sides,
    size = the OI increase) and are liquidated when price crosses their liquidation price."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.003, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.003, n)))
    bursts = rng.random(n) < 0.08
    # OI rises only in bursts (new positions); between them it drifts down (positions closed)
    d_contracts = np.where(bursts, rng.gamma(3.0, 4000.0, n), -np.abs(rng.normal(0, 300.0, n)))
    contracts = 1e6 + np.cumsum(d_contracts)
    ts = pd.date_range("2026-01-01", periods=n, freq="1h")
    events = []
    for t in np.flatnonzero(d_contracts > 0):
        usd = d_contracts[t] * close[t]
        for side in ("long", "short"):
            lev = rng.choice([10, 25, 50, 100], p=[0.4, 0.3, 0.2, 0.1])
            price = float(simple_liq_price(side, close[t], lev))
            later = np.flatnonzero(low[t + 1:] <= price) if side == "long" else np.flatnonzero(high[t + 1:] >= price)
            if len(later):
                j = t + 1 + later[0]
                events.append({"ts": ts[j] + pd.Timedelta(minutes=30), "side": side, "usd": usd})
    bars = pd.DataFrame({"ts": ts.astype("datetime64[ns]"), "open": open_, "high": high, "low": low, "close": close,
                         "volume": 1.0, "oi_usd": contracts * close})
    return bars, pd.DataFrame(events)


def test_objective_engine_beats_the_placebo_on_a_simulated_market():
    bars, events = simulated_market()
    windows = make_windows(bars, events, "1h")
    params = ObjectiveParams(liq_model="simple")
    levels = compute_levels(bars, params)
    model = pd.DataFrame({"created_ts": levels.created_ts + pd.Timedelta(hours=1), "side": levels.side.astype(str),
                          "price": levels.liq_price, "size": levels.initial_notional_usd, "expires_ts": levels.expires_ts})
    fake = placebo(bars, lambda side, base, L: simple_liq_price(side, base, L), params.leverages, pd.Timedelta(hours=1),
                   pd.Timedelta(hours=params.expiry_hours))
    ours, base = score(predictions(model, windows), windows, resamples=50), score(predictions(fake, windows), windows, resamples=50)
    assert ours["spearman_pooled"] > base["spearman_pooled"] + 0.1
    assert ours["capture_top10"] > base["capture_top10"]
    assert ours["spearman_pooled_ci_low"] <= ours["spearman_pooled"] <= ours["spearman_pooled_ci_high"]
    # the two other baselines are scored on the same windows
    assert np.isfinite(score(range_only(windows), windows, resamples=10)["spearman_pooled"])
    assert np.isfinite(score(predictions(fixed_bands(bars), windows), windows, resamples=10)["capture_top10"])


def test_verdict_without_realized_liquidations():
    from indicators.quality import verdict

    report = pd.DataFrame({"days": 1, "realized_usd": 0.0, "windows": np.nan, "spearman_pooled": np.nan, "capture_top10": np.nan,
                           "spearman_pooled_ci_low": np.nan}, index=["objective:default", "placebo"])
    assert verdict(report) == "no verdict: no realized liquidations to score against"


def reference_score_intervals(pred: pd.DataFrame, windows: pd.DataFrame, resamples: int, seed: int) -> dict:
    """The bootstrap as it was: every metric recomputed on copied frames, two kept."""
    from indicators.quality import _metrics

    days = windows["day"].to_numpy()
    unique_days = np.unique(days)
    rng = np.random.default_rng(seed)
    rows_by_day = {d: np.flatnonzero(days == d) for d in unique_days}
    samples = {k: [] for k in ("spearman_pooled", "capture_top10", "partial_rank")}
    for _ in range(resamples):
        rows = np.concatenate([rows_by_day[d] for d in rng.choice(unique_days, len(unique_days))])
        m = _metrics(pred["long_pred"].to_numpy(float)[rows], pred["short_pred"].to_numpy(float)[rows], windows.iloc[rows])
        for key in samples:
            samples[key].append(m[key])
    out = {}
    for key, values in samples.items():
        values = np.array([v for v in values if np.isfinite(v)])
        out[f"{key}_ci_low"], out[f"{key}_ci_high"] = float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))
    return out


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "tied"])
@pytest.mark.parametrize("seed", [1, 7, 99])
def test_the_index_array_bootstrap_gives_the_same_intervals_for_the_same_seed(seed, ties):
    rng = np.random.default_rng(seed)
    n = 24 * 12
    windows = pd.DataFrame({"day": np.repeat(pd.date_range("2026-03-01", periods=12).date, 24),
                            "open": 100.0, "high": 100 + rng.random(n), "low": 100 - rng.random(n),
                            "long_usd": rng.gamma(0.3, 1e5, n) * (rng.random(n) < 0.4),
                            "short_usd": rng.gamma(0.3, 1e5, n) * (rng.random(n) < 0.4)})
    pred = pd.DataFrame({"long_pred": rng.gamma(1.0, 1e6, n), "short_pred": rng.gamma(1.0, 1e6, n)})
    if ties:  # levels of equal size: groups of tied predictions straddle the top-decile cut
        pred = (pred / 1e6).round() * 1e6
    fast = score(pred, windows, resamples=60, seed=seed)
    slow = reference_score_intervals(pred, windows, 60, seed)
    assert {k: fast[k] for k in slow} == slow
