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
import posixpath
import threading
import zipfile
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipelines.lib.exchanges.http import ExchangeError, VenueHttp
from pipelines.lib.exchanges.live import HttpSettings
from pipelines.lib.normalize import Normalized, SourceFormatError, normalize
from pipelines.lib.warehouse import Partition, replace_in_transaction, replace_partition, rows_per_day
from pipelines.lib.watchlist import DEFAULT_INTERVAL, Listing

ARCHIVE_URL = "https://data.binance.vision"
DATASETS = ("klines", "metrics")
LEDGER_KLINES_INTERVAL = "1h"  # what a plain "klines" row of ops.archive_loads means (see ledger_name)
KLINE_COLUMNS = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
                 "taker_buy_volume", "taker_buy_quote_volume", "ignore"]
METRICS_FIELDS = ("create_time", "sum_open_interest", "sum_open_interest_value")
KLINE_NUMBERS = ("open_time", "open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume")


def archive_url(env: Mapping[str, str] = os.environ) -> str:
    """The archive's base: data.binance.vision, a mirror over http(s), or a local copy as file:///path
    (the same tree under the folder, e.g. downloaded with Binance's own scripts)."""
    value = env.get("LIQLEVELS_BINANCE_ARCHIVE_URL") or ARCHIVE_URL
    if not value.startswith(("http://", "https://", "file:///")):
        raise ValueError(f"LIQLEVELS_BINANCE_ARCHIVE_URL={value!r}: expected an http(s) URL or file:///path of a local copy")
    return value.rstrip("/")


class LocalArchive:
    """A local copy of the archive tree, read like the server: `download(path)` gives the file's bytes
    or None when it is not there (a 404). Paths are built by this module from validated instruments,
    and must stay inside the folder."""

    def __init__(self, url: str):
        self.root = Path(url.removeprefix("file://")).resolve()
        self.base_url = url
        if not self.root.is_dir():
            raise ExchangeError("binance-archive", url, "local archive folder does not exist")

    def download(self, path: str) -> bytes | None:
        relative = posixpath.normpath(path.lstrip("/"))
        if relative.startswith("..") or posixpath.isabs(relative):  # lexical: a realpath per file costs more than reading it
            raise ExchangeError("binance-archive", path, "path leaves the local archive folder")
        try:
            with open(os.path.join(self.root, relative), "rb") as handle:
                return handle.read()
        except (FileNotFoundError, IsADirectoryError):
            return None

    def close(self) -> None:
        pass


def monthly_archive_path(dataset: str, instrument: str, month: dt.date, interval: str = DEFAULT_INTERVAL) -> str:
    """The monthly zip of `month`'s klines (metrics are published as daily files only)."""
    if dataset != "klines":
        raise ValueError(f"Binance publishes no monthly {dataset!r} files (daily only)")
    return f"/data/futures/um/monthly/klines/{instrument}/{interval}/{instrument}-{interval}-{month:%Y-%m}.zip"


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


