"""Behavior-based (BigBeluga-like) liquidity pools: stops resting beyond recent swing highs/lows.

Faithful to "Dynamic Liquidity HeatMap Profile [BigBeluga]" (anchors_indicators.md §2.3):

- S_t = 10-bar volume sum; nVol_t = 100 × S_t / max(S over the last N bars);
  d_t = ATR(5)/50 × nVol_t (Wilder ATR seeded with the mean of the first 5 true ranges);
  off_t = max(d over N); envelope top = max(high + off), bot = min(low − off) over N; grid of
  100 cells of step (top − bot)/100.
- A 2-bar high (high_t ≥ high_{t−1}) puts pools at every cell mid within one step of
  high_t + d_t; a 2-bar low (low_t ≤ low_{t−1}) at every cell mid within one step of low_t − d_t,
  shifted down a second time by d_t (as the original does). Each pool weighs S_t.
- A pool is swept by the first bar (its creation bar included) whose high > price (pools above)
  or low < price (pools below).

Naming (ICT convention): pools at highs are **buy-side** liquidity — buy stops of shorts, i.e.
where *short* positions get stopped/liquidated; pools at lows are **sell-side** liquidity —
where *long* positions get stopped/liquidated. BigBeluga calls them "sell" and "buy" pools.

Differences, by choice: pools can be created on every bar of the history (`create_on="all"`),
not only on the last N bars of what is loaded; an optional decay half-life weighs old pools less
in the profile. Units: prices USD, weights in volume units (base currency), times naive UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from indicators._crossing import first_at_or_below, push_until

BUY_SIDE, SELL_SIDE = "buy-side", "sell-side"  # above price (short stops) / below price (long stops)
POOL_SIDES = [BUY_SIDE, SELL_SIDE]
POOL_COLUMNS = ["venue", "symbol", "side", "created_ts", "price", "weight", "swept_ts"]


@dataclass(frozen=True)
class BehavioralParams:
    lookback: int = 300  # N: window of the volume normalisation, offset and envelope
    grid: int = 100  # R: cells pools snap to
    profile_rows: int = 50  # B: rows of the output profile
    volume_window: int = 10
    atr_length: int = 5
    create_on: str = "all"  # "all" bars, or "lookback": only the last N bars (the original)
    decay_half_life_hours: float | None = None  # profile weight halves every this many hours

    def __post_init__(self) -> None:
        if min(self.lookback, self.grid, self.profile_rows, self.volume_window, self.atr_length) < 1:
            raise ValueError("lookback, grid, profile_rows, volume_window and atr_length must be >= 1")
        if self.create_on not in ("all", "lookback"):
            raise ValueError(f"create_on must be 'all' or 'lookback', got {self.create_on!r}")
        if self.decay_half_life_hours is not None and self.decay_half_life_hours <= 0:
            raise ValueError("decay_half_life_hours must be > 0")


@dataclass(frozen=True)
class Series:
    """Per-bar rolling series shared by the fast engine and the bar-by-bar reference."""

    weight: np.ndarray  # S_t, NaN in warm-up
    displacement: np.ndarray  # d_t
    top: np.ndarray
    bottom: np.ndarray


def wilder_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, length: int) -> np.ndarray:
    """TradingView's ta.atr: RMA (α = 1/length) of the true range, seeded with the mean of the first `length` TRs."""
    prev_close = np.concatenate([[np.nan], close[:-1]])
    tr = np.fmax(high - low, np.fmax(np.abs(high - prev_close), np.abs(low - prev_close)))
    tr[0] = high[0] - low[0]
    return _rma(tr, length)


@numba.njit(cache=True)
def _rma(values, length):
    out = np.full(values.shape[0], np.nan)
    if values.shape[0] < length:
        return out
    acc = 0.0
    for i in range(length):
        acc += values[i]
    out[length - 1] = acc / length
    for i in range(length, values.shape[0]):
        out[i] = (out[i - 1] * (length - 1) + values[i]) / length
    return out


