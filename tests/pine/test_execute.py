"""The overlay's alerts executed, not only parsed: each generated script runs in PineTS on real
bundled BTC candles, and each alert fires exactly when its condition holds on the last bar."""

import datetime as dt

import pandas as pd
import pytest

from pine.render import render
from tests.conftest import BUNDLED_DATA
from tests.pine.pinets_runner import run_pine

AS_OF = dt.date(2026, 3, 4)


@pytest.fixture(scope="module")
def candles() -> list[dict]:
    """The bundle's BTC hours of 2026-03-04 and the morning of 03-05 (the day after the levels' as-of day)."""
    bars = pd.read_parquet(BUNDLED_DATA / "klines" / "binance" / "BTC.parquet")
    bars["ts"] = pd.to_datetime(bars["ts"], utc=True)
    bars = bars[bars.ts >= "2026-03-04"]
    return [{"open": r.open, "high": r.high, "low": r.low, "close": r.close, "volume": r.volume,
             "openTime": int(r.ts.timestamp() * 1000), "closeTime": int(r.ts.timestamp() * 1000) + 3_599_999} for r in bars.itertuples()]


def script(levels: list[tuple], as_of: dt.date = AS_OF) -> str:
    """(price, side, method, usd) → an overlay whose levels were known at the start of the as-of day."""
    frame = pd.DataFrame([{"price": p, "side": s, "method": m, "leverage": 25 if m == "objective" else None, "strength": 1.0,
                           "notional_usd": usd, "known_ts": pd.Timestamp(as_of)} for p, s, m, usd in levels])
    return render(frame, symbol="BTC", as_of=as_of, venues=["hyperliquid"], tick_size=0.1,
                  generated_at=dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()))


def fired(alerts: list[dict], n_bars: int) -> set[str]:
    return {a["title"] for a in alerts if a["bar_index"] == n_bars - 1}


def test_near_level_alerts_fire_within_the_set_distance_only(candles, tmp_path):
    close = candles[-1]["close"]
    near = script([(close * 1.003, "short", "objective", 1e6), (close * 0.98, "long", "objective", 1e6)])
    assert fired(run_pine(near, candles, tmp_path), len(candles)) == {"Near a short liquidation level"}
    both = script([(close * 1.003, "short", "objective", 1e6), (close * 0.996, "long", "objective", 1e6)])
    assert fired(run_pine(both, candles, tmp_path), len(candles)) == {"Near a short liquidation level", "Near a long liquidation level"}
    wider = run_pine(near, candles, tmp_path, inputs={"Alert when price is within this % of the nearest level": 0.2})
    assert fired(wider, len(candles)) == set()  # 0.3 % away is outside a 0.2 % setting


def test_a_large_level_inside_the_last_bar_raises_the_crossing_alert(candles, tmp_path):
    last = candles[-1]
    inside = (last["low"] + last["high"]) / 2
    far = last["close"] * 0.9  # keeps the near-level alerts quiet
    big = script([(inside, "long", "objective", 8e6), (far, "long", "objective", 1e6)])
    assert "Large level crossed" in fired(run_pine(big, candles, tmp_path), len(candles))
    small = script([(inside, "long", "objective", 2e6), (far, "long", "objective", 1e6)])
    assert "Large level crossed" not in fired(run_pine(small, candles, tmp_path), len(candles))


def test_levels_older_than_a_day_raise_the_stale_alert(candles, tmp_path):
    far = [(candles[-1]["close"] * 0.9, "long", "objective", 1e6)]
    assert "Levels are stale" not in fired(run_pine(script(far), candles, tmp_path), len(candles))
    assert "Levels are stale" in fired(run_pine(script(far, as_of=AS_OF - dt.timedelta(days=2)), candles, tmp_path), len(candles))


def test_measured_zones_alert_unless_the_measured_toggle_is_off(candles, tmp_path):
    close = candles[-1]["close"]
    source = script([(close * 1.002, "short", "measured", 3e6), (close * 0.9, "long", "objective", 1e6)])
    assert "Near a short liquidation level" in fired(run_pine(source, candles, tmp_path), len(candles))
    off = run_pine(source, candles, tmp_path, inputs={"Measured zones (real Hyperliquid positions: 1 in this script)": False})
    assert "Near a short liquidation level" not in fired(off, len(candles))


def test_a_script_for_another_symbol_raises_nothing(candles, tmp_path):
    close = candles[-1]["close"]
    source = script([(close * 1.001, "short", "objective", 9e6)])
    assert fired(run_pine(source, candles, tmp_path, base="ETH"), len(candles)) == set()