def csv_in_zip(zip_bytes: bytes, path: str) -> bytes:
    """The one CSV inside an archive zip, as bytes."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            names = [n for n in archive.namelist() if n.endswith(".csv")]
            if len(names) != 1:
                raise SourceFormatError(f"binance-archive {path}: expected one CSV inside, found {names}")
            return archive.read(names[0])
    except zipfile.BadZipFile as exc:
        raise SourceFormatError(f"binance-archive {path}: not a zip file ({exc})") from exc


def has_header(text: bytes) -> bool:
    """Newer kline files have a header and older ones do not: a first cell that is not a number is a header."""
    first = text.split(b"\n", 1)[0].split(b",")[0].strip()
    return not first.replace(b".", b"", 1).isdigit()


def read_csv_text(text: bytes, path: str, columns: list[str], numeric: tuple[str, ...] = (),
                  wanted: tuple[str, ...] = ()) -> pd.DataFrame:
    """An archive CSV's rows; a header row is detected and skipped.

    Only `wanted` columns are parsed when given (and present). The `numeric` columns are parsed as
    float64 by the CSV reader (correctly rounded, as `float()`); a file where any of them holds
    something else is read again all as text, so normalize() names the bad value in a reject instead
    of the whole file failing.
    """
    header_row = has_header(text)

    def read(types) -> pd.DataFrame:
        # Only the columns used are parsed (when the file has them all: else all, and the caller names what is missing).
        header = text.split(b"\n", 1)[0].decode(errors="replace").strip().split(",") if header_row else columns
        used = [c for c in columns if c in numeric or c in wanted] if wanted and set(wanted) <= set(header) else None
        return pd.read_csv(io.BytesIO(text), dtype=types, header=0 if header_row else None, keep_default_na=False,
                           na_values=[""] if types is not str else None, names=None if header_row else columns,
                           usecols=used)

    if not header_row:
        width = text.split(b"\n", 1)[0].count(b",") + 1
        if width != len(columns):
            raise SourceFormatError(f"binance-archive {path}: {width} columns without a header, expected {len(columns)}")
    if numeric:
        try:
            return read({c: "float64" for c in numeric} | {c: str for c in columns if c not in numeric and (not wanted or c in wanted)})
        except (ValueError, TypeError):
            pass
    return read(str)


def read_csv_from_zip(zip_bytes: bytes, path: str, columns: list[str], numeric: tuple[str, ...] = (),
                      wanted: tuple[str, ...] = ()) -> pd.DataFrame:
    """The one CSV inside an archive zip, parsed (`read_csv_text`)."""
    return read_csv_text(csv_in_zip(zip_bytes, path), path, columns, numeric, wanted)


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
    files: int = 0  # archive files loaded (a monthly file loads a month of days)


def loaded_days(con: duckdb.DuckDBPyConnection, dataset: str, symbol: str) -> set[dt.date]:
    rows = con.execute("select day from ops.archive_loads where venue = 'binance' and dataset = ? and symbol = ?",
                       [dataset, symbol]).fetchall()
    return {r[0] for r in rows}


# Loaded files are written in slices of consecutive days, one transaction each, up to this many rows: a
# transaction costs ~8 ms whatever its size, a one-minute day is 1,440 rows. An interrupted backfill
# loses at most one unwritten slice, which the next run downloads again (the ledger is written with it).
FLUSH_ROWS = 500_000


@dataclass
class _Loaded:
    """One fetched file: the days it covers, and either its klines CSV (`text`, parsed with its slice)
    or its checked parts (table, interval, rows) and rejects (metrics)."""

    days: list[dt.date]
    url: str
    sha256: str
    source: str
    text: bytes | None = None
    parts: list[tuple[str, str, Normalized]] | None = None
    rejects: pd.DataFrame | None = None

    @property
    def size(self) -> int:
        return self.text.count(b"\n") if self.text is not None else sum(len(b.rows) for _, _, b in self.parts)


class _Slices:
    """Loaded files of one (symbol, dataset) waiting to be written as one multi-day slice."""

    def __init__(self, con, report: BackfillReport, dataset: str, symbol: str, interval: str):
        self.con, self.report, self.dataset, self.symbol, self.interval = con, report, dataset, symbol, interval
        self.pending: list[_Loaded] = []
        self.pending_rows = 0

    def add(self, loaded: _Loaded) -> None:
        if self.pending and self.pending[-1].days[-1] + dt.timedelta(days=1) != loaded.days[0]:
            self.flush()  # a gap (an unpublished or refused day): slices are contiguous
        self.pending.append(loaded)
        self.pending_rows += loaded.size
        if self.pending_rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        items, self.pending, self.pending_rows = self.pending, [], 0
        joint = self._joint(items)
        if joint is not None:  # the usual case: one parse, one normalize, one write for the slice
            self._write(items, [("klines", self.interval, joint.rows)], joint.rejects)
            return
        # Otherwise every file on its own, so each reject names its file; a refused file splits the slice
        # (its days keep what is stored).
        run: list[tuple[_Loaded, list, pd.DataFrame]] = []
        for item, checked in [(i, self._checked(i)) for i in items] + [(None, None)]:
            if checked is None:
                if run:
                    self._write([i for i, _, _ in run], [(t, iv, pd.concat([p[n][2].rows for _, p, _ in run], ignore_index=True))
                                                         for n, (t, iv, _) in enumerate(run[0][1])],
                                pd.concat([r for _, _, r in run], ignore_index=True))
                run = []
            else:
                run.append((item, *checked))

    def _joint(self, items: list[_Loaded]) -> Normalized | None:
        """The klines CSVs of a slice parsed and normalized in one call each (a call per 1,440-row file
        cost more than the rules): None unless every file has the archive's columns, numbers only, open
        times inside its own days, and no row is rejected."""
        if not items or any(i.text is None for i in items):
            return None
        bodies, counts = [], []
        for i in items:
            first, _, body = i.text.partition(b"\n")
            if has_header(i.text):
                if first.decode(errors="replace").strip().split(",") != KLINE_COLUMNS:
                    return None
            elif first.count(b",") + 1 != len(KLINE_COLUMNS):
                return None
            else:
                body = i.text
            body = body if body.endswith(b"\n") or not body else body + b"\n"
            bodies.append(body)
            counts.append(body.count(b"\n"))  # a blank line makes the totals differ: then each file alone
        try:
            frame = pd.read_csv(io.BytesIO(b"".join(bodies)), header=None, names=KLINE_COLUMNS, usecols=list(KLINE_NUMBERS),
                                dtype={c: "float64" for c in KLINE_NUMBERS}, keep_default_na=False, na_values=[""])
        except (ValueError, TypeError):
            return None
        if len(frame) != sum(counts) or 0 in counts:
            return None
        rows = kline_rows(frame, "slice", self.interval)
        # every open time a whole epoch millisecond inside its own file's days (as normalize() reads it)
        ms = rows["ts"].to_numpy()
        lo = np.repeat([dt.datetime.combine(i.days[0], dt.time(), dt.UTC).timestamp() * 1000 for i in items], counts)
        hi = np.repeat([dt.datetime.combine(i.days[-1] + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp() * 1000
                        for i in items], counts)
        if not ((ms >= np.maximum(lo, 1e11)) & (ms < hi) & (ms == np.round(ms))).all():
            return None
        batch = normalize("klines", rows, venue="binance", symbol=self.symbol, source=f"binance-archive:{self.dataset}")
        return None if len(batch.rejects) else batch

    def _checked(self, item: _Loaded) -> tuple[list, pd.DataFrame] | None:
        """One file's parts and rejects (every rule, file by file); None when it is refused (reported)."""
        if item.text is None:
            return item.parts, item.rejects
        path = item.source.removeprefix("binance-archive:")
        try:
            parsed = read_csv_text(item.text, path, KLINE_COLUMNS, numeric=KLINE_NUMBERS, wanted=KLINE_NUMBERS)
            checked = _checked(_Fetched(path, item.url, item.sha256, parsed), self.report, "klines", self.symbol,
                               item.days, self.interval)
        except SourceFormatError as exc:
            self.report.failed.append(str(exc))
            return None
        return checked.parts, checked.rejects

    def _write(self, items: list[_Loaded], parts: list[tuple[str, str, pd.DataFrame]], rejects: pd.DataFrame) -> None:
        """Rows of consecutive files as one multi-day slice per (table, interval), with their ledger rows."""
        first, days = items[0].days[0], sum(len(i.days) for i in items)
        # Every write replaces its days' rejects of its table, and the hourly OI rows are a subset of the
        # 5-minute ones: the last write carries all of the files' rejects, once each.
        per_day: dict[dt.date, int] = {}
        for n, (table, part_interval, rows) in enumerate(parts):
            replace_partition(self.con, Partition(table, "binance", self.symbol, first, part_interval, days=days), rows,
                              rejects if n == len(parts) - 1 else rejects.iloc[0:0], f"binance-archive:{self.dataset}")
            for day, count in rows_per_day(rows["ts"]).items():
                per_day[day] = per_day.get(day, 0) + count
        name = ledger_name(self.dataset, self.interval)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        ledger = pd.DataFrame([{"venue": "binance", "dataset": name, "symbol": self.symbol, "day": day, "url": i.url,
                                "sha256": i.sha256, "rows": per_day.get(day, 0), "loaded_at": now}
                               for i in items for day in i.days])
        replace_in_transaction(
            self.con,
            deletes=[("delete from ops.archive_loads where venue = 'binance' and dataset = ? and symbol = ? and day between ? and ?",
                      [name, self.symbol, first, first + dt.timedelta(days=days - 1)])],
            inserts=[("ops.archive_loads", ledger)],
        )
        self.report.rejects += len(rejects)
        self.report.files += len(items)
        self.report.loaded.extend((self.dataset, self.symbol, day, per_day.get(day, 0)) for i in items for day in i.days)