@numba.njit(cache=True)
def _rolling_max(values, n):
    """max of values[t−n+1 … t] (fewer at the start), NaN ignored unless the window is all NaN; O(len)."""
    out = np.full(values.shape[0], np.nan)
    queue = np.empty(values.shape[0], np.int64)  # indices with decreasing values
    head, tail = 0, 0
    for t in range(values.shape[0]):
        v = values[t]
        if not np.isnan(v):
            while tail > head and values[queue[tail - 1]] <= v:
                tail -= 1
            queue[tail] = t
            tail += 1
        while tail > head and queue[head] <= t - n:
            head += 1
        if tail > head:
            out[t] = values[queue[head]]
    return out


def _rolling(values: np.ndarray, n: int, how: str) -> np.ndarray:
    return _rolling_max(values, n) if how == "max" else -_rolling_max(-values, n)


@numba.njit(cache=True)
def _window_sum(values, k):
    """sum of values[t−k+1 … t], added in order inside each window (NaN before k values).

    Window-local on purpose: a running cumsum difference depends on everything before the window in
    its last bits, so the same bar would weigh differently when history is loaded from another day.
    """
    out = np.full(values.shape[0], np.nan)
    for t in range(k - 1, values.shape[0]):
        acc = 0.0
        for j in range(t - k + 1, t + 1):
            acc += values[j]
        out[t] = acc
    return out


def compute_series(bars: pd.DataFrame, params: BehavioralParams) -> Series:
    high, low, close, volume = (bars[c].to_numpy(float) for c in ("high", "low", "close", "volume"))
    n = params.lookback
    weight = _window_sum(volume, params.volume_window)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_vol = 100.0 * weight / _rolling(weight, n, "max")
    displacement = wilder_atr(high, low, close, params.atr_length) / 50.0 * n_vol
    offset = _rolling(displacement, n, "max")
    return Series(weight, displacement, _rolling(high + offset, n, "max"), _rolling(low - offset, n, "min"))


@numba.njit(cache=True)
def _cells_near(candidate, bottom, step, grid, out):
    """Indices i of cell mids bottom + step × (i + ½) with |candidate − mid| ≤ step; returns count."""
    centre = int(np.floor((candidate - bottom) / step))
    count = 0
    for i in range(centre - 2, centre + 3):
        if 0 <= i < grid:
            mid = bottom + step * (i + 0.5)
            if abs(candidate - mid) <= step:
                out[count] = i
                count += 1
    return count


@numba.njit(cache=True)
def _create_pools(high, low, weight, displacement, top, bottom, first_bar, grid):
    """(bar, side 0 = buy-side/1 = sell-side, price, weight) of every pool, in creation order."""
    n = high.shape[0]
    cap = 8 * n + 8
    bars = np.empty(cap, np.int64)
    sides = np.empty(cap, np.int8)
    prices = np.empty(cap)
    weights = np.empty(cap)
    cells = np.empty(5, np.int64)
    count = 0
    for t in range(max(first_bar, 1), n):
        s, d = weight[t], displacement[t]
        if np.isnan(s) or np.isnan(d) or not top[t] > bottom[t]:
            continue
        step = (top[t] - bottom[t]) / grid
        if high[t] >= high[t - 1]:
            k = _cells_near(high[t] + d, bottom[t], step, grid, cells)
            for c in range(k):
                bars[count], sides[count], prices[count], weights[count] = t, 0, bottom[t] + step * (cells[c] + 0.5), s
                count += 1
        if low[t] <= low[t - 1]:
            k = _cells_near(low[t] - d, bottom[t], step, grid, cells)
            for c in range(k):
                bars[count], sides[count], prices[count], weights[count] = t, 1, bottom[t] + step * (cells[c] + 0.5) - d, s
                count += 1
    return bars[:count], sides[:count], prices[:count], weights[:count]


