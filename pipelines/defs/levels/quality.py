"""levels.quality: the nightly scorecard of every level model against realized liquidations."""

import datetime as dt

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from indicators.quality import verdict, window_length
from pipelines.defs.partitions import partition_days, symbol_day_partitions
from pipelines.defs.resources import DUCKDB_POOL, WatchlistResource, warehouse
from pipelines.lib.charts import markdown_image
from pipelines.lib.progress import report
from pipelines.lib.scorecard import REPORT_COLUMNS, scorecard, scorecard_chart
from pipelines.defs.symbol_days import SymbolDays
from pipelines.lib.warehouse import replace_as_of

SPANS = {"day": 0, "rolling_7d": 6}  # days before the as-of day included in the scored windows
MAIN_MODEL = "objective:default"


def quality_rows(report: pd.DataFrame, span: str) -> pd.DataFrame:
    rows = report.reset_index(names="model")
    rows.insert(0, "span", span)
    rows.insert(2, "window_minutes", int(window_length(report.attrs.get("window", "30min")).total_seconds() // 60))
    rows["verdict"] = verdict(report, MAIN_MODEL) if "spearman_pooled_ci_low" in report and len(report) else None
    return rows[["span", "model", "window_minutes", *REPORT_COLUMNS, "verdict"]]


@dg.asset(
    key=["levels", "quality"], group_name="levels", kinds={"duckdb", "python"},
    deps=[dg.AssetKey(["levels", "objective"]), dg.AssetKey(["levels", "behavioral"]), dg.AssetKey(["raw", "liquidations"]),
          dg.AssetKey(["raw", "klines"])],
    partitions_def=symbol_day_partitions, backfill_policy=dg.BackfillPolicy.single_run(), pool=DUCKDB_POOL,
)
def level_quality(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    """Scorecard per symbol, model and day (plus a rolling 7 days): do the levels standing before
    each window predict the realized liquidations in it? Spearman per side and pooled, top-decile
    capture, partial rank correlation after the window's own range, day-resampled 95 % intervals —
    next to three baselines (range only, fixed bands, price-only placebo) and a plain verdict."""
    shown = None
    specs = watchlist.partition_specs(context)
    with warehouse(duckdb, context) as con:
        work = SymbolDays(context, con, ["levels", "quality"], upstream=(["levels", "objective"], ["levels", "behavioral"]))
        for day in partition_days(context):
            for spec in specs:
                def one(spec=spec, day=day):
                    nonlocal shown
                    frames = []
                    for span, back in SPANS.items():
                        result, scored, predictions = scorecard(con, spec.symbol, list(spec.listings), day - dt.timedelta(days=back), day,
                                                                interval=spec.interval)
                        if len(result):
                            frames.append(quality_rows(result, span))
                        if span == "day" and len(result) and result["realized_usd"].fillna(0).sum() > 0:
                            shown = (spec.symbol, day, result, scored, predictions)
                    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["span", "model"])
                    rows.insert(0, "as_of", day)
                    rows.insert(1, "symbol", spec.symbol)
                    replace_as_of(con, "levels.quality", day, spec.symbol, rows)

                work.run(spec.symbol, day, one)
            report(context, f"{day} levels.quality: scored")
        report(context, f"levels.quality: {len(partition_days(context))} days scored")
    metadata = {"dagster/table_name": dg.MetadataValue.text("levels.quality"), **work.metadata()}
    if shown:
        symbol, day, result, scored, predictions = shown
        metadata["scores"] = dg.MetadataValue.md(f"**{symbol} {day}** — {verdict(result, MAIN_MODEL)}\n\n"
                                                 + result.round(3).to_markdown())
        if MAIN_MODEL in predictions:
            metadata["chart"] = dg.MetadataValue.md(markdown_image(
                scorecard_chart(scored, predictions, MAIN_MODEL, f"{symbol} {day}: predicted vs realized, capture curves"), "scorecard"))
    else:
        metadata["scores"] = dg.MetadataValue.md("_no realized liquidations in these days: nothing to score_")
    return dg.MaterializeResult(metadata=metadata)
