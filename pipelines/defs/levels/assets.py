"""Level tables computed from the raw tables."""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from indicators.objective import PRESETS, compute_levels, refine_fills
from pipelines.defs.ingest.assets import partition_days
from pipelines.defs.partitions import daily_partitions
from pipelines.defs.resources import DUCKDB_POOL, WatchlistResource, warehouse
from pipelines.lib.charts import levels_chart, markdown_image
from pipelines.lib.margin import ALL_VENUES, margin_tiers
from pipelines.lib.market import (INTERVAL_SECONDS, IntervalMismatch, bars_with_oi, bars_with_total_oi, finer_klines, load_klines,
                                  load_open_interest, mismatch_message, price_venue)
from pipelines.lib.progress import report
from pipelines.defs.symbol_days import SymbolDays
from pipelines.lib.ids import join_ids
from pipelines.lib.warehouse import replace_as_of
from pipelines.lib.watchlist import AGGREGATOR_VENUES

OBJECTIVE_COLUMNS = ["as_of", "level_id", "preset", "venue", "symbol", "side", "leverage", "created_ts", "known_ts", "base_price",
                     "liq_price", "initial_notional_usd", "notional_usd", "size_class", "filled_ts", "expires_ts",
                     "status", "liq_model"]


def levels_as_of(levels: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Levels that stand at some point of `day`: active at its end, or filled/expired during it."""
    start = pd.Timestamp(day)
    end = start + pd.Timedelta(days=1)
    standing = (levels["created_ts"] < end) & (levels["filled_ts"].isna() | (levels["filled_ts"] >= start)) & (levels["expires_ts"] > start)
    return levels[standing]


def with_level_ids(levels: pd.DataFrame, day: dt.date, preset_name: str, bar: dt.timedelta) -> pd.DataFrame:
    """Level rows with their as-of day, preset, stable id and `known_ts` (the close of their bar, `created_ts` + `bar`)."""
    out = levels.astype({c: str for c in ("venue", "symbol", "side", "size_class", "status", "liq_model")})
    out["known_ts"] = pd.to_datetime(out["created_ts"]) + bar
    out.insert(0, "as_of", day)
    out.insert(1, "preset", preset_name)
    out.insert(1, "level_id", join_ids(out["preset"], out["venue"], out["symbol"],
                                       pd.to_datetime(out["created_ts"]).dt.strftime("%Y%m%dT%H%M%S"), out["side"],
                                       out["leverage"].astype(str)))
    return out[OBJECTIVE_COLUMNS]


def objective_levels_for_day(con, symbol: str, venues: list[str], day: dt.date, interval: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(level rows of every preset and venue as of `day` at bars of `interval`, the day's price bars).

    Raises `IntervalMismatch` when the symbol has candles or OI in the window but none usable at `interval`.
    """
    longest = max(PRESETS.values(), key=lambda p: p.warmup_hours * 3600 + p.baseline_bars * INTERVAL_SECONDS[interval])
    warmup = dt.timedelta(hours=longest.warmup_hours, seconds=(longest.baseline_bars + 2) * INTERVAL_SECONDS[interval])
    start = dt.datetime.combine(day, dt.time()) - warmup
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    problem = mismatch_message(con, symbol, interval, start, end)
    if problem:
        raise IntervalMismatch(problem)
    price_from = price_venue(con, symbol, venues, interval, start, end)
    if price_from is None:
        return pd.DataFrame(columns=OBJECTIVE_COLUMNS), pd.DataFrame()
    klines = load_klines(con, price_from, symbol, interval, start, end)
    oi = load_open_interest(con, symbol, interval, start, end)
    fine = finer_klines(con, price_from, symbol, interval, start, end)
    series = {venue: bars_with_oi(klines, g) for venue, g in oi.groupby("venue")}
    series[ALL_VENUES] = bars_with_total_oi(klines, oi[~oi["venue"].isin(AGGREGATOR_VENUES)])
    frames = []
    for preset_name, params in PRESETS.items():
        for venue, bars in series.items():
            levels = compute_levels(bars, params, venue=venue, symbol=symbol, tiers=margin_tiers(venue, symbol, day, params),
                                    as_of_end=np.datetime64(end, "ns"))
            if fine is not None:  # first touch from the finer candles (1m under 5m bars)
                levels = refine_fills(levels, fine, np.timedelta64(INTERVAL_SECONDS[interval], "s"))
            frames.append(with_level_ids(levels_as_of(levels, day), day, preset_name, dt.timedelta(seconds=INTERVAL_SECONDS[interval])))
    day_bars = klines[klines["ts"] >= pd.Timestamp(day)]
    frames = [f for f in frames if len(f)]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OBJECTIVE_COLUMNS)), day_bars


