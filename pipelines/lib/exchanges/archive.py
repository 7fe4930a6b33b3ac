"""Backfill from Binance's public data archive (data.binance.vision): klines and 5-minute OI.

The REST `openInterestHist` endpoint only reaches ~30 days back; the daily `metrics` files are the
only free deep OI history. Each zip is checked against its `.CHECKSUM` sidecar (SHA-256) before
anything is parsed; a 404 means "not published (yet)", not an error. Loaded days are recorded in
`ops.archive_loads`, so an interrupted backfill resumes where it stopped. Layouts:
`../shared/reference/bulk_archives.md` §1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from pipelines.lib.exchanges.http import ExchangeError, VenueHttp
from pipelines.lib.exchanges.live import HttpSettings
from pipelines.lib.normalize import SourceFormatError, normalize
from pipelines.lib.warehouse import Partition, replace_in_transaction, replace_partition
from pipelines.lib.watchlist import DEFAULT_INTERVAL, Listing

ARCHIVE_URL = "https://data.binance.vision"
DATASETS = ("klines", "metrics")
LEDGER_KLINES_INTERVAL = "1h"  # what a plain "klines" row of ops.archive_loads means (see ledger_name)
KLINE_COLUMNS = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
                 "taker_buy_volume", "taker_buy_quote_volume", "ignore"]
METRICS_FIELDS = ("create_time", "sum_open_interest", "sum_open_interest_value")


def archive_url(env: Mapping[str, str] = os.environ) -> str:
    value = env.get("LIQLEVELS_BINANCE_ARCHIVE_URL") or ARCHIVE_URL
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"LIQLEVELS_BINANCE_ARCHIVE_URL={value!r}: expected an http(s) URL")
    return value.rstrip("/")


def archive_path(dataset: str, instrument: str, day: dt.date, interval: str = DEFAULT_INTERVAL) -> str:
    if dataset == "klines":
        return f"/data/futures/um/daily/klines/{instrument}/{interval}/{instrument}-{interval}-{day.isoformat()}.zip"
    if dataset == "metrics":
        return f"/data/futures/um/daily/metrics/{instrument}/{instrument}-metrics-{day.isoformat()}.zip"
    raise ValueError(f"unknown archive dataset {dataset!r} (expected one of {', '.join(DATASETS)})")


class ChecksumMismatch(ExchangeError):
    """The archive file does not hash to its `.CHECKSUM`: nothing from it is loaded."""


def verify(zip_bytes: bytes, checksum_text: str, path: str) -> str:
    """SHA-256 of the zip, checked against the sidecar's `<hex>  <file>.zip` line."""
    parts = checksum_text.split()
    if not parts or len(parts[0]) != 64:
        raise ChecksumMismatch("binance-archive", path + ".CHECKSUM", f"not a SHA-256 checksum line: {checksum_text[:80]!r}")
    actual = hashlib.sha256(zip_bytes).hexdigest()
    if actual != parts[0].lower():
        raise ChecksumMismatch("binance-archive", path, f"SHA-256 {actual} does not match .CHECKSUM {parts[0]}")
    return actual


def read_csv_from_zip(zip_bytes: bytes, path: str, columns: list[str]) -> pd.DataFrame:
    """The one CSV inside an archive zip, as text; a header row is detected and skipped.

    Newer kline files have a header and older ones do not: a first cell that is not a number is a header.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            names = [n for n in archive.namelist() if n.endswith(".csv")]
            if len(names) != 1:
                raise SourceFormatError(f"binance-archive {path}: expected one CSV inside, found {names}")
            text = archive.read(names[0]).decode()
    except zipfile.BadZipFile as exc:
        raise SourceFormatError(f"binance-archive {path}: not a zip file ({exc})") from exc
    first = text.split("\n", 1)[0].split(",")[0].strip()
    has_header = not first.replace(".", "", 1).isdigit()
    frame = pd.read_csv(io.StringIO(text), dtype=str, header=0 if has_header else None, keep_default_na=False)
    if not has_header:
        if frame.shape[1] != len(columns):
            raise SourceFormatError(f"binance-archive {path}: {frame.shape[1]} columns without a header, expected {len(columns)}")
        frame.columns = columns
    return frame


def kline_rows(frame: pd.DataFrame, path: str, interval: str) -> pd.DataFrame:
    missing = [c for c in ("open_time", "open", "high", "low", "close", "volume") if c not in frame.columns]
    if missing:
        raise SourceFormatError(f"binance-archive {path}: field '{missing[0]}' missing (columns: {', '.join(frame.columns)})")
    return pd.DataFrame({"ts": frame["open_time"], "interval": interval, "open": frame["open"], "high": frame["high"],
                         "low": frame["low"], "close": frame["close"], "volume": frame["volume"],
                         "quote_volume": frame.get("quote_volume"), "taker_buy_volume": frame.get("taker_buy_volume")})


def metrics_rows(frame: pd.DataFrame, path: str) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(5-minute rows, hourly rows, exact duplicates dropped) from a `metrics` file.

    `create_time` is a UTC string. Files repeat some rows; those are dropped before checks.
    The hourly row is the first sample of each hour, stamped at the hour (normally the :00 row).
    """
    for name in METRICS_FIELDS:
        if name not in frame.columns:
            raise SourceFormatError(f"binance-archive {path}: field '{name}' missing (columns: {', '.join(frame.columns)})")
    before = len(frame)
    frame = frame.drop_duplicates(subset=list(METRICS_FIELDS))
    dropped = before - len(frame)
    five = pd.DataFrame({"ts": frame["create_time"], "interval": "5m", "oi_base": frame["sum_open_interest"],
                         "oi_usd": frame["sum_open_interest_value"]})
    stamps = pd.to_datetime(five["ts"], errors="coerce", utc=True)
    hourly = five[stamps.notna()].assign(_t=stamps[stamps.notna()]).sort_values("_t")
    hourly = hourly.assign(_h=hourly["_t"].dt.floor("h")).drop_duplicates("_h")
    hourly = hourly.assign(ts=hourly["_h"].dt.strftime("%Y-%m-%d %H:%M:%S"), interval="1h").drop(columns=["_t", "_h"])
    return five, hourly, dropped


