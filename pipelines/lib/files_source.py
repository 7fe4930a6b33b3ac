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
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.lib.normalize import TABLE_FIELDS, Normalized, SourceFormatError, normalize
from pipelines.lib.watchlist import validate_symbol, validate_venue

TABLES = ("klines", "open_interest", "funding", "liquidations", "liquidation_history")
SUFFIXES = (".parquet", ".csv")
SPAN_TABLES = ("klines", "open_interest")  # tables whose files should have rows on every day of their span
# Rows are pre-selected by DuckDB with this much slack around the range: its timestamp parsing and
# normalize()'s may differ on a time-zone offset, never by days. normalize() makes the exact cut.
PUSHDOWN_SLACK = dt.timedelta(days=2)


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


_reader = threading.local()


def _cursor() -> duckdb.DuckDBPyConnection:
    # One in-memory DuckDB per thread (a cursor costs microseconds, a connection ~10 ms): it only reads files.
    if not hasattr(_reader, "con"):
        _reader.con = duckdb.connect(":memory:")
        _reader.con.execute("set TimeZone = 'UTC'")
    return _reader.con.cursor()


TIMESTAMP_TYPES = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE", "TIMESTAMP WITH TIME ZONE")
NUMBER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
                "FLOAT", "DOUBLE")


def _epoch_ms(ts_type: str) -> str:
    """SQL for the epoch milliseconds of column `ts` (NULL where DuckDB cannot read it), by the rules of
    `normalize.parse_timestamps`: a timestamp, epoch ms, or epoch s below 1e11."""
    if ts_type in TIMESTAMP_TYPES:
        return 'epoch_ms(cast("ts" as timestamptz))'
    number = "(case when abs({n}) < 1e11 then {n} * 1000 else {n} end)"
    if ts_type == "VARCHAR":
        n = 'try_cast("ts" as double)'
        return f'coalesce({number.format(n=n)}, epoch_ms(try_cast("ts" as timestamptz)))'
    if ts_type in NUMBER_TYPES or ts_type.startswith("DECIMAL"):
        n = 'cast("ts" as double)'
        return f"(case when isfinite({n}) then {number.format(n=n)} end)"
    return "cast(null as double)"  # a type no rule reads: every row goes to normalize(), which rejects it


def _in_range(ts_type: str, start: dt.datetime, end: dt.datetime) -> str:
    """SQL selecting the rows whose `ts` may fall in [start, end) with PUSHDOWN_SLACK, or that DuckDB
    cannot read. A typed timestamp compares directly (Parquet row groups outside the range are skipped
    on their statistics); text and numbers are parsed per row, in C. Only constants of ours enter the SQL."""
    lo, hi = start - PUSHDOWN_SLACK, end + PUSHDOWN_SLACK
    if ts_type in TIMESTAMP_TYPES:
        zone = "+00" if ts_type == "TIMESTAMP WITH TIME ZONE" else ""
        kind = "TIMESTAMPTZ" if zone else "TIMESTAMP"
        return f'"ts" is null or ("ts" >= {kind} \'{lo:%Y-%m-%d %H:%M:%S}{zone}\' and "ts" < {kind} \'{hi:%Y-%m-%d %H:%M:%S}{zone}\')'
    ms = _epoch_ms(ts_type)
    lo_ms, hi_ms = (int(t.replace(tzinfo=dt.UTC).timestamp() * 1000) for t in (lo, hi))
    return f"({ms}) is null or (({ms}) >= {lo_ms} and ({ms}) < {hi_ms})"


def _unreadable(venue: str, path: Path, exc: Exception) -> SourceFormatError:
    return SourceFormatError(f"{venue} file {path}: cannot be read ({type(exc).__name__}: {exc})")


