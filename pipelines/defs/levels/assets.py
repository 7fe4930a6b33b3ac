"""Level tables computed from the raw tables."""


import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from pipelines.defs.partitions import partition_days, symbol_day_partitions
from pipelines.defs.resources import DUCKDB_POOL, WatchlistResource, warehouse
from pipelines.lib.charts import levels_chart, markdown_image
from pipelines.lib.margin import ALL_VENUES
from pipelines.lib.objective_day import objective_compute, objective_inputs
from pipelines.lib.progress import report
from pipelines.defs.symbol_days import SymbolDays
from pipelines.lib.warehouse import replace_as_of
from pipelines.lib.workers import thunks


@dg.asset(
    key=["levels", "objective"],
    group_name="levels",
    kinds={"duckdb", "python"},
    deps=[dg.AssetKey(["raw", "klines"]), dg.AssetKey(["raw", "open_interest"]), dg.AssetKey(["levels", "calibration"])],
    partitions_def=symbol_day_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
)
def objective_levels(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    """Objective (Leviathan-like) liquidation levels: rising open interest opens projected positions
    at the bar's price, one level per side and leverage tier at the venue's maintenance-margin-aware
    liquidation price, kept until price fills it or it expires (30 days). One row per level standing
    on the partition day, per preset ('default': 10/25/50/100x with exchange margin; 'leviathan':
    25/50/100x with base × (1 ∓ 1/L)), per venue with OI and 'all' venues aggregated in USD."""
    specs = watchlist.partition_specs(context)
    summaries, panels = [], []
    with warehouse(duckdb, context) as con:
        work = SymbolDays(context, con, ["levels", "objective"], upstream=(["raw", "klines"], ["raw", "open_interest"]))
        for day in partition_days(context):
            read: list[tuple] = []
            for spec in specs:
                def inputs(spec=spec):
                    read.append((spec, objective_inputs(con, spec.symbol, list(spec.listings), day, spec.interval)))

                work.run(spec.symbol, day, inputs)
            # The engines are pure compute: on all cores when there are enough symbols; writes stay here.
            for (spec, found), computed in zip(read, thunks(objective_compute, [(found,) for _, found in read])):
                def one(spec=spec, computed=computed):
                    rows, day_bars = computed()
                    replace_as_of(con, "levels.objective", day, spec.symbol, rows)
                    return rows, day_bars

                done = work.run(spec.symbol, day, one)
                if done is None:
                    continue
                rows, day_bars = done
                active = rows[rows["status"] == "active"]
                shown = active[(active["preset"] == "default") & (active["venue"] == ALL_VENUES)]
                work.count(spec.symbol, day, row_count=len(rows), active_long=int((active["side"] == "long").sum()),
                           active_short=int((active["side"] == "short").sum()),
                           active_long_usd=float(shown.loc[shown["side"] == "long", "notional_usd"].sum()),
                           active_short_usd=float(shown.loc[shown["side"] == "short", "notional_usd"].sum()))
                summaries.append({"day": day.isoformat(), "symbol": spec.symbol, "levels": len(rows),
                                  "active_long": int((active["side"] == "long").sum()),
                                  "active_short": int((active["side"] == "short").sum())})
                if day == partition_days(context)[-1] and len(day_bars):
                    panels.append((spec.symbol, day_bars, shown))
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
