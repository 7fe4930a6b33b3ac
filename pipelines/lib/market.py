"""Read the bar series the level engines need from the warehouse (parameters only, no f-strings
with external values)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from pipelines.lib.normalize import INTERVAL_SECONDS  # noqa: F401 - the one table of bar lengths


class IntervalMismatch(ValueError):
    """A symbol has raw rows, but none the engine can use at its configured interval."""


def stored_intervals(con, table: str, symbol: str, start: dt.datetime, end: dt.datetime) -> dict[str, list[str]]:
    """{venue: intervals stored for the symbol in [start, end)} of raw.klines or raw.open_interest."""
    if table not in ("klines", "open_interest"):
        raise ValueError(f"no intervals in raw.{table}")
    rows = con.execute(f"select venue, list(distinct interval) from raw.{table} where symbol = ? and ts >= ? and ts < ? group by venue",
                       [symbol, start, end]).fetchall()
    return {venue: sorted(found, key=INTERVAL_SECONDS.get) for venue, found in rows}


def finer_source(found: list[str], interval: str) -> str | None:
    """The stored interval bars of `interval` are built from: itself, else the coarsest finer one that divides it."""
    if interval in found:
        return interval
    target = INTERVAL_SECONDS[interval]
    finer = [i for i in found if INTERVAL_SECONDS[i] < target and target % INTERVAL_SECONDS[i] == 0]
    return max(finer, key=INTERVAL_SECONDS.get) if finer else None


def price_venue(con: duckdb.DuckDBPyConnection, symbol: str, venues: list[str], interval: str,
                start: dt.datetime, end: dt.datetime) -> str | None:
    """The first of `venues` (watchlist order) with klines for the symbol in [start, end) at `interval`
    (or finer, to be bucketed up to it)."""
    found = stored_intervals(con, "klines", symbol, start, end)
    return next((v for v in venues if v in found and finer_source(found[v], interval)), None)


def price_klines(con: duckdb.DuckDBPyConnection, spec, start: dt.datetime, end: dt.datetime) -> pd.DataFrame | None:
    """The symbol's `spec.interval` bars in [start, end) from its price venue (`price_venue`), or None without candles."""
    venue = price_venue(con, spec.symbol, list(spec.listings), spec.interval, start, end)
    return load_klines(con, venue, spec.symbol, spec.interval, start, end) if venue else None


def mismatch_message(con, symbol: str, interval: str, start: dt.datetime, end: dt.datetime, with_oi: bool = True) -> str | None:
    """Why a symbol with raw rows in [start, end) has no bars (or, `with_oi`, no OI) the engine can use at
    `interval`; None if it has."""
    klines = stored_intervals(con, "klines", symbol, start, end)
    if klines and not any(finer_source(found, interval) for found in klines.values()):
        found = "; ".join(f"{venue} {', '.join(i)}" for venue, i in sorted(klines.items()))
        return (f"{symbol}: klines are stored at other intervals ({found}) than the configured {interval}, and none is finer "
                f"and divides it: set interval in the watchlist or load {interval} candles")
    oi = stored_intervals(con, "open_interest", symbol, start, end) if with_oi else {}
    usable = {v: i for v, i in oi.items() if finer_source(i, interval)}
    if oi and not usable:
        found = "; ".join(f"{venue} {', '.join(i)}" for venue, i in sorted(oi.items()))
        return (f"{symbol}: open interest is stored at {found}, coarser than the configured {interval} bars (the engine "
                f"needs OI at {interval} or finer): set interval in the watchlist to one of them or load finer OI")
    return None


