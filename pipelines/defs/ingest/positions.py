"""Measured positions: the scan (its own job and schedules) and `raw.positions` (the nightly day's scans)."""

import datetime as dt
import os
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from pipelines.defs.ingest.assets import INGEST_RETRY, DayNotes
from pipelines.defs.partitions import partition_days, symbol_day_partitions
from pipelines.defs.resources import DUCKDB_POOL, MarketSourceResource, WatchlistResource, warehouse
from pipelines.defs.symbol_days import add_partition_metadata, number_metadata
from pipelines.lib.normalize import SourceFormatError
from pipelines.lib.positions.scan_files import SCAN_TABLE_COLUMNS, ScanRead, day_scans, read_scan
from pipelines.lib.positions.scanner import VENUE, leaderboard_addresses, make_scanner, scanned_addresses, trade_addresses
from pipelines.lib.progress import report
from pipelines.lib.warehouse import replace_in_transaction


class PositionScanConfig(dg.Config):
    """`full`: every known address (leaderboard, trade stream users, earlier scans); `hot`: the holders
    of the watched coins in the newest full scan of the last `lookback_days`."""

    kind: str = "hot"
    lookback_days: int = 2


def watched_coins(watchlist: WatchlistResource, context=None) -> dict[str, str]:
    """{Hyperliquid coin: canonical symbol} of the watchlist (of the run's partition symbols with `context`)."""
    listings = watchlist.partition_listings(context) if context is not None else watchlist.selected()
    return {listing.instrument: spec.symbol for spec, listing in listings if listing.venue == VENUE}


