"""One symbol-day of the measured map, read from the warehouse: snapshots of `raw.positions`, the
price at each snapshot, and the estimated levels standing at that moment. No Dagster here.

Rules chosen where the issue is silent (README "Measured positions"):
- A snapshot's time is its scan's start (`snapshot_ts`); it becomes known at the scan's end.
- The price of a snapshot is the close of the last bar that closed by the scan's start (the day's
  first open before any bar has closed), on the symbol's price venue.
- An estimated level stands at time t when it was known by then (`known_ts` ≤ t), is not filled by
  then and has not expired; it counts with its as-of notional (falling OI shrinks every standing
  level by the same factor, so a profile's shape does not depend on it).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from indicators import measured as m
from indicators.objective import FITTED_PRESETS, PRESETS, compute_levels, preset
from indicators.views import bin_width
from pipelines.lib.margin import margin_tiers
from pipelines.lib.market import INTERVAL_SECONDS, bars_with_oi, load_open_interest, price_klines

VENUE = "hyperliquid"
BIN_PCT = 0.1  # the heatmap's bin: 0.1 % of the day's first open
WINDOW_PCT = 15.0  # similarity window: ± this % of the price
COMPARED_PRESETS = ("default", "calibrated")
# Calibration: the leverages the calibrated preset spreads positions over (Hyperliquid's own range: its
# largest BTC leverage is 40x), the lifetimes it may choose from, the training span and the least
# snapshots it fits on.
CALIBRATED_LEVERAGES = FITTED_PRESETS["calibrated"].leverages
EXPIRY_GRID_HOURS = (3 * 24.0, 7 * 24.0, 14 * 24.0, 30 * 24.0)
TRAIN_DAYS = 14
MIN_SNAPSHOTS = 6


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def snapshots(con, symbol: str, start: dt.datetime, end: dt.datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scans with their coverage, positions of `symbol`) with snapshot_ts in [start, end), oldest first."""
    scans = con.execute("select * from raw.position_scans where venue = ? and snapshot_ts >= ? and snapshot_ts < ? "
                        "order by snapshot_ts", [VENUE, start, end]).fetch_df()
    positions = con.execute("select * from raw.positions where venue = ? and symbol = ? and snapshot_ts >= ? and snapshot_ts < ? "
                            "order by snapshot_ts, address", [VENUE, symbol, start, end]).fetch_df()
    return scans, positions


def price_at(bars: pd.DataFrame, bar: pd.Timedelta, moment: pd.Timestamp) -> float:
    """Close of the last bar closed by `moment`, else the first open."""
    closed = bars[bars["ts"] + bar <= moment]
    return float(closed["close"].iloc[-1]) if len(closed) else float(bars["open"].iloc[0])


def standing(levels: pd.DataFrame, moment: pd.Timestamp) -> pd.DataFrame:
    """Estimated levels standing at `moment` (known, not filled, not expired)."""
    known = levels["known_ts"] <= moment
    live = levels["filled_ts"].isna() | (levels["filled_ts"] > moment)
    return levels[known & live & (levels["expires_ts"] > moment)]


def bar_length(spec) -> pd.Timedelta:
    return pd.Timedelta(seconds=INTERVAL_SECONDS[spec.interval])


def latest_snapshot(con, symbol: str, start: dt.datetime, end: dt.datetime) -> tuple[pd.Timestamp | None, pd.DataFrame]:
    """The newest snapshot with snapshot_ts in [start, end) and the positions of `symbol` in it (empty without one)."""
    found = con.execute("select max(snapshot_ts) from raw.position_scans where venue = ? and snapshot_ts >= ? and snapshot_ts < ?",
                        [VENUE, start, end]).fetchone()[0]
    if found is None:
        return None, pd.DataFrame(columns=["address", "symbol", "side", "liq_price", "position_usd", "leverage", "margin_mode"])
    return pd.Timestamp(found), con.execute("select * from raw.positions where venue = ? and symbol = ? and snapshot_ts = ? "
                                            "order by address", [VENUE, symbol, found]).fetch_df()


def calibration_for(con, symbol: str, day: dt.date) -> dict | None:
    """The calibrated preset's fitted parameters for `day` (fitted on snapshots before it), or None."""
    row = con.execute("select leverages, weights, expiry_hours from levels.calibration where as_of = ? and symbol = ? "
                      "and status = 'fitted'", [day, symbol]).fetchone()
    if row is None:
        return None
    return {"leverages": tuple(json.loads(row[0])), "weights": tuple(json.loads(row[1])), "expiry_hours": float(row[2])}


def calibrated_params(fitted: dict):
    return preset("calibrated", leverages=fitted["leverages"], leverage_weights=fitted["weights"], expiry_hours=fitted["expiry_hours"])


