"""Raw ingest: one asset per raw table, each day replacing its (venue, symbol, day) slices."""


import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from pipelines.defs.partitions import partition_days, symbol_day_partitions
from pipelines.defs.ingest.faults import VenueFaults, record_stream_leftovers
from pipelines.defs.resources import DUCKDB_POOL, MarketSourceResource, WatchlistResource, warehouse
from pipelines.lib.exchanges.live import Skipped
from pipelines.lib.normalize import Normalized, SourceFormatError
from pipelines.defs.symbol_days import add_partition_metadata, log_note, number_metadata
from pipelines.lib.progress import report
from pipelines.lib import files_source
from pipelines.lib.warehouse import (Partition, rows_per_day, replace_notes, replace_partition, replace_rejects,
                                     upsert_partition)
from pipelines.lib.watchlist import WatchlistError

# Exchange calls fail transiently (429, 5xx, timeouts); a write that lost the DuckDB lock race
# also succeeds on a later try. Reruns are idempotent, so retrying a whole step is safe.
INGEST_RETRY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.FULL)

DESCRIPTIONS = {
    "klines": "OHLCV candles per venue and symbol (base volume; quote and taker-buy volume where the source has them).",
    "open_interest": "Open interest per venue and symbol, in USD (and base units where reported).",
    "funding": "Funding rates per venue and symbol (fraction per funding interval, e.g. 0.0001 = 1 bp).",
    "liquidations": "Realized liquidation events; side is the liquidated position ('long', 'short', 'unknown').",
    "liquidation_history": "Liquidated USD per hour for long and short positions, aggregated over exchanges (Coinglass, with a key).",
}


def contiguous(days: list[dt.date]) -> list[dt.date]:
    return [days[0] + dt.timedelta(days=i) for i in range((days[-1] - days[0]).days + 1)] if days else []


class DayNotes:
    """What an ingest could not store as delivered, per (symbol, day): ops.asset_notes of raw/<table>."""

    def __init__(self, context, table: str):
        self.context, self.asset = context, f"raw/{table}"
        self.notes: dict[tuple[str, dt.date], list[tuple[str, str]]] = {}
        self.logged: set[str] = set()

    def touch(self, symbol: str, day: dt.date) -> None:
        self.notes.setdefault((symbol, day), [])

    def warn(self, symbol: str, day: dt.date, message: str) -> None:
        self.notes.setdefault((symbol, day), []).append(("warning", message))
        log_note(self.context, "warning", f"{self.asset} {symbol} {day}: {message}")

    def error(self, symbol: str, day: dt.date, message: str) -> None:
        first = message not in self.logged
        self.notes.setdefault((symbol, day), []).append(("error", message))
        if first:  # a broken file is the same error on every day of a range: say it once
            self.logged.add(message)
            log_note(self.context, "error", f"{self.asset} {symbol}: {message}")

    def kept(self, venue: str, symbol: str, source: str, kept: list) -> None:
        for k in kept:
            self.warn(symbol, k.day, f"{venue}: kept the {k.stored} stored rows: {source} offers {k.offered} for this day "
                                     "(a shorter slice never replaces a fuller one; market_source.replace_shorter allows it)")

    def write(self, con) -> None:
        for (symbol, day), notes in self.notes.items():
            replace_notes(con, self.asset, symbol, day, notes)