def load_klines(con, venue: str, symbol: str, interval: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Bars of `interval`: stored ones, else built in DuckDB from the coarsest finer stored interval
    (`time_bucket`; only complete buckets, so a half-filled last bar is never taken for a closed one)."""
    found = stored_intervals(con, "klines", symbol, start, end).get(venue, [])
    source = finer_source(found, interval) or interval
    if source == interval:
        return con.execute(
            "select ts, open, high, low, close, volume, taker_buy_volume from raw.klines "
            "where venue = ? and symbol = ? and interval = ? and ts >= ? and ts < ? order by ts",
            [venue, symbol, interval, start, end],
        ).fetch_df()
    seconds, parts = INTERVAL_SECONDS[interval], INTERVAL_SECONDS[interval] // INTERVAL_SECONDS[source]
    return con.execute(
        "select time_bucket(to_seconds(?), ts) as ts, arg_min(open, ts) as open, max(high) as high, min(low) as low, "
        "arg_max(close, ts) as close, sum(volume) as volume, sum(taker_buy_volume) as taker_buy_volume from raw.klines "
        "where venue = ? and symbol = ? and interval = ? and ts >= ? and ts < ? group by 1 having count(*) = ? order by 1",
        [seconds, venue, symbol, source, start, end, parts],
    ).fetch_df()


def finer_klines(con, venue: str, symbol: str, interval: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame | None:
    """The finest stored candles of `venue` finer than `interval` (ts, low, high), to time fills; None if none."""
    found = stored_intervals(con, "klines", symbol, start, end).get(venue, [])
    finer = [i for i in found if INTERVAL_SECONDS[i] < INTERVAL_SECONDS[interval]]
    if not finer:
        return None
    finest = min(finer, key=INTERVAL_SECONDS.get)
    fine = con.execute("select ts, low, high from raw.klines where venue = ? and symbol = ? and interval = ? and ts >= ? and ts < ? "
                       "order by ts", [venue, symbol, finest, start, end]).fetch_df()
    fine["ts"] = fine["ts"].astype("datetime64[ns]")
    return fine


def load_open_interest(con, symbol: str, interval: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """OI of every venue for the symbol at `interval`: columns venue, ts, oi_usd. A venue without OI at
    that interval contributes its finer OI sampled at each bar's open (the `ts % interval = 0` rows),
    the same convention as the archive's hourly OI."""
    frames = []
    for venue, found in stored_intervals(con, "open_interest", symbol, start, end).items():
        source = finer_source(found, interval)
        if source is None:
            continue
        frames.append(con.execute(
            "select venue, ts, oi_usd from raw.open_interest where venue = ? and symbol = ? and interval = ? and ts >= ? and ts < ? "
            "and epoch(ts)::bigint % ? = 0 order by ts", [venue, symbol, source, start, end, INTERVAL_SECONDS[interval]]).fetch_df())
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({"venue": pd.Series(dtype=str), "ts": pd.Series(dtype="datetime64[us]"), "oi_usd": pd.Series(dtype=float)})
    return pd.concat(frames, ignore_index=True).sort_values(["venue", "ts"], kind="stable").reset_index(drop=True)


def bars_with_oi(klines: pd.DataFrame, oi: pd.DataFrame) -> pd.DataFrame:
    """Klines with `oi_usd` of one venue joined on the bar timestamp (NaN where OI is missing)."""
    bars = klines.copy()
    bars["ts"] = bars["ts"].astype("datetime64[ns]")
    series = oi.set_index(oi["ts"].astype("datetime64[ns]"))["oi_usd"]
    bars["oi_usd"] = bars["ts"].map(series).astype(float)
    return bars


def bars_with_total_oi(klines: pd.DataFrame, oi: pd.DataFrame) -> pd.DataFrame:
    """Klines with the OI of all venues summed. The total moves by each venue's own change in
    contracts, counted only where that venue reports both bars, so a venue whose series starts or
    pauses inside the window does not look like positions opening or closing."""
    bars = klines.copy()
    bars["ts"] = bars["ts"].astype("datetime64[ns]")
    close = bars["close"].to_numpy(float)
    bars["oi_usd"] = np.nan
    if oi.empty:
        return bars
    per_venue = np.vstack([bars_with_oi(klines, g)["oi_usd"].to_numpy(float) / close for _, g in oi.groupby("venue")])
    known_bars = np.flatnonzero((~np.isnan(per_venue)).any(axis=0))
    if len(known_bars) == 0:
        return bars
    first = known_bars[0]
    change = np.nansum(np.diff(per_venue, axis=1, prepend=np.nan), axis=0)
    contracts = np.full(len(bars), np.nan)
    contracts[first:] = np.nansum(per_venue[:, first]) + np.cumsum(change[first:])
    bars["oi_usd"] = contracts * close
    return bars