@numba.njit(cache=True)
def _sweeps(high, low, bars, sides, prices):
    """Bar that sweeps each pool (creation bar included): high > price above, low < price below."""
    n = high.shape[0]
    neg_high = -high
    out = np.full(bars.shape[0], -1, np.int64)
    stacks = (np.empty(n, np.int64), np.empty(n, np.int64))
    size_above, next_above, size_below, next_below = 0, n - 1, 0, n - 1
    for m in range(bars.shape[0] - 1, -1, -1):  # pools are in creation order: starts descending
        if sides[m] == 0:  # first j >= bar with -high_j <= just below -price, i.e. high_j > price
            size_above, next_above = push_until(neg_high, stacks[0], size_above, next_above, bars[m])
            out[m] = first_at_or_below(neg_high, stacks[0], size_above, np.nextafter(-prices[m], -np.inf))
        else:  # first j >= bar with low_j < price
            size_below, next_below = push_until(low, stacks[1], size_below, next_below, bars[m])
            out[m] = first_at_or_below(low, stacks[1], size_below, np.nextafter(prices[m], -np.inf))
    return out


def compute_pools(bars: pd.DataFrame, params: BehavioralParams = BehavioralParams(), *, venue: str = "", symbol: str = "") -> pd.DataFrame:
    """Every pool created in `bars` (sorted by ts), with the bar that swept it (NaT while standing)."""
    n = len(bars)
    if n < 2:
        return empty_pools()
    ts = bars["ts"].to_numpy("datetime64[ns]")
    high, low = bars["high"].to_numpy(float), bars["low"].to_numpy(float)
    series = compute_series(bars, params)
    first_bar = 0 if params.create_on == "all" else max(0, n - params.lookback)
    bar, side, price, weight = _create_pools(high, low, series.weight, series.displacement, series.top, series.bottom,
                                             first_bar, params.grid)
    swept = _sweeps(high, low, bar, side, price)
    swept_ts = ts[np.maximum(swept, 0)]
    swept_ts[swept < 0] = np.datetime64("NaT")
    count = len(bar)
    return pd.DataFrame({
        "venue": pd.Categorical.from_codes(np.zeros(count, np.int8), categories=[venue]),
        "symbol": pd.Categorical.from_codes(np.zeros(count, np.int8), categories=[symbol]),
        "side": pd.Categorical.from_codes(side, categories=POOL_SIDES),
        "created_ts": ts[bar],
        "price": price,
        "weight": weight,
        "swept_ts": swept_ts,
    }, copy=False)


# Bars before a day that make its series exactly what the whole history gives: the envelope needs
# the offset's 300-bar max of displacements that each need a 300-bar volume max (2 × lookback), the
# 10-bar volume sum and the ATR seed; Wilder's ATR has exponential memory ((1 − 1/5)^k), and 400
# more bars shrink any seed difference below 1e-38 of it, far under double precision, so the
# rounded values coincide (tests compare bit for bit).
RMA_SETTLE_BARS = 400


def warmup_bars(params: BehavioralParams) -> int:
    """Bars to load before a day so that pools created on it equal a from-scratch run."""
    return 2 * params.lookback + params.volume_window + params.atr_length + RMA_SETTLE_BARS


