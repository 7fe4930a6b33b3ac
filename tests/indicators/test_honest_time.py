"""Levels never use data from after their known time (the close of the bar that made them):
truncating the input after t never changes the levels known before t. Random series, both engines."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from indicators.behavioral import BehavioralParams, compute_pools
from indicators.objective import PRESETS, compute_levels
from tests.indicators.test_objective import synthetic_bars

BAR = pd.Timedelta(hours=1)
TIERS = {10: (0.004, 0.0), 25: (0.004, 0.0), 50: (0.004, 0.0), 100: (0.004, 0.0)}
CREATION = ["side", "leverage", "created_ts", "base_price", "liq_price", "initial_notional_usd", "size_class"]


def known_before(frame: pd.DataFrame, t: pd.Timestamp, columns: list[str]) -> pd.DataFrame:
    rows = frame[frame["created_ts"] + BAR <= t]
    return rows[columns].astype({c: str for c in columns if str(rows[c].dtype) == "category"}).reset_index(drop=True)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(80, 600), cut=st.floats(0.1, 0.95), preset=st.sampled_from(list(PRESETS)))
def test_objective_levels_known_before_t_do_not_change_when_the_input_ends_at_t(seed, n, cut, preset):
    bars = synthetic_bars(n, seed, with_taker=True)
    t = bars["ts"].iloc[int(n * cut)]
    full = compute_levels(bars, PRESETS[preset], venue="binance", symbol="BTC", tiers=TIERS)
    truncated = compute_levels(bars[bars["ts"] < t], PRESETS[preset], venue="binance", symbol="BTC", tiers=TIERS)
    pd.testing.assert_frame_equal(known_before(full, t, CREATION), known_before(truncated, t, CREATION), check_exact=True, check_dtype=False, check_index_type=False)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 900), cut=st.floats(0.1, 0.95), lookback=st.sampled_from([5, 30, 300]))
def test_behavioral_pools_known_before_t_do_not_change_when_the_input_ends_at_t(seed, n, cut, lookback):
    bars = synthetic_bars(n, seed)
    t = bars["ts"].iloc[int(n * cut)]
    params = BehavioralParams(lookback=lookback)
    columns = ["side", "created_ts", "price", "weight"]
    full = compute_pools(bars, params, venue="binance", symbol="BTC")
    truncated = compute_pools(bars[bars["ts"] < t], params, venue="binance", symbol="BTC")
    pd.testing.assert_frame_equal(known_before(full, t, columns), known_before(truncated, t, columns), check_exact=True, check_dtype=False, check_index_type=False)


def test_a_level_is_known_only_at_the_close_of_its_bar():
    bars = synthetic_bars(300, 3)
    levels = compute_levels(bars, PRESETS["default"], tiers=TIERS)
    assert len(levels) and set(levels["created_ts"]) <= set(bars["ts"])  # stamped with the bar's open ...
    opened = bars.set_index("ts").loc[levels["created_ts"], "close"].to_numpy()
    np.testing.assert_array_equal(levels["base_price"].to_numpy(), opened)  # ... but priced at its close: known at ts + bar
