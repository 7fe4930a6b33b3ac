"""One symbol-day of objective levels: read the warm-up window (`objective_inputs`, in the asset's
process, which holds the DuckDB writer), then run every preset's engine on every venue
(`objective_compute`, pure: it also runs in a worker process). No Dagster here, so a worker imports
only what it computes with."""

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from indicators.objective import PRESETS, compute_levels, refine_fills
from pipelines.lib.ids import join_ids
from pipelines.lib.margin import ALL_VENUES, margin_tiers
from pipelines.lib.measured_day import calibrated_params, calibration_for
from pipelines.lib.market import (INTERVAL_SECONDS, IntervalMismatch, bars_with_oi, bars_with_total_oi, finer_klines, load_klines,
                                  load_open_interest, mismatch_message, price_venue)
from pipelines.lib.watchlist import AGGREGATOR_VENUES

OBJECTIVE_COLUMNS = ["as_of", "level_id", "preset", "venue", "symbol", "side", "leverage", "created_ts", "known_ts", "base_price",
                     "liq_price", "initial_notional_usd", "notional_usd", "size_class", "filled_ts", "expires_ts",
                     "status", "liq_model"]


def levels_as_of(levels: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Levels that stand at some point of `day`: active at its end, or filled/expired during it."""
    start = pd.Timestamp(day)
    end = start + pd.Timedelta(days=1)
    standing = (levels["created_ts"] < end) & (levels["filled_ts"].isna() | (levels["filled_ts"] >= start)) & (levels["expires_ts"] > start)
    return levels[standing]


def with_level_ids(levels: pd.DataFrame, day: dt.date, preset_name: str, bar: dt.timedelta) -> pd.DataFrame:
    """Level rows with their as-of day, preset, stable id and `known_ts` (the close of their bar, `created_ts` + `bar`)."""
    out = levels.astype({c: str for c in ("venue", "symbol", "side", "size_class", "status", "liq_model")})
    out["known_ts"] = pd.to_datetime(out["created_ts"]) + bar
    out.insert(0, "as_of", day)
    out.insert(1, "preset", preset_name)
    out.insert(1, "level_id", join_ids(out["preset"], out["venue"], out["symbol"],
                                       pd.to_datetime(out["created_ts"]).dt.strftime("%Y%m%dT%H%M%S"), out["side"],
                                       out["leverage"].astype(str)))
    return out[OBJECTIVE_COLUMNS]


@dataclass(frozen=True)
class ObjectiveInputs:
    """What one symbol-day's objective levels are computed from (plain frames: computed in a worker)."""

    symbol: str
    day: dt.date
    interval: str
    end: dt.datetime
    klines: pd.DataFrame
    oi: pd.DataFrame
    fine: pd.DataFrame | None
    presets: dict = field(default_factory=lambda: dict(PRESETS))  # the static presets + a fitted one when the day has a fit


def objective_inputs(con, symbol: str, venues: list[str], day: dt.date, interval: str) -> ObjectiveInputs | None:
    """The candles (of the first priced venue), every venue's OI and any finer candles over the warm-up
    before `day`; None without candles. Raises `IntervalMismatch` when the symbol has candles or OI in
    the window but none usable at `interval`."""
    longest = max(PRESETS.values(), key=lambda p: p.warmup_hours * 3600 + p.baseline_bars * INTERVAL_SECONDS[interval])
    warmup = dt.timedelta(hours=longest.warmup_hours, seconds=(longest.baseline_bars + 2) * INTERVAL_SECONDS[interval])
    start = dt.datetime.combine(day, dt.time()) - warmup
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    problem = mismatch_message(con, symbol, interval, start, end)
    if problem:
        raise IntervalMismatch(problem)
    price_from = price_venue(con, symbol, venues, interval, start, end)
    if price_from is None:
        return None
    presets = dict(PRESETS)
    fitted = calibration_for(con, symbol, day)
    if fitted is not None:
        presets["calibrated"] = calibrated_params(fitted)
    return ObjectiveInputs(symbol, day, interval, end, load_klines(con, price_from, symbol, interval, start, end),
                           load_open_interest(con, symbol, interval, start, end),
                           finer_klines(con, price_from, symbol, interval, start, end), presets)


def objective_compute(inputs: ObjectiveInputs | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(level rows of every preset and venue as of the day, the day's price bars). Pure: no warehouse."""
    if inputs is None:
        return pd.DataFrame(columns=OBJECTIVE_COLUMNS), pd.DataFrame()
    symbol, day, interval, klines, oi, fine = inputs.symbol, inputs.day, inputs.interval, inputs.klines, inputs.oi, inputs.fine
    series = {venue: bars_with_oi(klines, g) for venue, g in oi.groupby("venue")}
    series[ALL_VENUES] = bars_with_total_oi(klines, oi[~oi["venue"].isin(AGGREGATOR_VENUES)])
    frames = []
    for preset_name, params in inputs.presets.items():
        for venue, bars in series.items():
            levels = compute_levels(bars, params, venue=venue, symbol=symbol, tiers=margin_tiers(venue, symbol, day, params),
                                    as_of_end=np.datetime64(inputs.end, "ns"))
            if fine is not None:  # first touch from the finer candles (1m under 5m bars)
                levels = refine_fills(levels, fine, np.timedelta64(INTERVAL_SECONDS[interval], "s"))
            frames.append(with_level_ids(levels_as_of(levels, day), day, preset_name, dt.timedelta(seconds=INTERVAL_SECONDS[interval])))
    day_bars = klines[klines["ts"] >= pd.Timestamp(day)]
    frames = [f for f in frames if len(f)]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OBJECTIVE_COLUMNS)), day_bars
