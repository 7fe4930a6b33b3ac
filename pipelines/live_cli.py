"""`liqlevels run | backfill | collect`: the live pipeline from the command line.

- `run`: the nightly job over a range of days in one process (live sources by default).
- `backfill`: Binance's public archive (klines, 5-minute OI) into the warehouse, resumable.
- `collect`: the long-running liquidation stream collector (run it as a service).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import signal
import sys

from pipelines.lib.paths import landing_root, source_mode, warehouse_path, watchlist_path
from pipelines.lib.watchlist import DEFAULT_INTERVAL, LEVEL_INTERVALS


PARTIAL_EXIT = 3  # the run completed, but some symbol-days failed and their exports were withheld


def utc_yesterday() -> dt.date:
    """The newest complete UTC day (not the local calendar's yesterday)."""
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.cli import PreflightError, data_description, preflight
    from pipelines.launch import exit_code, launch_days

    try:
        if args.source not in ("live", "files"):
            raise PreflightError(f"source must be live or files, got {args.source!r} (LIQLEVELS_SOURCE)")
        preflight(args.start, args.end, args.symbols)
    except PreflightError as exc:
        print(f"liqlevels run: {exc}", file=sys.stderr)
        return 2
    where = data_description() if args.source == "files" else "exchange APIs + landed streams"
    from pipelines.cli import storage_note

    print(f"liqlevels run: {args.start} → {args.end}, source {args.source} ({where}), warehouse {warehouse_path()}{storage_note()}")
    http = {"http_timeout_seconds": args.http_timeout, "http_retries": args.http_retries}
    outcome = launch_days(args.start, args.end, args.symbols, log_level=args.log_level, source=args.source,
                          progress=not args.quiet, extra={"http": http})
    for step, message in outcome.failures:
        print(f"  failed: {step}: {message}", file=sys.stderr)
    if outcome.interrupted:
        print(f"Run stopped by {outcome.interrupted} ({outcome.label}; marked failed, pool slot freed).")
        return exit_code(outcome)
    print(f"Run {'succeeded' if outcome.success else 'FAILED'} ({outcome.label}).")
    failed = print_raw_summary(args.start, args.end)
    # A run whose every step succeeded but withheld some symbol-days still says so in its exit code (cron, CI).
    return exit_code(outcome) or (PARTIAL_EXIT if failed else 0)


def print_raw_summary(start: dt.date, end: dt.date) -> int:
    """Rows per raw table and venue in [start, end], plus rejects, stream gaps and notes: what the run
    brought in. Returns how many symbol-days failed."""
    import gc

    from pipelines.lib.report import asset_notes, notes_summary
    from pipelines.lib.warehouse import connect

    gc.collect()  # a failed step's DuckDB connection is closed by the garbage collector
    bounds = [dt.datetime.combine(start, dt.time()), dt.datetime.combine(end + dt.timedelta(days=1), dt.time())]
    with connect(warehouse_path()) as con:
        counts = con.execute(
            " union all ".join(f"select '{t}' as t, venue, count(*) as n from raw.{t} where ts >= ? and ts < ? group by venue"
                               for t in ("klines", "open_interest", "funding", "liquidations", "liquidation_history"))
            + " order by 1, 2", bounds * 5).fetchall()
        rejects = con.execute("select table_name, venue, count(*) from ops.rejects where day between ? and ? group by all order by all",
                              [start, end]).fetchall()
        gaps = con.execute("select venue, count(*), sum(epoch(end_ts - start_ts)) from ops.stream_gaps "
                           "where day between ? and ? group by venue order by venue", [start, end]).fetchall()
        notes = asset_notes(con, start, end)
    print(f"Rows in {start} → {end}:")
    for table, venue, n in counts:
        print(f"  raw.{table:<20} {venue:<12} {n:>9,}")
    for table, venue, n in rejects:
        print(f"  rejects {table:<17} {venue:<12} {n:>9,}  (ops.rejects)")
    for venue, n, seconds in gaps:
        print(f"  stream gaps {venue:<12} {n} ({seconds:,.0f} s without a connection)")
    lines, failed = notes_summary(notes, start, end)
    print("\n".join(lines)) if lines else None
    return failed


def cmd_backfill(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipelines.lib.exchanges.archive import backfill
    from pipelines.lib.warehouse import connect
    from pipelines.lib.watchlist import WatchlistError, load_watchlist

    if args.venue != "binance":
        print(f"liqlevels backfill: no bulk archive for {args.venue}: only Binance publishes OI history files. "
              "Bybit's REST OI history reaches back to each symbol's launch (the nightly job pages it); "
              "OKX and Hyperliquid have none.", file=sys.stderr)
        return 2
    try:
        specs = load_watchlist(watchlist_path()).select(args.symbol)
        listings = [(spec.symbol, spec.listing("binance")) for spec in specs]
    except WatchlistError as exc:
        print(f"liqlevels backfill: {exc}", file=sys.stderr)
        return 2
    total = len(listings) * len(args.datasets) * ((args.end - args.start).days + 1)
    with connect(warehouse_path()) as con, tqdm(total=total, unit="file", file=sys.stderr, disable=args.quiet) as bar:
        def progress(label: str) -> None:
            bar.set_description(label)
            bar.update(1)

        report = backfill(con, listings, args.start, args.end, tuple(args.datasets), force=args.force, progress=progress,
                          interval=args.interval)
    print(f"liqlevels backfill: {report.files} files loaded "
          f"({len(report.loaded)} days, {sum(r[3] for r in report.loaded):,} rows, {report.rejects} rejects, {report.duplicates_dropped} duplicate rows dropped), "
          f"{len(report.skipped)} already loaded, {len(report.unpublished)} not published, {len(report.failed)} failed")
    for path in report.unpublished[:10]:
        print(f"  not published: {path}")
    for message in report.failed:
        print(f"  FAILED: {message}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_collect(args: argparse.Namespace) -> int:
    from pipelines.lib.collector import collect
    from pipelines.lib.watchlist import WatchlistError, load_watchlist

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        watchlist = load_watchlist(watchlist_path())
    except WatchlistError as exc:
        print(f"liqlevels collect: {exc}", file=sys.stderr)
        return 2
    root = landing_root()
    print(f"liqlevels collect: {', '.join(args.venues)} → {root} (Ctrl-C or SIGTERM stops after a final flush)")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stats = await collect(watchlist, root, stop, venues=tuple(args.venues), flush_every=args.flush_seconds,
                              poll_hyperliquid_every=args.hyperliquid_oi_seconds)
        for venue, s in stats.items():
            print(f"  {venue}: {s.messages} messages, {s.connects} connections, {s.gaps} gaps")

    asyncio.run(main())
    return 0


def add_parsers(sub, date_type) -> None:
    yesterday = utc_yesterday()
    run = sub.add_parser(
        "run", help="Run the nightly job for a range of UTC days in one process.",
        description="Run the nightly job (ingest, levels, checks, exports) for a range of UTC days. With no network a live run "
                    "ends in bounded time: each venue is given up after --http-retries + 1 connection attempts of at most "
                    "5 s (connect timeout) plus exponential backoff (defaults: 6 x 5 s + 15 s, about 45 s), then no further "
                    "call reaches it in that run, so four venues take at most about 3 minutes. SIGTERM or Ctrl-C stop a run "
                    "within a few seconds at any point; the run is marked failed and its warehouse slot freed. Exit codes: 0 done, "
                    "1 a step failed, 2 refused before starting, 3 done but some symbol-days failed (their exports withheld; "
                    "the summary names them), 130/143 stopped by SIGINT/SIGTERM.")
    run.add_argument("--start", type=date_type, default=yesterday, help=f"first UTC day (default yesterday, UTC: {yesterday})")
    run.add_argument("--end", type=date_type, default=yesterday, help="last UTC day, inclusive (default yesterday, UTC)")
    run.add_argument("--source", choices=("live", "files"), default=source_mode(),
                     help="exchange APIs + landed streams, or the files source (default: LIQLEVELS_SOURCE, else live)")
    run.add_argument("--symbols", nargs="*", default=None, help="canonical symbols (default: the whole watchlist)")
    run.add_argument("--http-timeout", type=float, default=30.0, help="read timeout per request in seconds (default 30)")
    run.add_argument("--http-retries", type=int, default=5, help="retries per request on connect errors, 429, 5xx (default 5)")
    run.add_argument("--log-level", default="CRITICAL",
                     help="Dagster's own console log level (default CRITICAL: only liqlevels' one-line progress and errors)")
    run.add_argument("--quiet", action="store_true", help="no progress lines")
    from pipelines.cli import add_source_options

    add_source_options(run)
    run.set_defaults(func=cmd_run)

    backfill = sub.add_parser("backfill", help="Load Binance archive files (klines, 5-minute OI) for past days; resumable.")
    backfill.add_argument("--venue", default="binance", help="only binance has a bulk archive")
    backfill.add_argument("--symbol", nargs="+", required=True, help="canonical symbols, e.g. BTC ETH")
    backfill.add_argument("--start", type=date_type, required=True, help="first UTC day")
    backfill.add_argument("--end", type=date_type, required=True, help="last UTC day, inclusive")
    backfill.add_argument("--datasets", nargs="+", choices=("klines", "metrics"), default=["klines", "metrics"],
                          help="archive datasets (default both: klines at --interval and metrics = 5-minute OI)")
    backfill.add_argument("--interval", default=DEFAULT_INTERVAL, choices=LEVEL_INTERVALS,
                          help="kline interval to load (default 1h; 5m klines match the archive's 5-minute OI)")
    backfill.add_argument("--force", action="store_true", help="reload days already loaded")
    backfill.add_argument("--quiet", action="store_true", help="no progress bar")
    backfill.set_defaults(func=cmd_backfill)

    collect = sub.add_parser("collect", help="Collect liquidation streams into the landing folder until stopped.")
    collect.add_argument("--venues", nargs="+", choices=("binance", "bybit", "okx", "hyperliquid"), default=["binance", "bybit", "okx"],
                         help="hyperliquid: its trades of the watched coins (their accounts feed the position scan)")
    collect.add_argument("--flush-seconds", type=float, default=1.0, help="how often landed files are rewritten (default 1 s)")
    collect.add_argument("--hyperliquid-oi-seconds", type=float, default=0.0,
                         help="also poll Hyperliquid OI every N seconds (default off: the Dagster 5-minute schedule does it)")
    collect.set_defaults(func=cmd_collect)