def _relation(cur: duckdb.DuckDBPyConnection, path: Path, venue: str) -> duckdb.DuckDBPyRelation:
    try:
        if path.suffix == ".parquet":
            return cur.read_parquet(str(path), file_row_number=True)
        # Everything as text: normalize() decides what is a number, so "12,3" or "abc" in a
        # price column becomes a reject instead of silently turning the column into NaN.
        return cur.read_csv(str(path), header=True, all_varchar=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a format error of that file
        raise _unreadable(venue, path, exc) from exc


FILE_ROW = "__file_row"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class NonFinite(Exception):
    """The typed CSV read met a value it cannot (or should not) convert: read the file as text."""


def _read(path: Path, venue: str, start: dt.datetime, end: dt.datetime, numbers: tuple[str, ...] = ()) -> pd.DataFrame:
    """The file's rows that may fall in [start, end) (plus every row whose timestamp DuckDB cannot read),
    read by DuckDB, so the cost does not grow with the file's history: Parquet row groups outside the
    range are skipped, CSV is scanned in C.

    CSV text of the `numbers` columns is converted by DuckDB (correctly rounded, as `float()`); a value
    it cannot convert, or converts to NaN/inf, raises NonFinite, and the caller reads the file as text.
    """
    cur = _cursor()
    try:
        relation = _relation(cur, path, venue)
        # The row's place in the file (0-based), for reasons that name it: Parquet's own file_row_number
        # (pushdown still skips row groups), a CSV's scan order (DuckDB preserves insertion order).
        row = '"file_row_number"' if path.suffix == ".parquet" else "row_number() over () - 1"
        columns = [c for c in relation.columns if not (path.suffix == ".parquet" and c == "file_row_number")]
        present = [c for c in numbers if c in columns]
        # Column names are quoted identifiers of the file's own header ('"' doubled), casts only of our field names.
        relation = relation.project(", ".join([f'cast("{c}" as double) as "{c}"' if c in present else _identifier(c)
                                               for c in columns] + [f'{row} as "{FILE_ROW}"']))
        if "ts" not in relation.columns:
            return _frame(relation.limit(0))  # normalize() names the missing field
        selected = relation.filter(_in_range(str(relation.types[relation.columns.index("ts")]), start, end))
        if present and cur.execute("select count(*) from selected where "
                                   + " or ".join(f'not isfinite("{c}")' for c in present)).fetchall()[0][0]:
            raise NonFinite  # a converted "nan" or "inf": the text path names it in a reject as written
        return _frame(selected)
    except duckdb.ConversionException as exc:
        if present:
            raise NonFinite from None
        raise _unreadable(venue, path, exc) from exc
    except duckdb.Error as exc:
        raise _unreadable(venue, path, exc) from exc
    finally:
        # A read can leave DuckDB's result unfinished (DuckDB 2.0: drain before the next statement) when
        # it fails: the next read starts from a fresh connection then.
        cur.close()
        if sys.exc_info()[0] is not None:
            del _reader.con


def _span(path: Path, venue: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The first and last timestamp of the whole file (None without any readable one): only asked when
    a day of the range has no rows, so a night scans its file once."""
    cur = _cursor()
    try:
        relation = _relation(cur, path, venue)
        if "ts" not in relation.columns:
            return None
        ms = _epoch_ms(str(relation.types[relation.columns.index("ts")]))
        first, last = cur.execute(f"select min({ms}), max({ms}) from relation").fetchall()[0]  # drained (DuckDB 2.0)
    except duckdb.Error as exc:
        del _reader.con
        raise _unreadable(venue, path, exc) from exc
    finally:
        cur.close()
    return None if first is None else (pd.Timestamp(int(first), unit="ms"), pd.Timestamp(int(last), unit="ms"))


def _frame(relation: duckdb.DuckDBPyRelation) -> pd.DataFrame:
    # Through Arrow: ~6x faster than .df() for a million rows, and the same pandas types.
    return relation.to_arrow_table().to_pandas()


def _normalized(table: str, frame: pd.DataFrame, venue: str, symbol: str, source: str) -> Normalized:
    rows = frame.pop(FILE_ROW).to_numpy("int64") if FILE_ROW in frame.columns else None
    return normalize(table, frame, venue=venue, symbol=symbol, source=source, row_numbers=rows)


@dataclass(frozen=True)
class FileSlice:
    """What one file offers for a range of days: rows and rejects of the range, and a note per day."""

    batch: Normalized  # rows with ts in the range; rejects of its days plus those with no day (once)
    source: str
    notes: dict[dt.date, str] = field(default_factory=dict)

    def day(self, day: dt.date) -> Normalized:
        start = pd.Timestamp(day)
        rows = self.batch.rows
        rows = rows[(rows["ts"] >= start) & (rows["ts"] < start + pd.Timedelta(days=1))].reset_index(drop=True)
        rejects = self.batch.rejects[self.batch.rejects["day"] == day].reset_index(drop=True)
        return Normalized(rows=rows, rejects=rejects)


def load_range(root: Path, table: str, venue: str, symbol: str, first: dt.date, days: int = 1) -> FileSlice | None:
    """Rows, rejects and notes of the days [first, first + days) from the file of (table, venue, symbol);
    None if there is no file. Only the range is normalized (a night reads one day, whatever the history).

    Rejects whose timestamp could not be parsed have no day; they come with every range read from
    the file, and the warehouse write replaces them, so they are stored exactly once. A note says
    when a candle or OI file holds no valid rows, or none on a day inside its own span.
    """
    path = file_for(root, table, venue, symbol)
    if path is None:
        return None
    source = f"files:{path.relative_to(root).as_posix()}"
    start = dt.datetime.combine(first, dt.time())
    end = start + dt.timedelta(days=days)
    whole = None
    if path.suffix == ".csv":
        # Fast path: numbers converted by DuckDB. Only a file it converts entirely and whose rows all pass
        # is taken this way; anything else is read again as text, so rejects name the value as written.
        numbers = tuple(f.name for f in TABLE_FIELDS[table] if f.kind == "number")
        try:
            whole = _normalized(table, _read(path, venue, start, end, numbers), venue, symbol, source)
            if len(whole.rejects):
                whole = None
        except NonFinite:
            whole = None
    if whole is None:
        whole = _normalized(table, _read(path, venue, start, end), venue, symbol, source)
    rows = whole.rows[(whole.rows["ts"] >= start) & (whole.rows["ts"] < end)].reset_index(drop=True)
    in_range = whole.rejects["day"].map(lambda d: d is None or first <= d < first + dt.timedelta(days=days))
    rejects = whole.rejects[in_range.astype(bool)].reset_index(drop=True)
    notes: dict[dt.date, str] = {}
    if table in SPAN_TABLES:
        stored = set(rows["ts"].to_numpy().astype("datetime64[D]").tolist())
        rejected = rejects["day"].value_counts().to_dict()
        empty = [d for d in (first + dt.timedelta(days=i) for i in range(days)) if d not in stored]
        span = _span(path, venue) if empty else None
        for day in empty:
            if span is None:
                notes[day] = f"{source} holds no valid rows ({len(rejects)} rejects)"
            elif span[0] < pd.Timestamp(day) and span[1] >= pd.Timestamp(day) + pd.Timedelta(days=1) or day in rejected:
                notes[day] = (f"{source} has no rows on {day}, inside its span {span[0]:%Y-%m-%d} → {span[1]:%Y-%m-%d}"
                              + (f" ({rejected[day]} rejects that day)" if day in rejected else ""))
    return FileSlice(Normalized(rows=rows, rejects=rejects), source, notes)