def ingest_files(con, table: str, listings, days: list[dt.date], root: Path, notes: DayNotes,
                 counts: dict[tuple[str, dt.date], dict[str, int]], allow_shorter: bool = False) -> pd.DataFrame:
    """The files source into raw.<table>: each (venue, symbol) file is read once per run, and only for the
    run's days (DuckDB pushdown), so a night's cost does not grow with the file's history. A contiguous
    range is written as one slice per (venue, symbol): one transaction instead of one per day."""
    last_rows = pd.DataFrame()
    span = (days[-1] - days[0]).days + 1
    whole = days == contiguous(days)
    for spec, listing in listings:
        for day in days:
            notes.touch(spec.symbol, day)
        try:
            found = files_source.load_range(root, table, listing.venue, spec.symbol, days[0], span)
        except SourceFormatError as exc:
            # A user's broken file stops that (venue, symbol) only: its symbol-days are noted as failed
            # (their levels and exports are withheld) and the other symbols go on.
            for day in days:
                notes.error(spec.symbol, day, str(exc))
            continue
        if found is None:
            continue
        for day in days:
            if day in found.notes:
                notes.warn(spec.symbol, day, f"{listing.venue}: {found.notes[day]}")
        batch = found.batch
        stored_per_day = rows_per_day(batch.rows["ts"])
        rejects_per_day = batch.rejects["day"].value_counts(dropna=False).to_dict()
        for day in days:
            counts[(spec.symbol, day)]["rows"] += stored_per_day.get(day, 0)
            counts[(spec.symbol, day)]["rejects"] += rejects_per_day.get(day, 0)
        counts[(spec.symbol, days[0])]["rejects"] += sum(n for d, n in rejects_per_day.items() if not isinstance(d, dt.date))
        if whole:
            kept = replace_partition(con, Partition(table, listing.venue, spec.symbol, days[0], days=span), batch.rows,
                                     batch.rejects, found.source, allow_shorter=allow_shorter)
        else:
            undated = batch.rejects[batch.rejects["day"].isna()]
            kept = []
            for day in days:
                one = found.day(day)
                kept += replace_partition(con, Partition(table, listing.venue, spec.symbol, day), one.rows,
                                          pd.concat([one.rejects, undated], ignore_index=True), found.source,
                                          allow_shorter=allow_shorter)
        notes.kept(listing.venue, spec.symbol, found.source, kept)
        if len(batch.rows):
            last_rows = batch.rows
    return last_rows


def _ingest_live(con, table: str, listings, days: list[dt.date], market_source: MarketSourceResource,
                 faults: VenueFaults, notes: DayNotes, counts: dict, skipped: dict[str, int], venue_rejects: dict) -> pd.DataFrame:
    """The venues' APIs into raw.<table>, day by day: each day's landed streams are read once for all symbols."""
    last_rows = pd.DataFrame()
    for day in days:
        for spec, listing in listings:
            notes.touch(spec.symbol, day)
            if listing.venue in faults.stopped:
                continue
            loaded = None
            with faults.guard(listing.venue, spec.symbol, day):
                loaded = market_source.load_day(table, listing, spec.symbol, day, spec.interval)
            if loaded is None:
                continue
            if isinstance(loaded, Skipped):
                skipped[loaded.reason] = skipped.get(loaded.reason, 0) + 1
                continue
            partition = Partition(table, listing.venue, spec.symbol, day)
            batch = loaded.batch
            if loaded.note:
                notes.warn(spec.symbol, day, f"{listing.venue}: {loaded.note}")
            if loaded.problems:
                # Wrong shape: keep what the payload held as rejects, leave stored rows alone, fail below.
                replace_rejects(con, partition, batch.rejects, loaded.source)
                faults.shape_errors.extend(f"{listing.venue} {endpoint}: field '{field}' {reason} ({spec.symbol}, {day})"
                                           for endpoint, field, reason in loaded.problems)
            else:
                # An exchange's answer only adds and corrects rows (upsert): its windows move on, stored
                # rows must not vanish. (A user's files are the truth for their days: slice replace.)
                upsert_partition(con, partition, batch.rows, batch.rejects, loaded.source)
                counts[(spec.symbol, day)]["rows"] += len(batch.rows)
                if len(batch.rows):
                    last_rows = batch.rows
            counts[(spec.symbol, day)]["rejects"] += len(batch.rejects)
        if table == "liquidations":  # the streams' messages without a symbol: the venue-day's, no partition's
            venue_rejects[day] = record_stream_leftovers(con, market_source.live_source(), {l.venue for _, l in listings}, day)
    return last_rows