# Files are downloaded, verified and parsed this many ahead by background threads while the loader
# normalizes and writes the current one: network, SHA-256 and zlib (which release the GIL) off the main thread.
PREFETCH = 4
FETCH_THREADS = 2


def backfill(con: duckdb.DuckDBPyConnection, listings: list[tuple[str, Listing]], start: dt.date, end: dt.date,
             datasets: tuple[str, ...] = DATASETS, *, env: Mapping[str, str] = os.environ,
             settings: HttpSettings = HttpSettings(), force: bool = False,
             progress: Callable[[str], None] | None = None, interval: str = DEFAULT_INTERVAL) -> BackfillReport:
    """Load [start, end] (inclusive) of `datasets` for each (symbol, binance listing).

    Klines of a calendar month wholly inside the range and not yet loaded come from the monthly file
    (one download instead of ~30; a month not published yet, or whose file fails its checksum, falls back to its daily files).
    """
    # Each fetching thread has its own HTTP session: a requests.Session is not shared across threads.
    sessions: list[VenueHttp] = []
    local = threading.local()

    base = archive_url(env)
    report = BackfillReport()
    if base.startswith("file://"):
        try:
            LocalArchive(base)
        except ExchangeError as exc:
            report.failed.append(str(exc))
            return report

    def session() -> VenueHttp | LocalArchive:
        if not hasattr(local, "http"):
            local.http = (LocalArchive(base) if base.startswith("file://") else
                          VenueHttp("binance-archive", base, timeout=(min(5.0, settings.timeout), settings.timeout),
                                    retries=settings.retries, backoff=settings.backoff))
            sessions.append(local.http)
        return local.http

    def fetch(dataset: str, listing: Listing, unit: list[dt.date]) -> _Fetched | None:
        return _fetch(session(), dataset, listing, unit, interval)

    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    try:
        with ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="archive-fetch") as pool:
            for symbol, listing in listings:
                for dataset in datasets:
                    done = set() if force else loaded_days(con, ledger_name(dataset, interval), symbol)
                    slices = _Slices(con, report, dataset, symbol, interval)
                    waiting = deque(_units(dataset, [d for d in days if d not in done]))
                    inflight: deque = deque()

                    def submit(unit: list[dt.date], first: bool = False) -> None:
                        item = (unit, pool.submit(fetch, dataset, listing, unit))
                        inflight.appendleft(item) if first else inflight.append(item)

                    while waiting or inflight:
                        while waiting and len(inflight) < PREFETCH:
                            submit(waiting.popleft())
                        unit, future = inflight.popleft()
                        loaded = None
                        try:
                            fetched = future.result()
                            if fetched is None and len(unit) == 1:
                                report.unpublished.append(archive_path(dataset, listing.instrument, unit[0], interval))
                            loaded = _checked(fetched, report, dataset, symbol, unit, interval) if fetched else None
                        except (ExchangeError, SourceFormatError) as exc:
                            report.failed.append(str(exc))
                        if loaded is None and len(unit) > 1:  # no monthly file (yet): the month's daily files, next
                            for day in reversed(unit):
                                submit([day], first=True)
                            continue
                        slices.add(loaded) if loaded is not None else slices.flush()
                        if progress:
                            for day in unit:
                                progress(f"{dataset} {symbol} {day}")
                    slices.flush()
                    for day in days:
                        if day in done:
                            report.skipped.append((dataset, symbol, day))
                            if progress:
                                progress(f"{dataset} {symbol} {day}")
    finally:
        for http in sessions:
            http.close()
    return report


