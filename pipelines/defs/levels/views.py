"""Behavioral pools and the Coinglass-style views (heatmap, liquidation map, clusters, max pain,
liquidation statistics), one table each, per day and symbol."""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from indicators.measured import as_levels
from indicators.behavioral import BehavioralParams, compute_pools, pools_for_day, warmup_bars
from indicators.views import bin_width, clusters, heatmap, largest_liquidations, liquidation_map, liquidation_stats, max_pain
from pipelines.defs.partitions import partition_days, symbol_day_partitions
from pipelines.defs.resources import DUCKDB_POOL, WatchlistResource, warehouse
from pipelines.lib.margin import ALL_VENUES
from pipelines.lib.market import INTERVAL_SECONDS, IntervalMismatch, load_klines, mismatch_message, price_klines, price_venue
from pipelines.lib.progress import report
from pipelines.defs.symbol_days import SymbolDays
from pipelines.lib.ids import join_ids
from pipelines.lib.measured_day import last_snapshot, measured_heat
from pipelines.lib.warehouse import has_engine_state, record_engine_state, replace_as_of

OBJECTIVE, BEHAVIORAL = ["levels", "objective"], ["levels", "behavioral"]

BIN_PCT = 0.1  # heatmap / map bin: 0.1 % of the day's open
CLUSTER_GAP_PCT = 0.25  # levels closer than 0.25 % of the close join one zone
VIEW_PRESET = "default"  # views use one preset and the cross-venue aggregate: no position counted twice
HISTORY_START = dt.datetime(2000, 1, 1)
ENGINE = "behavioral"
# Heatmap columns and liquidation-stat points: one per hour of the day at any bar interval (a display
# bucket, documented in the README), so a 1m symbol's heatmap is not 1,440 columns wide.
DISPLAY_BUCKET = "1h"  # ops.engine_state key of the incremental pools
MEASURED_STALE = pd.Timedelta(hours=3)  # a measured snapshot older than this at an hour's end draws nothing there


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time())
    return start, start + dt.timedelta(days=1)


def view_levels(con, day: dt.date, symbol: str) -> pd.DataFrame:
    """Objective levels of the day used by every view: default preset, all venues."""
    return con.execute(
        "select * from levels.objective where as_of = ? and symbol = ? and preset = ? and venue = ? order by level_id",
        [day, symbol, VIEW_PRESET, ALL_VENUES]).fetch_df()


def day_open_close(con, day: dt.date, spec) -> tuple[float, float] | None:
    """The day's first open (bin reference) and last close on the symbol's price venue; None without candles."""
    prices = price_klines(con, spec, *day_bounds(day))
    return None if prices is None or prices.empty else (float(prices["open"].iloc[0]), float(prices["close"].iloc[-1]))


def _for_each_day(context, duckdb, watchlist, table: str, build, upstream: tuple[list[str], ...] = (), after=None,
                  extra=dict) -> dg.MaterializeResult:
    """Run `build(con, day, spec, work) -> DataFrame` for every day and symbol and store it in `table`.

    Each symbol-day is isolated (`SymbolDays`): a failure, or a failure of an `upstream` asset for the
    same symbol-day, is noted for it alone and the other symbols go on.
    """
    counts = []
    specs = watchlist.partition_specs(context)
    with warehouse(duckdb, context) as con:
        work = SymbolDays(context, con, list(context.asset_key.path), upstream)
        for day in partition_days(context):
            for spec in specs:
                def one() -> int:
                    rows = build(con, day, spec, work)
                    rows.insert(0, "as_of", day)
                    rows.insert(1, "symbol", spec.symbol)
                    replace_as_of(con, table, day, spec.symbol, rows)
                    if after is not None:
                        after(con, day, spec)
                    return len(rows)

                n = work.run(spec.symbol, day, one)
                work.count(spec.symbol, day, row_count=n or 0)
                counts.append({"day": day.isoformat(), "symbol": spec.symbol, "rows": n if n is not None else 0,
                               "failed": n is None})
            report(context, f"{day} {table}: {sum(c['rows'] for c in counts if c['day'] == day.isoformat())} rows")
        report(context, f"{table}: {len(partition_days(context))} days, {sum(c['rows'] for c in counts):,} rows")
        preview = con.execute(f"select * from {table} where as_of = ? limit 8", [partition_days(context)[-1]]).fetch_df()
    summary = pd.DataFrame(counts)
    return dg.MaterializeResult(metadata={
        **work.metadata(),
        **extra(),
        "dagster/row_count": dg.MetadataValue.int(int(summary["rows"].sum()) if len(summary) else 0),
        "dagster/table_name": dg.MetadataValue.text(table),
        "rows_per_day": dg.MetadataValue.md(summary.tail(30).to_markdown(index=False) if len(summary) else "_none_"),
        "preview": dg.MetadataValue.md(preview.astype(str).to_markdown(index=False) if len(preview) else "_no rows_"),
    })