@dg.asset(
    key=["levels", "objective"],
    group_name="levels",
    kinds={"duckdb", "python"},
    deps=[dg.AssetKey(["raw", "klines"]), dg.AssetKey(["raw", "open_interest"])],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
)
def objective_levels(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    """Objective (Leviathan-like) liquidation levels: rising open interest opens projected positions
    at the bar's price, one level per side and leverage tier at the venue's maintenance-margin-aware
    liquidation price, kept until price fills it or it expires (30 days). One row per level standing
    on the partition day, per preset ('default': 10/25/50/100x with exchange margin; 'leviathan':
    25/50/100x with base × (1 ∓ 1/L)), per venue with OI and 'all' venues aggregated in USD."""
    specs = watchlist.specs()
    summaries, panels = [], []
    with warehouse(duckdb) as con:
        work = SymbolDays(context, con, ["levels", "objective"], upstream=(["raw", "klines"], ["raw", "open_interest"]))
        for day in partition_days(context):
            for spec in specs:
                def one():
                    rows, day_bars = objective_levels_for_day(con, spec.symbol, list(spec.listings), day, spec.interval)
                    replace_as_of(con, "levels.objective", day, spec.symbol, rows)
                    return rows, day_bars

                done = work.run(spec.symbol, day, one)
                if done is None:
                    continue
                rows, day_bars = done
                active = rows[rows["status"] == "active"]
                summaries.append({"day": day.isoformat(), "symbol": spec.symbol, "levels": len(rows),
                                  "active_long": int((active["side"] == "long").sum()),
                                  "active_short": int((active["side"] == "short").sum())})
                if day == partition_days(context)[-1] and len(day_bars):
                    panels.append((spec.symbol, day_bars, active[(active["preset"] == "default") & (active["venue"] == ALL_VENUES)]))
            report(context, f"{day} levels.objective: {sum(s['levels'] for s in summaries if s['day'] == day.isoformat())} levels")
        last_day = partition_days(context)[-1]
        report(context, f"levels.objective: {len(partition_days(context))} days, {sum(s['levels'] for s in summaries):,} levels")
        strongest = con.execute(
            "select symbol, venue, side, leverage, round(liq_price, 4) as liq_price, round(notional_usd) as notional_usd, created_ts "
            "from levels.objective where as_of = ? and status = 'active' and preset = 'default' "
            "order by notional_usd desc limit 5", [last_day]).fetch_df()
    summary = pd.DataFrame(summaries, columns=["day", "symbol", "levels", "active_long", "active_short"])
    last = summary[summary["day"] == last_day.isoformat()]
    metadata = {
        **work.metadata(),
        "dagster/row_count": dg.MetadataValue.int(int(summary["levels"].sum())),
        "dagster/table_name": dg.MetadataValue.text("levels.objective"),
        "active_long": dg.MetadataValue.int(int(last["active_long"].sum())),
        "active_short": dg.MetadataValue.int(int(last["active_short"].sum())),
        "levels_per_day": dg.MetadataValue.md(summary.tail(30).to_markdown(index=False)),
        "strongest_five": dg.MetadataValue.md(strongest.astype(str).to_markdown(index=False) if len(strongest) else "_no active levels_"),
    }
    if panels:
        png = levels_chart(panels, f"Active objective levels (default preset, all venues) as of {last_day}")
        metadata["chart"] = dg.MetadataValue.md(markdown_image(png, "objective levels"))
    return dg.MaterializeResult(metadata=metadata)