@dg.asset(
    key=["landing", "hyperliquid_positions_scan"],
    group_name="landing",  # not part of the nightly day: its own job on its own schedules
    kinds={"hyperliquid", "parquet"},
)
def hyperliquid_positions_scan(context: dg.AssetExecutionContext, config: PositionScanConfig,
                               market_source: MarketSourceResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    """One scan of Hyperliquid accounts' `clearinghouseState` (each position's exchange-computed
    liquidation price), written as one file under <landing>/positions/hyperliquid/<day>/. Resumable:
    a run cut short is continued by the next run of the same kind. README "Measured positions"."""
    if config.kind not in ("full", "hot"):
        raise dg.Failure(f"hyperliquid_positions_scan: kind must be 'full' or 'hot', got {config.kind!r}", allow_retries=False)
    root = Path(market_source.landing_root)
    scanner, stats = make_scanner(root, os.environ, market_source.http_timeout_seconds)
    today = dt.datetime.now(dt.UTC).date()
    days = [today - dt.timedelta(days=n) for n in range(config.lookback_days + 1)]
    coins = set(watched_coins(watchlist))
    if config.kind == "full":
        addresses = set(scanned_addresses(root, days)) | set(trade_addresses(root, days))
        try:
            addresses |= set(leaderboard_addresses(stats))
        except Exception as exc:  # noqa: BLE001 - without the leaderboard the scan still reads the known addresses
            context.log.warning(f"hyperliquid leaderboard unavailable ({exc}); scanning the {len(addresses)} known addresses")
    else:
        addresses = set(scanned_addresses(root, days, coins))
    if not addresses and config.kind == "hot":
        # the hourly hot scan before the first full scan (or after one that found no holder): nothing to refresh yet
        context.log.info(f"hyperliquid hot scan: no holder of {', '.join(sorted(coins))} in the full scans of the last "
                         f"{config.lookback_days + 1} days: nothing to rescan until a full scan finds one")
        return dg.MaterializeResult(metadata={"addresses": dg.MetadataValue.int(0)})
    if not addresses:
        raise dg.Failure("hyperliquid_positions_scan (full): no addresses to read: the leaderboard did not answer "
                         "and no trades or earlier scans are landed")
    from tqdm import tqdm

    with tqdm(total=len(addresses), unit="address", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = scanner.scan(addresses, config.kind, progress)
    scanner.http.close()
    stats.close()
    context.log.info(f"hyperliquid {config.kind} scan {result.start:%Y-%m-%d %H:%M:%S} → {result.end:%H:%M:%S}: "
                     f"{result.read} addresses read, {result.failed} failed, {result.positions} positions → {result.path}")
    return dg.MaterializeResult(metadata={
        "addresses": dg.MetadataValue.int(result.addresses), "read": dg.MetadataValue.int(result.read),
        "failed": dg.MetadataValue.int(result.failed), "positions": dg.MetadataValue.int(result.positions),
        "resumed_addresses": dg.MetadataValue.int(result.resumed), "file": dg.MetadataValue.path(str(result.path)),
        "scan_seconds": dg.MetadataValue.int(int((result.end - result.start).total_seconds())),
    })


positions_scan_job = dg.define_asset_job("hyperliquid_positions_scan", selection=[hyperliquid_positions_scan],
                                         description="One Hyperliquid positions scan (config kind: full or hot).",
                                         tags={"liqlevels/venue": "hyperliquid"})  # deploy/dagster.yaml: per-venue run limits

# The hot set hourly, everything every six hours (a full scan of ~30,000 addresses takes tens of
# minutes within the weight budget); both continue an interrupted scan of their kind.
positions_hot_schedule = dg.ScheduleDefinition(
    name="hyperliquid_positions_hot", job=positions_scan_job, cron_schedule="5 * * * *", execution_timezone="UTC",
    run_config={"ops": {"landing__hyperliquid_positions_scan": {"config": {"kind": "hot"}}}},
    default_status=dg.DefaultScheduleStatus.RUNNING)
positions_full_schedule = dg.ScheduleDefinition(
    name="hyperliquid_positions_full", job=positions_scan_job, cron_schedule="20 */6 * * *", execution_timezone="UTC",
    run_config={"ops": {"landing__hyperliquid_positions_scan": {"config": {"kind": "full"}}}},
    default_status=dg.DefaultScheduleStatus.RUNNING)


def store_scan(con, read: ScanRead, source: str, allow_shorter: bool, symbols: list[str]) -> int | None:
    """Replace the `symbols`' share of one snapshot (their positions; the scan's own rows, which every
    symbol's run stores alike; rejects) in one transaction; None when the stored share has more
    positions than the file offers (kept, unless `allow_shorter`).

    Per symbol because the runs of different symbols may store the same scan at once: each replaces
    only its own symbol's partitions of raw.positions."""
    snapshot = read.scan["snapshot_ts"]
    stored = con.execute("select count(*) from raw.positions where venue = ? and snapshot_ts = ? and list_contains(?, symbol)",
                         [VENUE, snapshot, symbols]).fetchone()[0]
    if stored > len(read.positions) and not allow_shorter:
        return None
    replace_in_transaction(con, [
        *(("delete from raw.positions where venue = ? and symbol = ? and snapshot_ts = ?", [VENUE, symbol, snapshot])
          for symbol in symbols),
        ("delete from raw.position_scans where venue = ? and snapshot_ts = ?", [VENUE, snapshot]),
        ("delete from raw.position_failures where venue = ? and snapshot_ts = ?", [VENUE, snapshot]),
        ("delete from ops.rejects where table_name = 'positions' and venue = ? and source = ?", [VENUE, source]),
    ], [("raw.positions", read.positions), ("raw.position_scans", pd.DataFrame([read.scan], columns=SCAN_TABLE_COLUMNS)),
        ("raw.position_failures", read.failed), ("ops.rejects", read.rejects)])
    return len(read.positions)


@dg.asset(
    key=["raw", "positions"],
    group_name="ingest",
    kinds={"duckdb", "hyperliquid"},
    partitions_def=symbol_day_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
    retry_policy=INGEST_RETRY,
)
def positions(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource,
              market_source: MarketSourceResource) -> dg.MaterializeResult:
    """Measured Hyperliquid positions of the watched coins, one snapshot per scan of the day (scan files
    from the landing folder when live, from <data>/positions/hyperliquid/<day>/ with the files source),
    each with its exchange-computed liquidation price; raw.position_scans keeps each scan's start, end and
    coverage (addresses read and failed). A snapshot is replaced whole, so reruns are idempotent; a file
    offering fewer positions than stored keeps the stored snapshot."""
    root = Path(market_source.landing_root if market_source.live else market_source.files_root)
    coins = watched_coins(watchlist, context)
    symbols = sorted(set(coins.values()))
    notes = DayNotes(context, "positions")
    per_day = {}
    with warehouse(duckdb, context) as con:
        for day in partition_days(context):
            counts = {"scans": 0, "row_count": 0, "rejects": 0, "failed_reads": 0, "kept": 0}
            for symbol in symbols:
                notes.touch(symbol, day)
            errors = []
            for path in day_scans(root, VENUE, day):
                source = f"positions/{VENUE}/{day}/{path.name}"
                try:
                    read = read_scan(path, VENUE, coins, source)
                except SourceFormatError as exc:
                    errors.append(str(exc))
                    continue
                stored = store_scan(con, read, source, market_source.replace_shorter, symbols)
                if stored is None:
                    counts["kept"] += 1
                    for symbol in symbols:
                        notes.warn(symbol, day, f"{source}: kept the stored snapshot (it holds more positions than the file)")
                    continue
                counts["scans"] += 1
                counts["row_count"] += stored
                counts["rejects"] += len(read.rejects)
                counts["failed_reads"] += read.scan["addresses_failed"]
            for message in errors:
                # A broken scan file loses one snapshot; a day with no readable scan at all is an error.
                for symbol in symbols:
                    (notes.warn if counts["scans"] else notes.error)(symbol, day, message)
            per_day[day] = counts
            report(context, f"{day} raw.positions: {counts['scans']} scans, {counts['row_count']} positions, "
                            f"{counts['failed_reads']} failed reads, {counts['rejects']} rejects")
        notes.write(con)
    # a scan is the venue's, not one symbol's: each partition of the day shows the scans' numbers for the run's symbols
    add_partition_metadata(context, {(symbol, day): number_metadata(c) for day, c in per_day.items() for symbol in symbols})
    total = {k: sum(c[k] for c in per_day.values()) for k in ("scans", "row_count", "rejects", "failed_reads", "kept")}
    report(context, f"raw.positions: {len(per_day)} days, {total['scans']} scans, {total['row_count']:,} positions")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": dg.MetadataValue.int(total["row_count"]),
        "dagster/table_name": dg.MetadataValue.text("raw.positions"),
        "scans": dg.MetadataValue.int(total["scans"]), "rejects": dg.MetadataValue.int(total["rejects"]),
        "failed_reads": dg.MetadataValue.int(total["failed_reads"]), "kept_snapshots": dg.MetadataValue.int(total["kept"]),
        "source": dg.MetadataValue.text(market_source.mode),
    })