@dataclass
class BackfillReport:
    loaded: list[tuple[str, str, dt.date, int]] = field(default_factory=list)  # (dataset, symbol, day, rows)
    skipped: list[tuple[str, str, dt.date]] = field(default_factory=list)  # already loaded
    unpublished: list[str] = field(default_factory=list)  # 404
    failed: list[str] = field(default_factory=list)
    rejects: int = 0
    duplicates_dropped: int = 0


def loaded_days(con: duckdb.DuckDBPyConnection, dataset: str, symbol: str) -> set[dt.date]:
    rows = con.execute("select day from ops.archive_loads where venue = 'binance' and dataset = ? and symbol = ?",
                       [dataset, symbol]).fetchall()
    return {r[0] for r in rows}


def backfill(con: duckdb.DuckDBPyConnection, listings: list[tuple[str, Listing]], start: dt.date, end: dt.date,
             datasets: tuple[str, ...] = DATASETS, *, env: Mapping[str, str] = os.environ,
             settings: HttpSettings = HttpSettings(), force: bool = False,
             progress: Callable[[str], None] | None = None, interval: str = DEFAULT_INTERVAL) -> BackfillReport:
    """Load [start, end] (inclusive) of `datasets` for each (symbol, binance listing)."""
    http = VenueHttp("binance-archive", archive_url(env), timeout=(min(5.0, settings.timeout), settings.timeout),
                     retries=settings.retries, backoff=settings.backoff)
    report = BackfillReport()
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    try:
        for symbol, listing in listings:
            for dataset in datasets:
                done = set() if force else loaded_days(con, ledger_name(dataset, interval), symbol)
                for day in days:
                    if progress:
                        progress(f"{dataset} {symbol} {day}")
                    if day in done:
                        report.skipped.append((dataset, symbol, day))
                        continue
                    try:
                        _load_one(con, http, report, dataset, symbol, listing, day, interval)
                    except (ExchangeError, SourceFormatError) as exc:
                        report.failed.append(str(exc))
    finally:
        http.close()
    return report


def ledger_name(dataset: str, interval: str) -> str:
    """The name a loaded file is recorded under. Klines files were all hourly before the interval became
    configuration and are recorded as plain "klines"; those of another interval are another dataset."""
    return f"klines:{interval}" if dataset == "klines" and interval != LEDGER_KLINES_INTERVAL else dataset


def _load_one(con, http: VenueHttp, report: BackfillReport, dataset: str, symbol: str, listing: Listing,
              day: dt.date, interval: str) -> None:
    path = archive_path(dataset, listing.instrument, day, interval)
    zip_bytes = http.download(path)
    if zip_bytes is None:
        report.unpublished.append(path)
        return
    checksum = http.download(path + ".CHECKSUM")
    if checksum is None:
        raise ChecksumMismatch("binance-archive", path + ".CHECKSUM", "missing: the zip cannot be verified, not loaded")
    sha256 = verify(zip_bytes, checksum.decode(errors="replace"), path)
    source = f"binance-archive:{path}"
    if dataset == "klines":
        frame = read_csv_from_zip(zip_bytes, path, KLINE_COLUMNS)
        parts = [("klines", interval, kline_rows(frame, path, interval))]
    else:
        frame = read_csv_from_zip(zip_bytes, path, list(METRICS_FIELDS))
        five, hourly, dropped = metrics_rows(frame, path)
        report.duplicates_dropped += dropped
        parts = [("open_interest", "5m", five), ("open_interest", "1h", hourly)]
    batches = []
    for table, part_interval, raw in parts:
        batch = normalize(table, raw, venue="binance", symbol=symbol, source=source)
        outside = batch.rows[batch.rows["ts"].dt.date != day]
        if len(outside):
            raise SourceFormatError(f"binance-archive {path}: {len(outside)} rows outside {day} (first {outside['ts'].iloc[0]})")
        batches.append((table, part_interval, batch))
    # Every write replaces the day's rejects of its table, and the hourly OI rows are a subset of
    # the 5-minute ones: the last write carries all of the file's rejects, once each.
    rejects = pd.concat([b.rejects for _, _, b in batches]).drop_duplicates(["field", "reason", "payload"])
    rows = 0
    for i, (table, part_interval, batch) in enumerate(batches):
        last = i == len(batches) - 1
        replace_partition(con, Partition(table, "binance", symbol, day, part_interval), batch.rows,
                          rejects if last else rejects.iloc[0:0], source)
        rows += len(batch.rows)
    report.rejects += len(rejects)
    replace_in_transaction(
        con,
        deletes=[("delete from ops.archive_loads where venue = 'binance' and dataset = ? and symbol = ? and day = ?",
                  [ledger_name(dataset, interval), symbol, day])],
        inserts=[("ops.archive_loads", pd.DataFrame([{"venue": "binance", "dataset": ledger_name(dataset, interval), "symbol": symbol, "day": day,
                                                      "url": http.base_url + path, "sha256": sha256, "rows": rows,
                                                      "loaded_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}]))],
    )
    report.loaded.append((dataset, symbol, day, rows))
