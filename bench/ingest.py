"""Benchmark: one million one-minute klines into `raw.klines`, by each ingest path, against DuckDB itself.

1,000,800 synthetic one-minute BTC candles (695 days, seeded random walk) go into a fresh warehouse
(the real schema, primary key included) by:

  (a) DuckDB's own `INSERT … SELECT` from the Parquet file — the reference: no validation at all;
  (b) the files source: the Parquet file (and the same rows as CSV text) read with range pushdown,
      normalized (every rule, rejects built for failing rows only), written as one slice per run;
  (c) the Binance archive loader on local zips: the daily (and monthly) zips with `.CHECKSUM`
      sidecars in a local copy of the archive (`file://`) — checksum, unzip, parse, normalize, write,
      ledger; and the same files served by a local HTTP server on loopback (`_http`);
  (d) the live upsert path: each day normalized from text (as a REST answer arrives) and upserted.

Each is timed as the median of `--repeat` runs (fresh warehouse each) in this process and printed as
rows/s and as a ratio to (a). Targets (issue: fast paths): (b) and (c) ≥ 0.5 × (a). Every path must
store exactly the reference's rows (checked: a content hash of the table). Last lines:

    RESULT name=ingest_<path> rows=<n> seconds=<t> rows_per_s=<r> ratio_to_duckdb=<x>
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import gc
import hashlib
import http.server
import io
import logging
import shutil
import statistics
import sys
import tempfile
import threading
import time
import types
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_DAY = dt.date(2024, 1, 1)
DAYS = 695  # 695 × 1440 = 1,000,800 rows
TARGET = 0.5
ARCHIVE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                  "taker_buy_quote_volume,ignore")


def candles(days: int = DAYS, seed: int = 7) -> pd.DataFrame:
    """One-minute candles of `days` days from FIRST_DAY; prices rounded to the tick (0.1) as venues send them."""
    n = days * 1440
    rng = np.random.default_rng(seed)
    close = np.round(60_000.0 * np.exp(np.cumsum(rng.normal(0, 4e-4, n))), 1)
    open_ = np.concatenate([[60_000.0], close[:-1]])
    high = np.round(np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 2e-4, n))), 1)
    low = np.round(np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 2e-4, n))), 1)
    volume = np.round(rng.gamma(2.0, 5.0, n), 3)
    return pd.DataFrame({"ts": pd.date_range(pd.Timestamp(FIRST_DAY), periods=n, freq="1min"), "interval": "1m",
                         "open": open_, "high": high, "low": low, "close": close, "volume": volume,
                         "quote_volume": np.round(volume * close, 2), "taker_buy_volume": np.round(volume * rng.uniform(0.3, 0.7, n), 3)})


def write_archive(root: Path, frame: pd.DataFrame, monthly: bool) -> None:
    """Binance's archive layout: daily zips (and, if `monthly`, monthly zips of complete months), each
    with its `.CHECKSUM` sidecar. Kline rows as the archive writes them (ms epochs, a header row)."""
    from pipelines.lib.exchanges.archive import archive_path, monthly_archive_path

    ms = frame["ts"].to_numpy().astype("datetime64[ms]").astype("int64")
    text = pd.DataFrame({"open_time": ms, "open": frame["open"], "high": frame["high"], "low": frame["low"],
                         "close": frame["close"], "volume": frame["volume"], "close_time": ms + 59_999,
                         "quote_volume": frame["quote_volume"], "count": 100, "taker_buy_volume": frame["taker_buy_volume"],
                         "taker_buy_quote_volume": 0.0, "ignore": 0})
    day = frame["ts"].dt.date.to_numpy()
    month = frame["ts"].dt.strftime("%Y-%m").to_numpy()

    def put(path: str, part: pd.DataFrame) -> None:
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(target.name.replace(".zip", ".csv"), ARCHIVE_HEADER + "\n" + part.to_csv(index=False, header=False))
        target.write_bytes(buffer.getvalue())
        target.with_name(target.name + ".CHECKSUM").write_text(f"{hashlib.sha256(buffer.getvalue()).hexdigest()}  {target.name}\n")

    for d in sorted(set(day)):
        put(archive_path("klines", "BTCUSDT", d, "1m"), text[day == d])
    if monthly:
        last = FIRST_DAY + dt.timedelta(days=DAYS - 1)
        for m in sorted(set(month)):
            first_of = dt.date.fromisoformat(m + "-01")
            end_of = (first_of + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
            if end_of <= last:  # only complete months are published
                put(monthly_archive_path("klines", "BTCUSDT", first_of, "1m"), text[month == m])


class Served:
    """A folder on loopback HTTP (threaded), as data.binance.vision serves it."""

    def __init__(self, root: Path):
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()


def content_hash(con) -> str:
    rows = con.execute("select count(*), sum(hash(venue, symbol, ts, interval, open, high, low, close, volume, "
                       "quote_volume, taker_buy_volume)) from raw.klines").fetchone()
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def timed(setup: Callable[[], object], work: Callable[[object], None], repeat: int) -> tuple[float, str]:
    """Median seconds of `work` over `repeat` fresh warehouses, and the table's content hash."""
    times, hashes = [], set()
    for _ in range(repeat):
        state = setup()
        gc.collect()  # each run starts from a collected heap, not the previous path's garbage
        began = time.perf_counter()
        work(state)
        times.append(time.perf_counter() - began)
        hashes.add(content_hash(state.con))
        state.con.close()
    if len(hashes) != 1:
        raise SystemExit(f"runs stored different tables: {hashes}")
    return statistics.median(times), hashes.pop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--only", nargs="+", help="run only these paths (the reference always runs)")
    args = parser.parse_args()
    logging.getLogger("liqlevels.progress").propagate = False
    warnings.filterwarnings("ignore")  # Dagster's beta notices on importing the asset module

    from pipelines.defs.ingest.assets import DayNotes, ingest_files
    from pipelines.lib.exchanges import archive
    from pipelines.lib.normalize import normalize
    from pipelines.lib.warehouse import Partition, connect, upsert_partition
    from pipelines.lib.watchlist import Listing, SymbolSpec

    base = Path(tempfile.mkdtemp(prefix="liqlevels-bench-ingest-"))
    try:
        frame = candles(args.days)
        n = len(frame)
        days = [FIRST_DAY + dt.timedelta(days=i) for i in range(args.days)]
        data = base / "data"
        (data / "klines" / "binance").mkdir(parents=True)
        parquet = data / "klines" / "binance" / "BTC.parquet"
        frame.to_parquet(parquet, index=False)
        csv_data = base / "csv"
        (csv_data / "klines" / "binance").mkdir(parents=True)
        frame.assign(ts=frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(csv_data / "klines" / "binance" / "BTC.csv", index=False)
        daily_root, monthly_root = base / "vision-daily", base / "vision-monthly"
        write_archive(daily_root, frame, monthly=False)
        write_archive(monthly_root, frame, monthly=True)
        listing = Listing(venue="binance", instrument="BTCUSDT", contract_size=1.0)
        spec = SymbolSpec(symbol="BTC", name="Bitcoin", tick_size=0.1, interval="1m")
        counter = iter(range(10_000))

        def fresh():
            con = connect(base / f"w{next(counter)}.duckdb")
            return types.SimpleNamespace(con=con)

        def reference(state) -> None:
            state.con.execute("insert into raw.klines (venue, symbol, ts, interval, open, high, low, close, volume, quote_volume, "
                              "taker_buy_volume) select 'binance', 'BTC', ts, interval, open, high, low, close, volume, "
                              "quote_volume, taker_buy_volume from read_parquet(?)", [str(parquet)])

        def files(root: Path):
            def work(state) -> None:
                notes = DayNotes(types.SimpleNamespace(log=logging.getLogger("bench")), "klines")
                counts = {d: {"rows": 0, "rejects": 0} for d in days}
                ingest_files(state.con, "klines", [(spec, listing)], days, root, notes, counts)
                if sum(c["rejects"] for c in counts.values()) or any(notes.notes.values()):
                    raise SystemExit("the files source rejected or noted something on clean data")
            return work

        def archived(root: Path, over_http: bool = True):
            def work(state) -> None:
                served = Served(root) if over_http else None
                try:
                    url = served.url if served else f"file://{root}"
                    report = archive.backfill(state.con, [("BTC", listing)], days[0], days[-1], ("klines",),
                                              env={"LIQLEVELS_BINANCE_ARCHIVE_URL": url}, interval="1m")
                finally:
                    if served:
                        served.close()
                if report.failed or report.rejects or report.unpublished:
                    raise SystemExit(f"archive backfill: {report.failed[:2]} {report.rejects} rejects {report.unpublished[:2]}")
            return work

        def live(state) -> None:
            # Text per day, as a REST answer arrives, made inside the timing: a million Python strings
            # held through the other paths would slow them (the garbage collector walks them all).
            text = frame.assign(ts=frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
            for d, day_frame in text.groupby(frame["ts"].dt.date):
                batch = normalize("klines", day_frame.astype(str), venue="binance", symbol="BTC", source="binance GET /fapi/v1/klines")
                upsert_partition(state.con, Partition("klines", "binance", "BTC", d), batch.rows, batch.rejects,
                                 "binance GET /fapi/v1/klines")

        paths = [("duckdb_insert", reference), ("files_parquet", files(data)), ("files_csv", files(csv_data)),
                 ("archive_daily", archived(daily_root, over_http=False)), ("archive_monthly", archived(monthly_root, over_http=False)),
                 ("archive_daily_http", archived(daily_root)), ("archive_monthly_http", archived(monthly_root)), ("live_upsert", live)]
        if args.only:
            paths = [(name, work) for name, work in paths if name == "duckdb_insert" or name in args.only]
        results = {}
        for name, work in paths:
            seconds, digest = timed(fresh, work, args.repeat)
            results[name] = (seconds, digest)
            print(f"{name:16s} {seconds:7.2f} s  {n / seconds:>10,.0f} rows/s  hash {digest}", flush=True)
        ref_s, ref_hash = results["duckdb_insert"]
        print()
        for name, (seconds, digest) in results.items():
            if digest != ref_hash:
                raise SystemExit(f"{name} stored other rows than DuckDB's own insert ({digest} != {ref_hash})")
            ratio = ref_s / seconds
            target = (f" target>={TARGET}" + (" met" if ratio >= TARGET else " NOT met")
                      if name in ("files_parquet", "archive_daily", "archive_monthly") else "")
            print(f"RESULT name=ingest_{name} rows={n} seconds={seconds:.3f} rows_per_s={n / seconds:.0f} "
                  f"ratio_to_duckdb={ratio:.2f}{target}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
