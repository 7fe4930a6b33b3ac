"""Benchmark: objective levels over one year of one-minute bars (525,600), fast vs reference.

Both run in this process on the same synthetic series (seeded random walk, 1-minute volatility
0.05 %, OI with heavy-tailed changes), default preset, Binance tier-1 margin. The fast engine is
warmed up once on a small series first so numba's compile time is not counted (it is cached on
disk after the first run anyway). The last line is machine-readable:

    RESULT name=objective reference_s=<t> fast_s=<t> ratio=<r>
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indicators.objective import PRESETS, compute_levels  # noqa: E402
from tests.indicators.objective_reference import reference_levels  # noqa: E402

BARS = 525_600
TIERS = {10: (0.004, 0.0), 25: (0.004, 0.0), 50: (0.004, 0.0), 100: (0.004, 0.0)}


def minute_bars(n: int, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 60_000.0 * np.exp(np.cumsum(rng.normal(0, 0.0005, n)))
    open_ = np.concatenate([[60_000.0], close[:-1]])
    wick = np.abs(rng.normal(0, 0.0003, (2, n)))
    contracts = 50_000 + np.cumsum(rng.standard_t(3, n) * 5.0)
    return pd.DataFrame({
        "ts": pd.date_range("2025-01-01", periods=n, freq="1min").astype("datetime64[ns]"),
        "open": open_, "high": np.maximum(open_, close) * (1 + wick[0]), "low": np.minimum(open_, close) * (1 - wick[1]),
        "close": close, "volume": rng.gamma(2.0, 5.0, n), "oi_usd": np.abs(contracts) * close,
    })


def main() -> None:
    bars = minute_bars(BARS)
    params = PRESETS["default"]
    compute_levels(bars.head(5_000), params, venue="binance", symbol="BTC", tiers=TIERS)  # JIT warm-up
    t0 = time.perf_counter()
    fast = compute_levels(bars, params, venue="binance", symbol="BTC", tiers=TIERS)
    fast_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = reference_levels(bars, params, venue="binance", symbol="BTC", tiers=TIERS)
    reference_s = time.perf_counter() - t0
    same = len(fast) == len(ref) and np.array_equal(fast["liq_price"].to_numpy(), ref["liq_price"].to_numpy()) \
        and fast["status"].tolist() == ref["status"].tolist() and np.array_equal(fast["notional_usd"].to_numpy(), ref["notional_usd"].to_numpy())
    print(f"bars={BARS} levels={len(fast)} filled={(fast.status == 'filled').sum()} identical={same}")
    print(f"RESULT name=objective reference_s={reference_s:.3f} fast_s={fast_s:.3f} ratio={reference_s / fast_s:.1f}")


if __name__ == "__main__":
    main()