def _asset(name: str, deps: list[list[str]], description: str):
    return dg.asset(
        key=["levels", name], group_name="levels", kinds={"duckdb", "python"}, description=description,
        deps=[dg.AssetKey(d) for d in deps], partitions_def=symbol_day_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(), pool=DUCKDB_POOL,
    )


@_asset("behavioral", [["raw", "klines"]],
        "Behavior-based (BigBeluga-like) liquidity pools per venue with candles: 2-bar swing highs/lows "
        "spawn pools beyond the wick, weighted by the 10-bar volume sum, swept when traded through. "
        "'buy-side' pools sit above price (short stops/liquidations), 'sell-side' below (long). Every pool "
        "standing during the day. Incremental: a night continues from the previous day's standing pools "
        "with a bounded warm-up (the same rows as the whole history gives); without that day's state it "
        "reads the whole stored history.")
def behavioral_levels(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    params = BehavioralParams()

    signature = repr(params)
    computed: dict[tuple[str, dt.date], list[str]] = {}
    paths = {"incremental": 0, "from_scratch": 0}  # venue-days by how they were computed

    def build(con, day, spec, work):
        start, end = day_bounds(day)
        problem = mismatch_message(con, spec.symbol, spec.interval, start, end, with_oi=False)
        if problem:
            raise IntervalMismatch(problem)
        frames, computed[(spec.symbol, day)] = [], []
        bar = dt.timedelta(seconds=INTERVAL_SECONDS[spec.interval])
        for venue in spec.listings:
            # Incremental night: yesterday's standing pools + a bounded warm-up give exactly the from-scratch
            # answer (indicators.behavioral.pools_for_day); without yesterday's state, the whole history.
            incremental = has_engine_state(con, ENGINE, spec.symbol, venue, day - dt.timedelta(days=1), spec.interval, signature)
            history_from = start - warmup_bars(params) * bar if incremental else HISTORY_START
            klines = load_klines(con, venue, spec.symbol, spec.interval, history_from, end)
            if len(klines) < 2:
                continue
            if klines["volume"].isna().all():
                work.warn(f"{venue} klines carry no volume: behavioral pools (volume-weighted) not computed for {venue}")
                continue
            if klines["volume"].isna().any():
                work.warn(f"{venue}: {int(klines['volume'].isna().sum())} candles without volume weigh 0 in the pools")
                klines["volume"] = klines["volume"].fillna(0.0)
            klines["ts"] = klines["ts"].astype("datetime64[ns]")
            paths["incremental" if incremental else "from_scratch"] += 1
            if incremental:
                standing = con.execute("select venue, symbol, side, created_ts, price, weight from levels.behavioral "
                                       "where as_of = ? and symbol = ? and venue = ? and status = 'active' order by pool_id",
                                       [day - dt.timedelta(days=1), spec.symbol, venue]).fetch_df()
                day_pools = pools_for_day(klines, standing, start, params, venue=venue, symbol=spec.symbol)
            else:
                pools = compute_pools(klines, params, venue=venue, symbol=spec.symbol)
                day_pools = pools[(pools["created_ts"] < end) & (pools["swept_ts"].isna() | (pools["swept_ts"] >= start))].copy()
            day_pools["status"] = np.where(day_pools["swept_ts"] < end, "swept", "active")  # NaT compares False: active
            frames.append(day_pools)
            computed[(spec.symbol, day)].append(venue)
        frames = [f for f in frames if len(f)]
        rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["venue", "side", "created_ts", "price", "weight", "swept_ts", "status"])
        rows = rows.astype({"venue": str, "side": str, "price": float, "weight": float}).drop(columns=["symbol"], errors="ignore")
        rows["created_ts"] = pd.to_datetime(rows["created_ts"])
        rows["swept_ts"] = pd.to_datetime(rows["swept_ts"])
        rows.insert(0, "pool_id", join_ids(rows["venue"], spec.symbol, rows["created_ts"].dt.strftime("%Y%m%dT%H%M%S"),
                                           rows["side"], rows["price"].map(lambda p: f"{p:.10g}")))
        rows["known_ts"] = rows["created_ts"] + bar  # the close of the swing bar
        return rows[["pool_id", "venue", "side", "created_ts", "known_ts", "price", "weight", "swept_ts", "status"]]

    def stored(con, day, spec):
        for venue in computed.pop((spec.symbol, day), []):
            record_engine_state(con, ENGINE, spec.symbol, venue, day, spec.interval, signature)

    return _for_each_day(context, duckdb, watchlist, "levels.behavioral", build, upstream=(["raw", "klines"],), after=stored,
                         extra=lambda: {f"venue_days_{k}": dg.MetadataValue.int(v) for k, v in paths.items()})


