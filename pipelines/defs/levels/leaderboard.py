"""levels.leaderboard: every registered model scored over the rolling 30 days, so evidence of which
model predicts liquidations accumulates night after night."""

import datetime as dt
from textwrap import shorten

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from indicators.leaderboard import METRICS
from indicators.quality import window_length
from pipelines.defs.partitions import partition_days, symbol_day_partitions
from pipelines.defs.resources import DUCKDB_POOL, WatchlistResource, warehouse
from pipelines.defs.symbol_days import SymbolDays
from pipelines.lib import leaderboard as lb
from pipelines.lib.charts import markdown_image
from pipelines.lib.progress import report
from pipelines.lib.report import SUMMARY_WIDTH
from pipelines.lib.warehouse import replace_as_of
from pipelines.lib.workers import thunks


COLUMNS = ["as_of", "symbol", "part", "model", "kind", "params", "candidates", "window_minutes", "realized", "first_test_day",
           *METRICS, "lift_vs_range", "verdict"]


def leaderboard_rows(board: lb.Leaderboard, symbol: str, as_of: dt.date) -> pd.DataFrame:
    rows = board.table.copy()
    rows.insert(0, "as_of", as_of)
    rows.insert(1, "symbol", symbol)
    rows["window_minutes"] = int(window_length(board.window).total_seconds() // 60)
    rows["realized"] = board.realized
    rows["first_test_day"] = board.table.attrs["first_test_day"]
    rows["verdict"] = board.verdict
    return rows[COLUMNS]


@dg.asset(
    key=["levels", "leaderboard"], group_name="levels", kinds={"duckdb", "python"},
    deps=[dg.AssetKey(["raw", "klines"]), dg.AssetKey(["raw", "open_interest"]), dg.AssetKey(["raw", "liquidations"]),
          dg.AssetKey(["raw", "liquidation_history"])],
    partitions_def=symbol_day_partitions, backfill_policy=dg.BackfillPolicy.single_run(), pool=DUCKDB_POOL,
)
def level_leaderboard(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    """Per symbol, every registered model (indicators/models/) on the 30 days ending on the run's
    last day: tuned on the earlier days with realized liquidations, reported on the later ones,
    next to the baselines, with a one-line verdict against the price-only placebo.

    A run over many days computes it once, as of its last day (a leaderboard of one day would
    have nothing to split); a nightly run does so every night. Symbols with fewer than two days
    of realized liquidations in the 30 days get no rows and say so."""
    day = max(partition_days(context))
    start = day - dt.timedelta(days=lb.ROLLING_DAYS - 1)
    shown = []
    with warehouse(duckdb, context) as con:
        work = SymbolDays(context, con, ["levels", "leaderboard"])
        prepared: list[lb.Prepared] = []
        for spec in watchlist.partition_specs(context):
            def read(spec=spec):
                try:
                    prepared.append(lb.prepare(con, spec.symbol, list(spec.listings), start, day, spec.interval))
                except lb.NothingToScore as exc:
                    replace_as_of(con, "levels.leaderboard", day, spec.symbol, pd.DataFrame(columns=COLUMNS))
                    report(context, shorten(f"levels.leaderboard {spec.symbol}: not scored: {exc}", SUMMARY_WIDTH - 2))

            work.run(spec.symbol, day, read)
        # Fitting every model is pure compute: on all cores when there are enough symbols to pay for the workers.
        for item, computed in zip(prepared, thunks(lb.compute, [(p,) for p in prepared])):
            def write(item=item, computed=computed):
                board = computed()
                replace_as_of(con, "levels.leaderboard", day, item.symbol, leaderboard_rows(board, item.symbol, day))
                shown.append((item.symbol, board))
                report(context, shorten(f"levels.leaderboard {item.symbol} as of {day}: {board.verdict}", SUMMARY_WIDTH - 2))

            work.run(item.symbol, day, write)
    metadata = {"dagster/table_name": dg.MetadataValue.text("levels.leaderboard"), "as_of": dg.MetadataValue.text(str(day)),
                "symbols_scored": dg.MetadataValue.int(len(shown)), **work.metadata()}
    for symbol, board in shown[:3]:
        metadata[f"{symbol}_verdict"] = dg.MetadataValue.text(board.verdict)
        metadata[f"{symbol}_table"] = dg.MetadataValue.md(lb.format_table(board, symbol).replace("\n", "  \n"))
        metadata[f"{symbol}_chart"] = dg.MetadataValue.md(markdown_image(lb.chart(board, symbol), f"{symbol} leaderboard"))
    return dg.MaterializeResult(metadata=metadata)