def _ingest(
    context: dg.AssetExecutionContext,
    table: str,
    duckdb: DuckDBResource,
    watchlist: WatchlistResource,
    market_source: MarketSourceResource,
) -> dg.MaterializeResult:
    listings = watchlist.partition_listings(context)
    live = market_source.live
    faults = VenueFaults()
    skipped: dict[str, int] = {}
    days = partition_days(context)
    notes = DayNotes(context, table)
    counts = {(spec.symbol, day): {"rows": 0, "rejects": 0} for spec, _ in listings for day in days}
    venue_rejects: dict[dt.date, int] = {}
    with warehouse(duckdb, context) as con:
        if live:
            last_rows = _ingest_live(con, table, listings, days, market_source, faults, notes, counts, skipped, venue_rejects)
        else:
            last_rows = ingest_files(con, table, listings, days, Path(market_source.files_root), notes, counts,
                                     allow_shorter=market_source.replace_shorter)
        per_day = [{"day": day.isoformat(), "rows": sum(c["rows"] for (_, d), c in counts.items() if d == day),
                    "rejects": venue_rejects.get(day, 0) + sum(c["rejects"] for (_, d), c in counts.items() if d == day)}
                   for day in days]
        for day in per_day:
            report(context, f"{day['day']} raw.{table}: {day['rows']} rows, {day['rejects']} rejects")
        notes.write(con)
    report(context, f"raw.{table}: {len(days)} days, {sum(d['rows'] for d in per_day):,} rows, "
                    f"{sum(d['rejects'] for d in per_day):,} rejects")
    for reason, count in skipped.items():
        context.log.info(f"raw.{table}: skipped {count}x: {reason}")
    faults.raise_if_any(table)
    if live and table == "liquidations":
        context.log.info(f"raw.liquidations: {market_source.live_source().merged_duplicates} events seen by both "
                         "OKX's REST endpoint and its stream, stored once")
    total = sum(d["rows"] for d in per_day)
    rejects = sum(d["rejects"] for d in per_day)
    add_partition_metadata(context, {key: number_metadata({"row_count": c["rows"], "rejects": c["rejects"]})
                                     for key, c in counts.items()})
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(total),
            "dagster/table_name": dg.MetadataValue.text(f"raw.{table}"),
            "source": dg.MetadataValue.text(market_source.mode),
            "rejects": dg.MetadataValue.int(rejects),
            "skipped": dg.MetadataValue.int(sum(skipped.values())),
            "rows_per_day": dg.MetadataValue.md(pd.DataFrame(per_day).to_markdown(index=False)),
            "preview": dg.MetadataValue.md(last_rows.head(5).astype(str).to_markdown(index=False) if len(last_rows) else "_no rows_"),
        }
    )


def _ingest_without_retry_on_bad_input(context, table, duckdb, watchlist, market_source) -> dg.MaterializeResult:
    try:
        return _ingest(context, table, duckdb, watchlist, market_source)
    except (SourceFormatError, WatchlistError) as exc:
        # Bad input stays bad on a retry: fail at once, with the error naming venue, file and field.
        raise dg.Failure(description=str(exc), allow_retries=False) from exc


def build_ingest_asset(table: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=table,
        key_prefix=["raw"],
        group_name="ingest",
        kinds={"duckdb"},
        description=DESCRIPTIONS[table],
        partitions_def=symbol_day_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=DUCKDB_POOL,
        retry_policy=INGEST_RETRY,
    )
    def _asset(
        context: dg.AssetExecutionContext,
        duckdb: DuckDBResource,
        watchlist: WatchlistResource,
        market_source: MarketSourceResource,
    ) -> dg.MaterializeResult:
        return _ingest_without_retry_on_bad_input(context, table, duckdb, watchlist, market_source)

    return _asset


klines = build_ingest_asset("klines")
open_interest = build_ingest_asset("open_interest")
funding = build_ingest_asset("funding")
liquidations = build_ingest_asset("liquidations")
liquidation_history = build_ingest_asset("liquidation_history")