def pools_for_day(bars: pd.DataFrame, standing: pd.DataFrame, day_start, params: BehavioralParams = BehavioralParams(), *,
                  venue: str = "", symbol: str = "") -> pd.DataFrame:
    """Every pool standing during the day that starts at `day_start`, incrementally.

    `bars`: at least `warmup_bars(params)` bars before `day_start` (fewer only at the start of the
    data) and the day's bars. `standing`: the pools standing at `day_start` (unswept pools of the
    day before, POOL_COLUMNS). Returns the standing pools with their sweep during the day, then the
    pools created on the day — the same rows as `compute_pools` on the whole history restricted to
    the day (`pools standing during the day`), at a cost of (day + warm-up) bars + standing pools.
    """
    start = np.datetime64(pd.Timestamp(day_start), "ns")
    ts = bars["ts"].to_numpy("datetime64[ns]")
    day = ts >= start
    new = compute_pools(bars, params, venue=venue, symbol=symbol)
    new = new[new["created_ts"].to_numpy("datetime64[ns]") >= start]
    carried = standing.loc[:, [c for c in POOL_COLUMNS if c != "swept_ts"]].copy()
    # The standing pools' sweeps during the day: the same kernel, every pool starting at the day's first bar.
    sides = np.where(carried["side"].astype(str).to_numpy() == BUY_SIDE, 0, 1).astype(np.int8)
    swept = _sweeps(bars["high"].to_numpy(float)[day], bars["low"].to_numpy(float)[day], np.zeros(len(carried), np.int64),
                    sides, carried["price"].to_numpy(float))
    swept_ts = np.full(len(carried), np.datetime64("NaT"), "datetime64[ns]")
    swept_ts[swept >= 0] = ts[day][swept[swept >= 0]]
    carried["swept_ts"] = swept_ts
    carried["created_ts"] = carried["created_ts"].astype("datetime64[ns]")
    carried["venue"], carried["symbol"] = venue, symbol
    out = pd.concat([carried.astype({"venue": str, "symbol": str, "side": str}),
                     new.astype({"venue": str, "symbol": str, "side": str})], ignore_index=True)
    return out.loc[:, POOL_COLUMNS].astype({"price": float, "weight": float})


def empty_pools() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in POOL_COLUMNS})
    for c in ("created_ts", "swept_ts"):
        frame[c] = frame[c].astype("datetime64[ns]")
    return frame.astype({"price": float, "weight": float})


def standing_pools(pools: pd.DataFrame, as_of_end) -> pd.DataFrame:
    """Pools created before `as_of_end` and not swept before it."""
    end = pd.Timestamp(as_of_end)
    return pools[(pools["created_ts"] < end) & (pools["swept_ts"].isna() | (pools["swept_ts"] >= end))]


def profile(pools: pd.DataFrame, bars: pd.DataFrame, params: BehavioralParams = BehavioralParams()) -> pd.DataFrame:
    """The 50-row profile of the standing pools on the last bar's envelope, with its point of control.

    Row j spans [bot + j·P, bot + (j+1)·P), P = (top − bot)/B; its weight is the sum of the weights
    of the pools within P of its mid (strict), each decayed by its age at the last bar when a
    half-life is set. Side: 'sell-side' below the last close, 'buy-side' above; share = W / max W.
    """
    series = compute_series(bars, params)
    top, bottom = series.top[-1], series.bottom[-1]
    close, last_ts = float(bars["close"].iloc[-1]), bars["ts"].iloc[-1]
    step = (top - bottom) / params.profile_rows
    lower = bottom + step * np.arange(params.profile_rows)
    mid = lower + step / 2
    standing = standing_pools(pools, last_ts + pd.Timedelta(microseconds=1))
    weights = standing["weight"].to_numpy(float)
    if params.decay_half_life_hours:
        age_h = (pd.Timestamp(last_ts) - standing["created_ts"]).dt.total_seconds().to_numpy() / 3600
        weights = weights * 0.5 ** (age_h / params.decay_half_life_hours)
    near = np.abs(standing["price"].to_numpy(float)[None, :] - mid[:, None]) < step
    row_weight = (near * weights[None, :]).sum(axis=1)
    peak = row_weight.max() if len(row_weight) else 0.0
    return pd.DataFrame({
        "row": np.arange(params.profile_rows), "lower": lower, "upper": lower + step, "mid": mid,
        "side": np.where(mid > close, BUY_SIDE, SELL_SIDE), "weight": row_weight,
        "share": row_weight / peak if peak > 0 else 0.0, "is_poc": (row_weight == peak) & (peak > 0),
    })
