"""Objective (Leviathan-like) liquidation levels from open interest.

Recipe (anchors_indicators.md §1.3): when the activity of a bar (rising open interest, or volume /
taker delta) exceeds a multiple of its moving-average baseline, new leveraged positions are assumed
opened at the bar's base price; for every leverage tier each side gets a level at that position's
liquidation price. A level lives until price trades through it (filled) or it grows too old
(expired).

Units: prices in USD, notionals in USD, timestamps as numpy ``datetime64[ns]`` (UTC).

Rules chosen where the recipe is silent (and documented in the README):

- **Default preset = `oi_volume`** (chosen by the model leaderboard on the *training* parts of the
  bundled real windows, README "Model leaderboard"): every bar opens positions at its close, sized
  by its USD volume ** `volume_power` × clamp(1 + `oi_weight`·ΔOI⁺/OI, 1, 3) (liqmap's seed; ΔOI
  in contracts, weight 1 where OI is unknown); the preset uses power 0, so it is the placebo's
  every-bar density weighted up to 3× where OI rose. The thresholds then only classify sizes (score of
  the bar's activity against its 60-bar average; "small" during warm-up). With `calibrate_to_oi`
  (the default preset) a bar's USD is OI × its share of the weighted turnover of the last
  `expiry_hours`, so each side's standing book is about the venue's OI, not a sum of turnover
  (liqmap's calibration); no level before OI is known. The OI-jump recipe below is preset `oi_jumps`.
- **ΔOI in USD** is the change in OI *contracts* valued at the base price:
  ``(oi_usd_t / close_t − oi_usd_{t−1} / close_{t−1}) × base_t`` — so a price move alone does not
  open levels.
- **Notional of a level** = the bar's ΔOI (volume sources: the bar's USD volume or |delta|) split
  equally over the leverage tiers; in "both" mode each side carries it (every new contract has a
  long and a short holder).
- **Falling OI** closes positions pro rata: each bar whose OI falls multiplies the notional of all
  active levels by ``oi_t / oi_{t−1}`` (OI sources only).
- **Directional bias**: taker delta > 0 ⇒ only long levels, < 0 ⇒ only short; without taker data
  the candle direction (close ≥ open ⇒ longs) decides.
- **Fill**: the first later bar whose low ≤ a long level (high ≥ a short level) fills it, if that
  bar opens before the level expires. A level created on bar t can be filled from bar t+1 on.
- **First touch at a finer resolution** (`refine_fills`): where finer candles exist (1m under 5m
  bars), the fill time is the open of the first finer candle inside the filling bar that reaches
  the level; the filling bar itself (and so every status and notional) does not change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numba
import numpy as np
import pandas as pd

from indicators._crossing import first_at_or_below, push_until
from indicators.liqprice import projected_liq_price, simple_liq_price

SOURCES = ("oi", "oi+volume", "oi+cvd", "volume", "cvd", "oi_volume")
BASES = ("close", "hl2", "ohlc4")
SIDES = ["long", "short"]
SIZE_CLASSES = ["small", "medium", "large"]
STATUSES = ["active", "filled", "expired"]
MODELS = ["exchange", "simple"]


@dataclass(frozen=True)
class ObjectiveParams:
    """Inputs of the objective engine (defaults follow the open Leviathan analogues)."""

    source: str = "oi"  # oi | oi+volume | oi+cvd | volume | cvd | oi_volume
    baseline_bars: int = 60  # moving-average length of |activity|
    thresholds: tuple[float, float, float] = (1.2, 2.0, 3.0)  # small / medium / large × baseline
    sensitivity: float = 1.0  # scales the thresholds ("Reduce Sensitivity"): > 1 fewer levels
    base: str = "close"  # close | hl2 | ohlc4: the assumed entry price
    leverages: tuple[int, ...] = (10, 25, 50, 100)
    sides: str = "both"  # both | bias
    liq_model: str = "exchange"  # exchange (venue maintenance margin) | simple (base × (1 ∓ 1/L))
    expiry_hours: float = 30 * 24  # unfilled levels expire after this age
    position_notional_usd: float = 10_000.0  # assumed size of one position, for the margin tier
    oi_weight: float = 8.0  # oi_volume: k in clamp(1 + k·ΔOI⁺/OI, 1, 3) (liqmap's 8)
    volume_power: float = 1.0  # oi_volume: USD volume ** this (0: every bar the same before the OI weight)
    calibrate_to_oi: bool = False  # oi_volume: scale each bar to OI × its share of the expiry window's weighted turnover
    leverage_weights: tuple[float, ...] = ()  # share of each leverage in a bar's notional (empty: equal shares)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {self.base!r}")
        if self.sides not in ("both", "bias"):
            raise ValueError(f"sides must be 'both' or 'bias', got {self.sides!r}")
        if self.liq_model not in ("exchange", "simple"):
            raise ValueError(f"liq_model must be 'exchange' or 'simple', got {self.liq_model!r}")
        if self.baseline_bars < 1 or self.sensitivity <= 0 or self.expiry_hours <= 0:
            raise ValueError("baseline_bars >= 1, sensitivity > 0 and expiry_hours > 0 are required")
        if not (0 < self.thresholds[0] <= self.thresholds[1] <= self.thresholds[2]):
            raise ValueError(f"thresholds must be increasing and positive, got {self.thresholds}")
        if self.oi_weight < 0 or self.volume_power < 0:
            raise ValueError(f"oi_weight and volume_power must be >= 0, got {self.oi_weight}, {self.volume_power}")
        if not self.leverages or any(L <= 1 for L in self.leverages):
            raise ValueError(f"leverages must be > 1, got {self.leverages}")
        if self.leverage_weights and (len(self.leverage_weights) != len(self.leverages) or min(self.leverage_weights) < 0
                                      or sum(self.leverage_weights) <= 0):
            raise ValueError(f"leverage_weights must be one share >= 0 per leverage with a positive sum, got {self.leverage_weights}")

    @property
    def tier_shares(self) -> np.ndarray:
        """Each leverage's share of a bar's notional (sums to 1)."""
        weights = np.asarray(self.leverage_weights or [1.0] * len(self.leverages), float)
        return weights / weights.sum()

    @property
    def uses_oi(self) -> bool:
        return self.source.startswith("oi")

    @property
    def warmup_hours(self) -> float:
        """History before a day that makes its levels exactly a from-scratch run's (bars aside): the expiry,
        and a second one for the rolling turnover a calibrated level is scaled by."""
        return self.expiry_hours * (2 if self.every_bar and self.calibrate_to_oi else 1)

    @property
    def every_bar(self) -> bool:
        """oi_volume opens positions on every bar with volume; the thresholds only classify sizes."""
        return self.source == "oi_volume"


PRESETS: dict[str, ObjectiveParams] = {
    # The leaderboard's choice on the training parts of the bundled real windows (README "Model
    # leaderboard"): every bar, weighted clamp(1 + 8·ΔOI⁺/OI, 1, 3) (volume power 0: the volume itself
    # did not help), calibrated to OI, 30-day expiry. The placebo's density plus what OI says.
    "default": ObjectiveParams(source="oi_volume", oi_weight=8.0, volume_power=0.0, expiry_hours=30 * 24, calibrate_to_oi=True),
    # The Leviathan-like recipe that was the default before: positions only on OI jumps.
    "oi_jumps": ObjectiveParams(),
    # Leviathan's own tiers with its plain base × (1 ∓ 1/L) levels, for parity with the original.
    "leviathan": ObjectiveParams(leverages=(25, 50, 100), liq_model="simple"),
}
# Presets whose leverage mix and lifetime are fitted per symbol-day on measured positions (the
# `levels.calibration` table, fitted on the days before): this is their shape, the default preset's
# recipe over Hyperliquid's own leverage range (its largest BTC leverage is 40x). A day without a fit
# gets no level of the preset.
FITTED_PRESETS: dict[str, ObjectiveParams] = {
    "calibrated": ObjectiveParams(source="oi_volume", oi_weight=8.0, volume_power=0.0, expiry_hours=30 * 24, calibrate_to_oi=True,
                                  leverages=(3, 5, 10, 20, 40)),
}

# Maintenance margin per leverage tier: {leverage: (mmr, maintenance_amount)}; a leverage that is
# missing is not allowed on the venue at the assumed position size and gets no level.
MarginTiers = dict[int, tuple[float, float]]

BAR_COLUMNS = ("ts", "open", "high", "low", "close", "volume", "oi_usd", "taker_buy_volume")


@dataclass(frozen=True)
class Activity:
    """Per-bar series shared by the fast engine and the bar-by-bar reference."""

    base: np.ndarray  # assumed entry price, USD
    activity: np.ndarray  # A_t (USD)
    baseline: np.ndarray  # SMA(|A|, baseline_bars), NaN during warm-up
    notional: np.ndarray  # USD opened by the bar if it is an event (before the split over tiers)
    delta: np.ndarray  # taker buy − taker sell volume (base units), NaN when unknown
    shrink: np.ndarray  # per-bar multiplier of active notionals (≤ 1; 1 when OI did not fall)


def _sma(values: np.ndarray, n: int) -> np.ndarray:
    return pd.Series(values).rolling(n, min_periods=n).mean().to_numpy()


def compute_activity(bars: pd.DataFrame, params: ObjectiveParams) -> Activity:
    """Activity, baseline, event notional and OI shrink factor per bar (see module docstring)."""
    o, h, l, c = (bars[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close"))
    base = {"close": c, "hl2": (h + l) / 2, "ohlc4": (o + h + l + c) / 4}[params.base]
    volume = bars["volume"].to_numpy(dtype=float)
    taker = bars["taker_buy_volume"].to_numpy(dtype=float) if "taker_buy_volume" in bars else np.full(len(bars), np.nan)
    delta = 2.0 * taker - volume
    oi = bars["oi_usd"].to_numpy(dtype=float) if "oi_usd" in bars else np.full(len(bars), np.nan)
    contracts = oi / c
    d_contracts = np.diff(contracts, prepend=np.nan)
    d_oi_usd = d_contracts * base
    n = params.baseline_bars
    if params.source == "oi":
        activity = d_oi_usd
    elif params.source == "oi+volume":
        activity = d_oi_usd * volume / _sma(volume, n)
    elif params.source == "oi+cvd":
        activity = d_oi_usd * np.abs(delta) / _sma(np.abs(delta), n)
    elif params.source == "volume":
        activity = volume * base
    elif params.source == "oi_volume":
        with np.errstate(invalid="ignore", divide="ignore"):
            rise = np.maximum(d_contracts / contracts, 0.0)
        weight = np.clip(1.0 + params.oi_weight * np.nan_to_num(rise, nan=0.0), 1.0, 3.0)
        activity = (volume * base) ** params.volume_power * weight
    else:
        activity = np.abs(delta) * base
    baseline = _sma(np.abs(activity), n)
    notional = d_oi_usd if params.uses_oi and not params.every_bar else activity
    if params.every_bar and params.calibrate_to_oi:
        notional = calibrated_to_oi(activity, oi, bars["ts"].to_numpy("datetime64[ns]"), params.expiry_hours)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = contracts / np.roll(contracts, 1)
    ratio[0] = np.nan
    shrink = np.where(params.uses_oi & (ratio < 1.0), ratio, 1.0)
    return Activity(base, activity, baseline, notional, delta, shrink)


def calibrated_to_oi(activity: np.ndarray, oi_usd: np.ndarray, ts: np.ndarray, hours: float) -> np.ndarray:
    """USD of each bar's new positions: OI (USD, last known) × the bar's share of the weighted turnover of
    the `hours` up to and including it, so a side's book of standing levels is about the venue's OI
    (liqmap calibrates its book to OI the same way) instead of a sum of turnover. NaN before OI is known."""
    series = pd.Series(np.nan_to_num(activity, nan=0.0), index=pd.DatetimeIndex(ts))
    window = series.rolling(pd.Timedelta(hours=hours), closed="both").sum().to_numpy()
    oi = pd.Series(oi_usd).ffill().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(window > 0, activity * oi / window, np.nan)


def event_classes(act: Activity, params: ObjectiveParams) -> np.ndarray:
    """Per bar: -1 no event, else 0/1/2 = small/medium/large (thresholds × sensitivity)."""
    k = np.asarray(params.thresholds) * params.sensitivity
    with np.errstate(invalid="ignore"):
        score = act.activity / act.baseline
        if params.every_bar:
            fires = act.notional > 0
        else:
            fires = (score > k[0]) & (act.baseline > 0) & (act.notional > 0)
    cls = np.where(score >= k[2], 2, np.where(score >= k[1], 1, 0))
    return np.where(fires, cls, -1)


def bar_sides(act: Activity, bars: pd.DataFrame, params: ObjectiveParams) -> tuple[np.ndarray, np.ndarray]:
    """(opens_long, opens_short) per bar."""
    n = len(act.base)
    if params.sides == "both":
        return np.ones(n, bool), np.ones(n, bool)
    up_candle = bars["close"].to_numpy(float) >= bars["open"].to_numpy(float)
    longs = np.where(np.isnan(act.delta) | (act.delta == 0), up_candle, act.delta > 0)
    return longs, ~longs


def liq_model(params: ObjectiveParams, tiers: MarginTiers | None) -> str:
    """"exchange" when venue margin tiers are known and asked for, else "simple"."""
    return "simple" if params.liq_model == "simple" or tiers is None else "exchange"


def level_price(side: str, base: np.ndarray, leverage: int, params: ObjectiveParams, venue: str,
                tiers: MarginTiers | None) -> tuple[np.ndarray, str] | None:
    """Liquidation prices of `side` positions at `base` for one tier; None if the tier is not allowed."""
    if liq_model(params, tiers) == "simple":
        return simple_liq_price(side, base, leverage), "simple"
    if leverage not in tiers:
        return None
    mmr, amount = tiers[leverage]
    return projected_liq_price(venue, side, base, leverage, mmr, amount, params.position_notional_usd), "exchange"


# --- fills: first bar at or after `start` whose low ≤ price (long) / high ≥ price (short) --------

@numba.njit(cache=True)
def _side_levels(values, idx, stops, prices, shrink_cum, initial, expires, end, side_code,
                 used, out_price, out_notional, out_fill, out_status):
    """Fill, notional and status of one side's levels, written to their output slots.

    `values` are the bar lows for longs and the negated highs for shorts, so "filled" is always
    the first bar j in [idx + 1, stop) with values[j] <= the (negated for shorts) level price.
    `prices` is (events × tiers), NaN where a tier is not allowed. The search is the shared
    record-stack sweep of `indicators._crossing`: O(bars + levels × log bars).
    """
    n = values.shape[0]
    n_events, n_tiers = prices.shape
    stack = np.empty(n, dtype=np.int64)
    size = 0
    next_push = n - 1
    for m in range(n_events - 1, -1, -1):  # idx is ascending, so starts are visited descending
        start = idx[m] + 1
        if start < n:
            size, next_push = push_until(values, stack, size, next_push, start)
        for t in range(n_tiers):
            price = prices[m, t]
            if np.isnan(price):
                continue
            fill = first_at_or_below(values, stack, size, -price if side_code == 1 else price) if start < n else -1
            if fill >= stops[m]:
                fill = -1
            last_live = fill - 1 if fill >= 0 else min(stops[m], n) - 1
            slot = (m * 2 + side_code) * n_tiers + t
            used[slot] = True
            out_price[slot] = price
            out_notional[slot] = initial[m] * shrink_cum[last_live] / shrink_cum[idx[m]]
            out_fill[slot] = fill
            out_status[slot] = 1 if fill >= 0 else (2 if expires[m] <= end else 0)


def compute_levels(
    bars: pd.DataFrame,
    params: ObjectiveParams = PRESETS["default"],
    *,
    venue: str = "all",
    symbol: str = "",
    tiers: MarginTiers | None = None,
    as_of_end: np.datetime64 | None = None,
) -> pd.DataFrame:
    """All levels created in `bars`, with their state as of `as_of_end` (default: after the last bar).

    `bars`: one row per bar, sorted by `ts` (naive UTC), columns open, high, low, close, volume,
    oi_usd (NaN where unknown) and optionally taker_buy_volume. Only bars before `as_of_end`
    are used. Returns one row per level (see `LEVEL_COLUMNS`), ordered by creation bar, side
    (long first) and leverage.
    """
    ts = bars["ts"].to_numpy(dtype="datetime64[ns]")
    if as_of_end is not None:
        keep = ts < np.datetime64(as_of_end, "ns")
        bars, ts = bars[keep], ts[keep]
    n = len(bars)
    if n == 0:
        return empty_levels()
    end = np.datetime64(as_of_end, "ns") if as_of_end is not None else ts[-1] + (ts[-1] - ts[-2] if n > 1 else np.timedelta64(1, "h"))
    act = compute_activity(bars, params)
    classes = event_classes(act, params)
    longs, shorts = bar_sides(act, bars, params)
    event_idx = np.flatnonzero(classes >= 0)
    expiry = np.timedelta64(int(params.expiry_hours * 3600 * 1e9), "ns")
    shrink_cum = np.cumprod(act.shrink)
    lows, highs = bars["low"].to_numpy(float), bars["high"].to_numpy(float)
    n_tiers = len(params.leverages)
    shares = params.tier_shares
    # Output slot of (event e, side s, tier t) = (e × 2 + s) × n_tiers + t: rows come out ordered
    # by creation bar, side and leverage without a sort; unused slots are dropped at the end.
    n_events = len(event_idx)
    size = n_events * 2 * n_tiers
    used = np.zeros(size, bool)
    out_price, out_notional = np.empty(size), np.empty(size)
    out_fill, out_status = np.empty(size, np.int64), np.empty(size, np.int8)
    for side_code, (side, opens) in enumerate((("long", longs), ("short", shorts))):
        events = np.flatnonzero(opens[event_idx])
        if len(events) == 0:
            continue
        idx = event_idx[events]
        expires = ts[idx] + expiry
        stops = np.searchsorted(ts, expires, side="left")  # first bar that opens at/after expiry
        prices = np.full((n_events, n_tiers), np.nan)
        for tier, leverage in enumerate(params.leverages):
            if shares[tier] == 0:
                continue  # a leverage with no share opens no level
            priced = level_price(side, act.base[idx], leverage, params, venue, tiers)
            if priced is not None:
                prices[events, tier] = priced[0]
        full_stops = np.zeros(n_events, np.int64)
        full_stops[events] = stops
        full_expires = np.zeros(n_events, np.int64)
        full_expires[events] = expires.astype(np.int64)
        # events of the other side stay NaN in `prices` and are skipped by the kernel
        _side_levels(lows if side == "long" else -highs, event_idx, full_stops, prices, shrink_cum,
                     act.notional[event_idx] / n_tiers, full_expires, end.astype(np.int64), side_code,
                     used, out_price, out_notional, out_fill, out_status)
    if not used.any():
        return empty_levels()
    keep = slice(None) if used.all() else np.flatnonzero(used)
    keep_slots = np.arange(size)[keep]
    bar = event_idx[keep_slots // (2 * n_tiers)]
    side_codes = ((keep_slots // n_tiers) % 2).astype(np.int8)
    fill = out_fill[keep]
    filled_ts = ts[np.maximum(fill, 0)]
    filled_ts[fill < 0] = np.datetime64("NaT")
    count = len(keep_slots)
    # The kernel splits a bar's notional equally; a leverage mix rescales each tier's levels exactly
    # (notional is linear in the split), equal shares leave them bit for bit as they were.
    scale = 1.0 if not params.leverage_weights else (shares * n_tiers)[keep_slots % n_tiers]
    return pd.DataFrame({
        "venue": pd.Categorical.from_codes(np.zeros(count, np.int8), categories=[venue]),
        "symbol": pd.Categorical.from_codes(np.zeros(count, np.int8), categories=[symbol]),
        "side": pd.Categorical.from_codes(side_codes, categories=SIDES),
        "leverage": np.asarray(params.leverages, dtype=np.int64)[keep_slots % n_tiers],
        "created_ts": ts[bar],
        "base_price": act.base[bar],
        "liq_price": out_price[keep],
        "initial_notional_usd": act.notional[bar] * scale / n_tiers,
        "notional_usd": out_notional[keep] * scale,
        "size_class": pd.Categorical.from_codes(classes[bar].astype(np.int8), categories=SIZE_CLASSES),
        "filled_ts": filled_ts,
        "expires_ts": ts[bar] + expiry,
        "status": pd.Categorical.from_codes(out_status[keep], categories=STATUSES),
        "liq_model": pd.Categorical.from_codes(np.full(count, MODELS.index(liq_model(params, tiers)), np.int8), categories=MODELS),
    }, copy=False)


@numba.njit(cache=True)
def _first_touch(fine_ts, fine_low, fine_high, starts, ends, prices, longs):
    """Per level: the first fine candle in [starts, ends) (ns) that reaches its price, or -1."""
    out = np.full(prices.shape[0], -1, np.int64)
    for m in range(prices.shape[0]):
        j = np.searchsorted(fine_ts, starts[m])
        while j < fine_ts.shape[0] and fine_ts[j] < ends[m]:
            if (longs[m] and fine_low[j] <= prices[m]) or (not longs[m] and fine_high[j] >= prices[m]):
                out[m] = j
                break
            j += 1
    return out


def refine_fills(levels: pd.DataFrame, fine: pd.DataFrame, bar: np.timedelta64) -> pd.DataFrame:
    """`levels` with `filled_ts` moved to the first touch among finer candles `fine` (ts, low, high)
    inside the filling bar [filled_ts, filled_ts + bar); unchanged where no finer candle reaches it
    (a gap in the finer data). Only the time within the bar changes: never the bar, status or USD."""
    filled = levels["filled_ts"].notna().to_numpy()
    if not filled.any() or fine.empty:
        return levels
    fine_ts = fine["ts"].to_numpy("datetime64[ns]").astype(np.int64)
    starts = levels["filled_ts"].to_numpy("datetime64[ns]")[filled].astype(np.int64)
    touch = _first_touch(fine_ts, fine["low"].to_numpy(float), fine["high"].to_numpy(float), starts,
                         starts + np.timedelta64(bar, "ns").astype(np.int64), levels["liq_price"].to_numpy(float)[filled],
                         (levels["side"].astype(str) == "long").to_numpy()[filled])
    out = levels.copy()
    refined = out["filled_ts"].to_numpy("datetime64[ns]").copy()
    at = np.flatnonzero(filled)[touch >= 0]
    refined[at] = fine_ts[touch[touch >= 0]].astype("datetime64[ns]")
    out["filled_ts"] = refined
    return out


LEVEL_COLUMNS = ["venue", "symbol", "side", "leverage", "created_ts", "base_price", "liq_price",
                 "initial_notional_usd", "notional_usd", "size_class", "filled_ts", "expires_ts", "status", "liq_model"]


def empty_levels() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in LEVEL_COLUMNS})
    for c in ("created_ts", "filled_ts", "expires_ts"):
        frame[c] = frame[c].astype("datetime64[ns]")
    return frame


def preset(name: str, **overrides) -> ObjectiveParams:
    """A named preset with some fields replaced."""
    try:
        return replace({**PRESETS, **FITTED_PRESETS}[name], **overrides)
    except KeyError:
        raise ValueError(f"unknown preset {name!r}: expected one of {', '.join([*PRESETS, *FITTED_PRESETS])}") from None