def fit_calibration(con, spec, day: dt.date) -> dict:
    """The calibrated preset for `day`: leverage mix = the measured USD share per leverage over the
    training snapshots (the `TRAIN_DAYS` before `day`), lifetime = the grid value whose estimated
    Hyperliquid map is most like the measured one on those snapshots (mean cosine over sides and
    snapshots). Only snapshots before `day` are read: the preset of a day is never fitted on it."""
    end = day_start(day)
    start = end - dt.timedelta(days=TRAIN_DAYS)
    base = {"as_of": day, "symbol": spec.symbol, "venue": VENUE, "leverages": None, "weights": None, "expiry_hours": None,
            "train_start": None, "train_end": None, "train_cosine": None, "default_cosine": None}
    _, positions = snapshots(con, spec.symbol, start, end)
    taken = sorted(positions["snapshot_ts"].unique())
    if len(taken) < MIN_SNAPSHOTS:
        return {**base, "status": "not_enough_snapshots", "snapshots": len(taken),
                "note": f"{len(taken)} snapshots of {spec.symbol} in the {TRAIN_DAYS} days before {day}; the fit needs {MIN_SNAPSHOTS}"}
    longest = max(EXPIRY_GRID_HOURS)
    history = start - dt.timedelta(hours=longest, seconds=(PRESETS["default"].baseline_bars + 2) * INTERVAL_SECONDS[spec.interval])
    klines = price_klines(con, spec, history, end)
    oi = load_open_interest(con, spec.symbol, spec.interval, history, end)
    oi = oi[oi["venue"] == VENUE]
    if klines is None or oi.empty:
        return {**base, "status": "no_estimate", "snapshots": len(taken),
                "note": f"no {spec.interval} candles or {VENUE} open interest before {day}: nothing to calibrate"}
    bar = bar_length(spec)
    bars = bars_with_oi(klines, oi)
    weights = m.leverage_mix(positions, CALIBRATED_LEVERAGES)
    moments = [(pd.Timestamp(t), price_at(klines, bar, pd.Timestamp(t))) for t in taken]
    width = bin_width(float(bars["open"].iloc[-1]), BIN_PCT)
    measured = {t: m.as_levels(positions[positions["snapshot_ts"] == t]) for t, _ in moments}

    def mean_cosine(params) -> float:
        levels = compute_levels(bars, params, venue=VENUE, symbol=spec.symbol, tiers=margin_tiers(VENUE, spec.symbol, day, params),
                                as_of_end=np.datetime64(end, "ns"))
        levels["known_ts"] = levels["created_ts"] + bar
        scores = [m.similarity(standing(levels, t), measured[t], price, width, WINDOW_PCT)["cosine"] for t, price in moments]
        return float(np.nanmean(np.concatenate([s.to_numpy(float) for s in scores]))) if scores else float("nan")

    fitted = {e: mean_cosine(preset("calibrated", leverage_weights=weights, expiry_hours=e)) for e in EXPIRY_GRID_HOURS}
    best = max(fitted, key=lambda e: -np.inf if np.isnan(fitted[e]) else fitted[e])
    return {**base, "status": "fitted", "snapshots": len(taken), "leverages": json.dumps(list(CALIBRATED_LEVERAGES)),
            "weights": json.dumps([round(w, 6) for w in weights]), "expiry_hours": best,
            "train_start": pd.Timestamp(taken[0]).to_pydatetime(), "train_end": pd.Timestamp(taken[-1]).to_pydatetime(),
            "train_cosine": fitted[best], "default_cosine": mean_cosine(PRESETS["default"]),
            "note": "lifetime grid (h, mean cosine): " + ", ".join(f"{e:g}: {c:.3f}" for e, c in fitted.items())}


def last_snapshot(con, symbol: str, day: dt.date) -> pd.DataFrame:
    """Positions of `symbol` in the day's last snapshot (empty without one)."""
    return latest_snapshot(con, symbol, day_start(day), day_start(day + dt.timedelta(days=1)))[1]


def measured_heat(con, symbol: str, hours: pd.DatetimeIndex, bucket: pd.Timedelta, stale: pd.Timedelta) -> pd.DataFrame:
    """Heatmap cells of the measured map: for each bucket, the bins of the newest snapshot whose scan
    ended by the bucket's end and is at most `stale` old then; buckets without one stay empty."""
    columns = ["ts", "bin_low", "bin_high", "long_usd", "short_usd"]
    day = hours[0].date()
    taken = con.execute("select snapshot_ts, scan_end from levels.measured_snapshots where as_of = ? and symbol = ? order by snapshot_ts",
                        [day, symbol]).fetch_df()
    if taken.empty:
        return pd.DataFrame(columns=columns)
    bins = con.execute("select snapshot_ts, bin_low, bin_high, long_usd, short_usd from levels.measured where as_of = ? and symbol = ?",
                       [day, symbol]).fetch_df()
    parts = []
    for hour in hours:
        end = hour + bucket
        known = taken[(taken["scan_end"] <= end) & (taken["snapshot_ts"] >= end - stale)]
        if known.empty:
            continue
        cells = bins[bins["snapshot_ts"] == known["snapshot_ts"].iloc[-1]].drop(columns=["snapshot_ts"])
        parts.append(cells.assign(ts=hour))
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
