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

from pipelines.lib.paths import landing_root, warehouse_path, watchlist_path


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.cli import run_days

    print(f"liqlevels run: {args.start} → {args.end}, source {args.source}, warehouse {warehouse_path()}")
    result = run_days(args.start, args.end, args.symbols, log_level=args.log_level, source=args.source)
    failures = [e for e in result.all_events if e.is_step_failure]
    for event in failures:
        print(f"  failed: {event.step_key}: {event.step_failure_data.error.message.strip()}", file=sys.stderr)
    print(f"Run {'succeeded' if result.success else 'FAILED'} (run id {result.run_id}).")
    print_raw_summary(args.start, args.end)
    return 0 if result.success else 1


def print_raw_summary(start: dt.date, end: dt.date) -> None:
    """Rows per raw table and venue in [start, end], plus rejects and stream gaps: what the run brought in."""
    import gc

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
    print(f"Rows in {start} → {end}:")
    for table, venue, n in counts:
        print(f"  raw.{table:<20} {venue:<12} {n:>9,}")
    for table, venue, n in rejects:
        print(f"  rejects {table:<17} {venue:<12} {n:>9,}  (ops.rejects)")
    for venue, n, seconds in gaps:
        print(f"  stream gaps {venue:<12} {n} ({seconds:,.0f} s without a connection)")


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

        report = backfill(con, listings, args.start, args.end, tuple(args.datasets), force=args.force, progress=progress)
    print(f"liqlevels backfill: {len(report.loaded)} files loaded "
          f"({sum(r[3] for r in report.loaded):,} rows, {report.rejects} rejects, {report.duplicates_dropped} duplicate rows dropped), "
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
    run = sub.add_parser("run", help="Run the nightly job for a range of UTC days in one process.")
    run.add_argument("--start", type=date_type, default=dt.date.today() - dt.timedelta(days=1), help="first UTC day (default yesterday)")
    run.add_argument("--end", type=date_type, default=dt.date.today() - dt.timedelta(days=1), help="last UTC day, inclusive (default yesterday)")
    run.add_argument("--source", choices=("live", "files"), default="live", help="exchange APIs + landed streams (default) or the files source")
    run.add_argument("--symbols", nargs="*", default=None, help="canonical symbols (default: the whole watchlist)")
    run.add_argument("--log-level", default="INFO", help="Dagster console log level (default INFO)")
    run.set_defaults(func=cmd_run)

    backfill = sub.add_parser("backfill", help="Load Binance archive files (klines, 5-minute OI) for past days; resumable.")
    backfill.add_argument("--venue", default="binance", help="only binance has a bulk archive")
    backfill.add_argument("--symbol", nargs="+", required=True, help="canonical symbols, e.g. BTC ETH")
    backfill.add_argument("--start", type=date_type, required=True, help="first UTC day")
    backfill.add_argument("--end", type=date_type, required=True, help="last UTC day, inclusive")
    backfill.add_argument("--datasets", nargs="+", choices=("klines", "metrics"), default=["klines", "metrics"],
                          help="archive datasets (default both: 1h klines and metrics = 5-minute OI)")
    backfill.add_argument("--force", action="store_true", help="reload days already loaded")
    backfill.add_argument("--quiet", action="store_true", help="no progress bar")
    backfill.set_defaults(func=cmd_backfill)

    collect = sub.add_parser("collect", help="Collect liquidation streams into the landing folder until stopped.")
    collect.add_argument("--venues", nargs="+", choices=("binance", "bybit", "okx"), default=["binance", "bybit", "okx"])
    collect.add_argument("--flush-seconds", type=float, default=1.0, help="how often landed files are rewritten (default 1 s)")
    collect.add_argument("--hyperliquid-oi-seconds", type=float, default=0.0,
                         help="also poll Hyperliquid OI every N seconds (default off: the Dagster 5-minute schedule does it)")
    collect.set_defaults(func=cmd_collect)
