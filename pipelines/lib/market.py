"""Read the bar series the level engines need from the warehouse (parameters only, no f-strings
with external values)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from pipelines.lib.normalize import INTERVAL_SECONDS  # noqa: F401 - the one table of bar lengths


def price_venue(con: duckdb.DuckDBPyConnection, symbol: str, venues: list[str], interval: str,
                start: dt.datetime, end: dt.datetime) -> str | None:
    """The first of `venues` (watchlist order) with klines for the symbol in [start, end)."""
    rows = con.execute(
        "select venue, count(*) from raw.klines where symbol = ? and interval = ? and ts >= ? and ts < ? group by venue",
        [symbol, interval, start, end],
    ).fetchall()
    present = {venue for venue, count in rows if count > 0}
    return next((v for v in venues if v in present), None)


def load_klines(con, venue: str, symbol: str, interval: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    return con.execute(
        "select ts, open, high, low, close, volume, taker_buy_volume from raw.klines "
        "where venue = ? and symbol = ? and interval = ? and ts >= ? and ts < ? order by ts",
        [venue, symbol, interval, start, end],
    ).fetch_df()


def load_open_interest(con, symbol: str, interval: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """OI of every venue for the symbol: columns venue, ts, oi_usd."""
    return con.execute(
        "select venue, ts, oi_usd from raw.open_interest where symbol = ? and interval = ? and ts >= ? and ts < ? order by venue, ts",
        [symbol, interval, start, end],
    ).fetch_df()


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