def with_source(estimated: pd.DataFrame, measured: pd.DataFrame) -> pd.DataFrame:
    """The estimated rows and (Hyperliquid symbols with scans) the measured ones, told apart by `source`."""
    parts = [estimated.assign(source="estimated")] + ([measured.assign(source="measured")] if len(measured) else [])
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


@_asset("heatmap", [["levels", "objective"], ["levels", "measured"]],
        "Liquidation heatmap: for each hour of the day and 0.1 %-of-price bin, the USD of active long and "
        "short objective levels (default preset, all venues; source 'estimated') and, for Hyperliquid symbols "
        "with position scans, of real positions at their liquidation price (the newest snapshot known by the "
        "hour's end, at most 3 hours old; source 'measured').")
def liquidation_heatmap(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    def build(con, day, spec, work):
        reference = day_open_close(con, day, spec)
        if reference is None:
            return pd.DataFrame(columns=["ts", "bin_low", "bin_high", "long_usd", "short_usd"])
        hours = pd.date_range(dt.datetime.combine(day, dt.time()), periods=24, freq=DISPLAY_BUCKET)
        estimated = heatmap(view_levels(con, day, spec.symbol), hours, bin_width(reference[0], BIN_PCT))
        return with_source(estimated, measured_heat(con, spec.symbol, hours, pd.Timedelta(DISPLAY_BUCKET), MEASURED_STALE))

    return _for_each_day(context, duckdb, watchlist, "levels.heatmap", build, upstream=(OBJECTIVE,))


@_asset("liquidation_map", [["levels", "objective"], ["levels", "measured"]],
        "Liquidation map as of the day's close: per 0.1 % bin the long and short USD, cumulative long USD "
        "below the close and short above, and USD per leverage tier (10/25/50/100x); source 'estimated' (the "
        "default preset) and, for Hyperliquid symbols with scans, 'measured' (the day's last snapshot, set "
        "leverage shown under the nearest tier at or above it).")
def liquidation_map_levels(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    def build(con, day, spec, work):
        reference = day_open_close(con, day, spec)
        if reference is None:
            return pd.DataFrame(columns=["close", "bin_low"])
        first_open, close = reference
        width = bin_width(first_open, BIN_PCT)
        rows = with_source(liquidation_map(view_levels(con, day, spec.symbol), close, width),
                           liquidation_map(as_levels(last_snapshot(con, spec.symbol, day)), close, width))
        rows.insert(0, "close", close)
        return rows

    return _for_each_day(context, duckdb, watchlist, "levels.liquidation_map", build, upstream=(OBJECTIVE,))


def day_clusters(con, day: dt.date, spec) -> tuple[pd.DataFrame, float | None]:
    reference = day_open_close(con, day, spec)
    if reference is None:
        return pd.DataFrame(), None
    close = reference[1]
    objective = view_levels(con, day, spec.symbol)
    pools = con.execute("select * from levels.behavioral where as_of = ? and symbol = ? and status = 'active' and venue = ?",
                        [day, spec.symbol, price_venue(con, spec.symbol, list(spec.listings), spec.interval, *day_bounds(day))]).fetch_df()
    return clusters(objective[objective["status"] == "active"], pools, close * CLUSTER_GAP_PCT / 100), close


@_asset("clusters", [["levels", "objective"], ["levels", "behavioral"], ["levels", "measured"]],
        "Zones of neighbouring active levels of both families (objective default/all and behavioral pools "
        "of the price venue) merged while closer than 0.25 % of the close: price range, USD, pool weight, "
        "count, tiers, methods. Long zones sit below price, short zones above. Source 'measured': zones of the "
        "real positions of the day's last Hyperliquid snapshot, by the same rule.")
def level_clusters(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    def build(con, day, spec, work):
        zones, close = day_clusters(con, day, spec)
        measured = pd.DataFrame()
        if close is not None:
            measured = clusters(as_levels(last_snapshot(con, spec.symbol, day)), pd.DataFrame(columns=["side", "price", "weight"]),
                                close * CLUSTER_GAP_PCT / 100, method="measured")
        zones = with_source(zones, measured).rename(columns={"count": "levels_count"})
        zones.insert(0, "cluster_id", range(len(zones)))
        return zones

    return _for_each_day(context, duckdb, watchlist, "levels.clusters", build, upstream=(OBJECTIVE, BEHAVIORAL))


@_asset("max_pain", [["levels", "clusters"]],
        "Max pain per symbol-day and source (estimated, measured): the strongest long zone (USD) below the close "
        "and short zone above, their USD and distance in % from the close.")
def max_pain_levels(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    def build(con, day, spec, work):
        zones = con.execute("select * from levels.clusters where as_of = ? and symbol = ?", [day, spec.symbol]).fetch_df()
        reference = day_open_close(con, day, spec)
        if not reference:
            return pd.DataFrame(columns=["close"])
        return pd.DataFrame([{**max_pain(group, reference[1]), "source": source}
                             for source, group in zones.groupby("source", sort=True)] or [{**max_pain(zones, reference[1]), "source": "estimated"}])

    return _for_each_day(context, duckdb, watchlist, "levels.max_pain", build, upstream=(["levels", "clusters"],))


@_asset("liquidation_stats", [["raw", "liquidations"]],
        "Realized liquidations: rolling 1/4/12/24 h long/short USD at the end of each hour, per venue and "
        "across venues ('all'); the day's 10 largest single liquidations go to levels.largest_liquidations.")
def liquidation_statistics(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    def build(con, day, spec, work):
        start, end = day_bounds(day)
        events = con.execute("select venue, ts, side, price, usd from raw.liquidations where symbol = ? and ts >= ? and ts < ? order by ts, venue",
                             [spec.symbol, start - dt.timedelta(hours=24), end]).fetch_df()
        events["ts"] = events["ts"].astype("datetime64[ns]")
        largest = largest_liquidations(events[events["ts"] >= pd.Timestamp(start)])[["rank", "venue", "ts", "side", "price", "usd"]]
        largest.insert(0, "as_of", day)
        largest.insert(1, "symbol", spec.symbol)
        replace_as_of(con, "levels.largest_liquidations", day, spec.symbol, largest)
        stats = liquidation_stats(events, pd.date_range(start, periods=24, freq=DISPLAY_BUCKET))
        return stats.rename(columns={"count": "events"})

    return _for_each_day(context, duckdb, watchlist, "levels.liquidation_stats", build)
