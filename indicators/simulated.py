"""A simulated market whose liquidations are known: the leaderboard's control experiment.

Generative rules (each a documented claim about real markets, anchors_indicators.md §3–5):
- price: a random walk of log returns (σ per bar), with highs/lows beyond open/close;
- positions open only when OI rises (in bursts, ~8 % of bars): the rise in contracts × close is
  the USD opened on each side (a new contract has a long and a short holder);
- entries are spread uniformly over the bar's [low, high]; leverage 10/25/50/100x with the
  liqmap mix 0.35/0.30/0.20/0.15; liquidation at entry × (1 ∓ 1/L);
- positions are closed before liquidation with per-tier half-lives (10x 5 d, 25x 2 d, 50x 1 d,
  100x 12 h, liqmap's scalping set): a position still open when price crosses its liquidation
  price is liquidated in that bar (realized, at the bar's mid-time);
- taker buy share of each bar leans with its close − open, and decides nothing else.

Units: prices USD, volumes in base units, timestamps naive UTC (datetime64[ns]).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LEVERAGE_MIX = {10: 0.35, 25: 0.30, 50: 0.20, 100: 0.15}
HALF_LIVES_H = {10: 120.0, 25: 48.0, 50: 24.0, 100: 12.0}


def simulated_market(n: int = 3000, seed: int = 3, freq: str = "1h", sigma: float = 0.006,
                     start: str = "2026-01-01") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(bars: ts, open, high, low, close, volume, taker_buy_volume, oi_usd; events: ts, side, usd)."""
    rng = np.random.default_rng(seed)
    bar_h = pd.Timedelta(freq) / pd.Timedelta(hours=1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, sigma, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, sigma / 2, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, sigma / 2, n)))
    volume = rng.gamma(2.0, 500.0, n)
    bursts = rng.random(n) < 0.08
    d_contracts = np.where(bursts, rng.gamma(3.0, 4000.0, n), -np.abs(rng.normal(0, 300.0, n)))
    contracts = 1e6 + np.cumsum(d_contracts)
    volume = volume + np.maximum(d_contracts, 0)
    taker = volume * np.clip(0.5 + 20 * (close - open_) / open_ + rng.normal(0, 0.03, n), 0.05, 0.95)
    ts = pd.date_range(start, periods=n, freq=freq).to_numpy("datetime64[ns]")
    levs = np.array(list(LEVERAGE_MIX))
    events = []
    for t in np.flatnonzero(d_contracts > 0):
        usd = d_contracts[t] * close[t]
        for side in ("long", "short"):
            for _ in range(4):  # four positions per side and bar, each a quarter of the USD
                lev = int(rng.choice(levs, p=list(LEVERAGE_MIX.values())))
                entry = rng.uniform(low[t], high[t])
                price = entry * (1 - 1 / lev) if side == "long" else entry * (1 + 1 / lev)
                life_bars = rng.exponential(HALF_LIVES_H[lev] / np.log(2) / bar_h)
                stop = min(n, t + 1 + int(life_bars))
                path = low[t + 1:stop] <= price if side == "long" else high[t + 1:stop] >= price
                hit = np.flatnonzero(path)
                if len(hit):
                    j = t + 1 + hit[0]
                    events.append({"ts": ts[j] + np.timedelta64(int(bar_h * 1800), "s"), "side": side, "usd": usd / 4})
    bars = pd.DataFrame({"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume,
                         "taker_buy_volume": taker, "oi_usd": contracts * close})
    return bars, pd.DataFrame(events, columns=["ts", "side", "usd"])