def _units(dataset: str, days: list[dt.date]) -> list[list[dt.date]]:
    """The files to ask for: a whole calendar month of klines as one unit when every day of it is wanted."""
    wanted, units, i = set(days), [], 0
    while i < len(days):
        day = days[i]
        month_end = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        month = [day + dt.timedelta(days=k) for k in range((month_end - day).days + 1)]
        if dataset == "klines" and day.day == 1 and all(d in wanted for d in month):
            units.append(month)
            i += len(month)
        else:
            units.append([day])
            i += 1
    return units


def ledger_name(dataset: str, interval: str) -> str:
    """The name a loaded file is recorded under. Klines files were all hourly before the interval became
    configuration and are recorded as plain "klines"; those of another interval are another dataset."""
    return f"klines:{interval}" if dataset == "klines" and interval != LEDGER_KLINES_INTERVAL else dataset


@dataclass(frozen=True)
class _Fetched:
    path: str
    url: str
    sha256: str
    frame: pd.DataFrame | None  # parsed (metrics), or None: klines CSV `text`, parsed with its slice
    text: bytes | None = None


def _fetch(http: VenueHttp | LocalArchive, dataset: str, listing: Listing, days: list[dt.date], interval: str) -> _Fetched | None:
    """One archive file (a day's, or a month's when `days` is a month), verified against its `.CHECKSUM`
    and parsed; None when it is not published (404). Runs in the prefetch thread: no shared state."""
    monthly = len(days) > 1
    path = (monthly_archive_path(dataset, listing.instrument, days[0], interval) if monthly
            else archive_path(dataset, listing.instrument, days[0], interval))
    zip_bytes = http.download(path)
    if zip_bytes is None:
        return None
    checksum = http.download(path + ".CHECKSUM")
    if checksum is None:
        raise ChecksumMismatch("binance-archive", path + ".CHECKSUM", "missing: the zip cannot be verified, not loaded")
    sha256 = verify(zip_bytes, checksum.decode(errors="replace"), path)
    if dataset == "klines":
        # Parsed by the loader with the other files of its slice, in one call: a parse per 1,440-row file
        # cost more than parsing itself, and in this thread it held the GIL the loader needs.
        return _Fetched(path, http.base_url + path, sha256, None, csv_in_zip(zip_bytes, path))
    else:
        frame = read_csv_from_zip(zip_bytes, path, list(METRICS_FIELDS), numeric=METRICS_FIELDS[1:])
    return _Fetched(path, http.base_url + path, sha256, frame)


