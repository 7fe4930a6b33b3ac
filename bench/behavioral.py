"""Benchmark: behavioral pools over one year of one-minute bars (525,600), fast vs reference.

Same synthetic series as bench/objective.py (seeded random walk, 1-minute volatility 0.05 %),
default parameters (lookback 300, grid 100) with pools created on every bar. The fast engine is
warmed up on a small series first so numba's compile time is not counted. Last line:

    RESULT name=behavioral reference_s=<t> fast_s=<t> ratio=<r>
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from objective import BARS, minute_bars  # noqa: E402

from indicators.behavioral import BehavioralParams, compute_pools  # noqa: E402
from tests.indicators.behavioral_reference import reference_pools  # noqa: E402


def main() -> None:
    bars = minute_bars(BARS)
    params = BehavioralParams()
    compute_pools(bars.head(5_000), params)  # JIT warm-up
    t0 = time.perf_counter()
    fast = compute_pools(bars, params, venue="binance", symbol="BTC")
    fast_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = reference_pools(bars, params, venue="binance", symbol="BTC")
    reference_s = time.perf_counter() - t0
    same = len(fast) == len(ref) and np.array_equal(fast["price"].to_numpy(), ref["price"].to_numpy()) \
        and fast["swept_ts"].astype(str).tolist() == ref["swept_ts"].astype(str).tolist()
    print(f"bars={BARS} pools={len(fast)} standing={fast['swept_ts'].isna().sum()} identical={same}")
    print(f"RESULT name=behavioral reference_s={reference_s:.3f} fast_s={fast_s:.3f} ratio={reference_s / fast_s:.1f}")


if __name__ == "__main__":
    main()
