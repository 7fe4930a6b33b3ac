"""The files source: market data a user (or the bundled demo) drops into a folder.

Layout under the root (default `data/`, override `LIQLEVELS_DATA`), one file per table, venue
and canonical symbol, CSV or Parquet:

    <root>/<table>/<venue>/<SYMBOL>.csv | .parquet

with the columns of `pipelines.lib.normalize.TABLE_FIELDS` plus `ts`:

    klines:         ts, interval, open, high, low, close, volume, [quote_volume], [taker_buy_volume]
    open_interest:  ts, interval, [oi_base], oi_usd
    funding:        ts, rate
    liquidations:   ts, side (long|short|unknown: the liquidated position), price, qty_base, usd
    liquidation_history: ts, interval, long_usd, short_usd   (aggregated per bar, e.g. Coinglass)

`ts` is UTC: ISO-8601 text, epoch milliseconds (or seconds), or a Parquet timestamp. Quantities
are in base units and USD (convert contracts with the watchlist's contract_size first).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import pandas as pd

from pipelines.lib.normalize import Normalized, SourceFormatError, normalize
from pipelines.lib.watchlist import validate_symbol, validate_venue

TABLES = ("klines", "open_interest", "funding", "liquidations", "liquidation_history")
SUFFIXES = (".parquet", ".csv")


def file_for(root: Path, table: str, venue: str, symbol: str) -> Path | None:
    """The data file of (table, venue, symbol) under `root`, or None when there is none."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    base = root / table / validate_venue(venue) / validate_symbol(symbol)
    for suffix in SUFFIXES:
        candidate = base.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def _read(path: Path, venue: str) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        # Everything as text: normalize() decides what is a number, so "12,3" or "abc" in a
        # price column becomes a reject instead of silently turning the column into NaN.
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:  # noqa: BLE001 - any reader failure is a format error of that file
        raise SourceFormatError(f"{venue} file {path}: cannot be read ({type(exc).__name__}: {exc})") from exc


@lru_cache(maxsize=4)
def _normalized_file(path: str, mtime_ns: int, size: int, table: str, venue: str, symbol: str, source: str) -> Normalized:
    # Keyed on mtime and size so an edited file is re-read. The ingest asks for one listing's days in a
    # row, so a run reads each file once with a cache this small (one file in memory, not hundreds).
    return normalize(table, _read(Path(path), venue), venue=venue, symbol=symbol, source=source)


SPAN_TABLES = ("klines", "open_interest")  # tables whose files should have rows on every day of their span


def load_day(root: Path, table: str, venue: str, symbol: str, day: dt.date) -> tuple[Normalized, str, str | None] | None:
    """Rows, rejects and a note of one day from the file of (table, venue, symbol); None if no file.

    Rejects whose timestamp could not be parsed have no day; they are returned with every day
    of that file, and the warehouse write replaces them, so they are stored exactly once. The note
    says when a candle or OI file holds no rows at all, or none on a day inside its own span.
    """
    path = file_for(root, table, venue, symbol)
    if path is None:
        return None
    source = f"files:{path.relative_to(root).as_posix()}"
    stat = path.stat()
    whole = _normalized_file(str(path), stat.st_mtime_ns, stat.st_size, table, venue, symbol, source)
    start = pd.Timestamp(day)
    end = start + pd.Timedelta(days=1)
    rows = whole.rows[(whole.rows["ts"] >= start) & (whole.rows["ts"] < end)].reset_index(drop=True)
    rejects = whole.rejects[whole.rejects["day"].isna() | (whole.rejects["day"] == day)].reset_index(drop=True)
    note = None
    if table in SPAN_TABLES and rows.empty:
        if whole.rows.empty:
            note = f"{source} holds no valid rows ({len(whole.rejects)} rejects)"
        elif whole.rows["ts"].min() < start and whole.rows["ts"].max() >= end:
            note = f"{source} has no rows on {day}, inside its span {whole.rows['ts'].min():%Y-%m-%d} → {whole.rows['ts'].max():%Y-%m-%d}"
    return Normalized(rows=rows, rejects=rejects), source, note