def _checked(fetched: _Fetched, report: BackfillReport, dataset: str, symbol: str, days: list[dt.date],
             interval: str) -> _Loaded:
    """A fetched file's rows normalized (every rule), all inside its day or month. A klines CSV is kept
    as text: its slice parses and checks it with the others (`_Slices`)."""
    path, frame, monthly = fetched.path, fetched.frame, len(days) > 1
    source = f"binance-archive:{path}"
    if fetched.text is not None:
        return _Loaded(days, fetched.url, fetched.sha256, source, text=fetched.text)
    if dataset == "klines":
        raw_parts = [("klines", interval, kline_rows(frame, path, interval))]
    else:
        five, hourly, dropped = metrics_rows(frame, path)
        report.duplicates_dropped += dropped
        raw_parts = [("open_interest", "5m", five), ("open_interest", "1h", hourly)]
    parts = []
    lo, hi = pd.Timestamp(days[0]), pd.Timestamp(days[-1]) + pd.Timedelta(days=1)
    for table, part_interval, raw in raw_parts:
        batch = normalize(table, raw, venue="binance", symbol=symbol, source=source)
        outside = batch.rows[(batch.rows["ts"] < lo) | (batch.rows["ts"] >= hi)]
        if len(outside):
            raise SourceFormatError(f"binance-archive {path}: {len(outside)} rows outside {days[0]}"
                                    f"{' → ' + str(days[-1]) if monthly else ''} (first {outside['ts'].iloc[0]})")
        parts.append((table, part_interval, batch))
    rejects = pd.concat([b.rejects for _, _, b in parts]).drop_duplicates(["field", "reason", "payload"])
    # A row whose timestamp cannot be read still belongs to its file's day: stored (and replaced) with it.
    rejects["day"] = rejects["day"].where(rejects["day"].notna(), days[0])
    return _Loaded(days, fetched.url, fetched.sha256, source, parts=parts, rejects=rejects)
