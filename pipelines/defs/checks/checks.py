"""Great Expectations suites as Dagster asset checks, one per table, with quarantine.

Each check validates every symbol-day of its run, stores the outcome of every expectation per
symbol-day in `ops.validation_results` and copies the rows that fail a row-level expectation to
`ops.quarantine`. A failed blocking expectation gives the check ERROR severity, which stops the
downstream assets (levels, exports) of that run; other failures are warnings.
"""

import datetime as dt
import json

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from indicators.objective import FITTED_PRESETS, PRESETS
from pipelines.defs.partitions import partition_days, partition_key, partition_symbols, symbol_day_partitions
from pipelines.defs.resources import DUCKDB_POOL, warehouse
from pipelines.lib.margin import liq_price_mismatch
from pipelines.lib.progress import report
from pipelines.lib.validation import (BEHAVIORAL_SUITE, CLUSTERS_SUITE, HEATMAP_SUITE, LARGEST_LIQUIDATIONS_SUITE,
                                      LIQUIDATION_MAP_SUITE, LIQUIDATION_STATS_SUITE, MAX_PAIN_SUITE, MEASURED_SUITE, POSITIONS_SUITE,
                                      QUALITY_SUITE, LEADERBOARD_SUITE, RAW_SUITES, SIMILARITY_SUITE,
                                      Outcome, Rule, objective_suite, validate)
from pipelines.lib.warehouse import reject_payload, replace_validation

ALL_LEVERAGES = sorted({L for params in [*PRESETS.values(), *FITTED_PRESETS.values()] for L in params.leverages})

ACTIVE_LEVEL_TOTALS = ("select as_of, symbol, sum(notional_usd) as level_total_usd from levels.objective "
                       "where status = 'active' and preset = 'default' and venue = 'all' group by all")

# the measured map's own total: USD of the priced positions of each day's last snapshot
MEASURED_TOTALS = """last_scan as (select cast(snapshot_ts as date) as as_of, max(snapshot_ts) as snapshot_ts from raw.position_scans
                                  where venue = 'hyperliquid' group by 1),
    measured as (select l.as_of, p.symbol, sum(p.position_usd) as level_total_usd from raw.positions p
                 join last_scan l using (snapshot_ts) where p.venue = 'hyperliquid' and p.liq_price > 0 group by all)"""

# table -> (asset key, SQL giving the table's rows of [start, end) of some symbols, with partition_day, ts_day)
CHECKED: dict[str, tuple[list[str], str]] = {
    **{
        table: (table.split("."), f"select *, cast(ts as date) as partition_day, cast(ts as date) as ts_day "
                                  f"from {table} where ts >= ? and ts < ? and list_contains(?, symbol) order by all")
        for table in RAW_SUITES
    },
    "levels.objective": (["levels", "objective"], "select *, as_of as partition_day, cast(as_of + 1 as timestamp) as as_of_end "
                                                  "from levels.objective where as_of >= ? and as_of < ? and list_contains(?, symbol) order by level_id"),
    "levels.behavioral": (["levels", "behavioral"], "select *, as_of as partition_day, cast(as_of + 1 as timestamp) as as_of_end "
                                                    "from levels.behavioral where as_of >= ? and as_of < ? and list_contains(?, symbol) order by pool_id"),
    **{
        table: (table.split("."), f"select *, as_of as partition_day from {table} where as_of >= ? and as_of < ? and list_contains(?, symbol) order by all")
        for table in ("levels.clusters", "levels.max_pain", "levels.liquidation_stats", "levels.quality", "levels.leaderboard")
    },
    "raw.positions": (["raw", "positions"], "select *, cast(snapshot_ts as date) as partition_day from raw.positions "
                                            "where snapshot_ts >= ? and snapshot_ts < ? and list_contains(?, symbol) order by all"),
    "levels.measured": (["levels", "measured"], "select *, as_of as partition_day, cast(snapshot_ts as date) as snapshot_day "
                                                "from levels.measured where as_of >= ? and as_of < ? and list_contains(?, symbol) order by all"),
    "levels.measured_similarity": (["levels", "measured_similarity"], "select *, as_of as partition_day from levels.measured_similarity "
                                                                      "where as_of >= ? and as_of < ? and list_contains(?, symbol) order by all"),
    "levels.largest_liquidations": (["levels", "liquidation_stats"],
                                    "select *, as_of as partition_day, cast(ts as date) as ts_day from levels.largest_liquidations "
                                    "where as_of >= ? and as_of < ? and list_contains(?, symbol) order by all"),
    # the views carry, per (as_of, symbol), their own total next to the level table's total
    "levels.heatmap": (["levels", "heatmap"], f"""
        with totals as ({ACTIVE_LEVEL_TOTALS})
        select h.*, h.as_of as partition_day,
               sum(h.long_usd + h.short_usd) filter (where h.ts = cast(h.as_of as timestamp) + interval 23 hour)
                   over (partition by h.as_of, h.symbol, h.source) as table_total_usd,
               case when h.source = 'estimated' then coalesce(t.level_total_usd, 0) end as level_total_usd
        from levels.heatmap h left join totals t using (as_of, symbol)
        where h.as_of >= ? and h.as_of < ? and list_contains(?, h.symbol) order by all"""),
    "levels.liquidation_map": (["levels", "liquidation_map"], f"""
        with totals as ({ACTIVE_LEVEL_TOTALS}), {MEASURED_TOTALS}
        select m.*, m.as_of as partition_day,
               sum(m.long_usd + m.short_usd) over (partition by m.as_of, m.symbol, m.source) as table_total_usd,
               case when m.source = 'estimated' then coalesce(t.level_total_usd, 0) else coalesce(p.level_total_usd, 0) end
                   as level_total_usd
        from levels.liquidation_map m left join totals t using (as_of, symbol) left join measured p using (as_of, symbol)
        where m.as_of >= ? and m.as_of < ? and list_contains(?, m.symbol) order by all"""),
}


def suite_for(table: str) -> list[Rule]:
    if table == "levels.objective":
        return objective_suite(ALL_LEVERAGES, liq_price_mismatch)
    return {"levels.behavioral": BEHAVIORAL_SUITE, "levels.heatmap": HEATMAP_SUITE, "levels.liquidation_map": LIQUIDATION_MAP_SUITE,
            "levels.clusters": CLUSTERS_SUITE, "levels.max_pain": MAX_PAIN_SUITE, "levels.liquidation_stats": LIQUIDATION_STATS_SUITE,
            "levels.largest_liquidations": LARGEST_LIQUIDATIONS_SUITE, "levels.quality": QUALITY_SUITE,
            "levels.leaderboard": LEADERBOARD_SUITE, "raw.positions": POSITIONS_SUITE, "levels.measured": MEASURED_SUITE,
            "levels.measured_similarity": SIMILARITY_SUITE}.get(table) or RAW_SUITES[table]


def per_day_records(table: str, frame: pd.DataFrame, outcomes: list[Outcome], days: list[dt.date]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split whole-range outcomes into (validation rows, quarantine rows) per partition day."""
    day_of_row = pd.to_datetime(frame["partition_day"]).dt.date.to_numpy() if len(frame) else []
    results, quarantine = [], []
    payload_columns = [c for c in frame.columns if c not in ("partition_day", "ts_day", "snapshot_day", "as_of_end", "table_total_usd", "level_total_usd")]
    for outcome in outcomes:
        failing_by_day: dict[dt.date, list[int]] = {}
        for i in outcome.failing_index:
            failing_by_day.setdefault(day_of_row[i], []).append(i)
        for day in days:
            failing = failing_by_day.get(day, [])
            results.append({
                "table_name": table, "day": day, "expectation": outcome.rule.name, "column_name": outcome.rule.column,
                "blocking": outcome.rule.blocking, "success": not failing, "unexpected_count": len(failing),
                "sample": json.dumps([str(frame.iloc[i][outcome.rule.column.split(",")[0]]) for i in failing[:5]]) if failing and outcome.rule.column else None,
            })
            if outcome.rule.row_level:
                quarantine += [{"table_name": table, "day": day, "expectation": outcome.rule.name,
                                "row_payload": reject_payload(frame.iloc[i][payload_columns].to_dict())} for i in failing]
    if not outcomes:  # table without rows in the range: nothing to validate, still recorded
        results = []
    return pd.DataFrame(results), pd.DataFrame(quarantine, columns=["table_name", "day", "expectation", "row_payload"])


COMPUTED_RULE = "every symbol-day computed (ops.asset_notes)"
STORED_RULE = "every venue-day stored as delivered (ops.asset_notes)"


def computed_records(con, table: str, asset_path: list[str], days: list[dt.date], symbol: str) -> pd.DataFrame:
    """One validation row per day of `symbol` from the asset's notes, without blocking the other symbols.

    Level tables: did the asset compute every symbol of the day? A symbol-day that failed (or whose
    upstream failed) fails the rule, and its exports are withheld by the export assets themselves.
    Raw tables: was every venue-day stored as delivered? A file with no rows, none on a day of its
    span, or fewer rows than stored (the stored rows were kept) fails it.
    """
    raw = table.startswith("raw.")
    notes = con.execute(
        "select day, symbol || ': ' || message as note from ops.asset_notes where asset = ? and symbol = ? "
        "and (severity = 'error' or ?) and day between ? and ? order by day", ["/".join(asset_path), symbol, raw, min(days), max(days)]).fetch_df()
    by_day = notes.groupby(pd.to_datetime(notes["day"]).dt.date)["note"].apply(list).to_dict() if len(notes) else {}
    return pd.DataFrame([{"table_name": table, "day": day, "expectation": STORED_RULE if raw else COMPUTED_RULE,
                          "column_name": "symbol", "blocking": False,
                          "success": not by_day.get(day), "unexpected_count": len(by_day.get(day, [])),
                          "sample": json.dumps(by_day[day][:5]) if by_day.get(day) else None} for day in days])


def quarantine_query(table: str, symbol: str, days: list[dt.date]) -> str:
    """A query the user can paste as it is (table and dates are ours; the symbol passed the watchlist's
    symbol rule, letters, digits and a few separators, never a quote)."""
    return (f"select * from ops.quarantine where table_name = '{table}' and symbol = '{symbol}' "
            f"and day between date '{min(days)}' and date '{max(days)}' order by day")


def check_metadata(results: pd.DataFrame, quarantined: int, rows: int, table: str, symbol: str, days: list[dt.date]) -> dict:
    failed = results[~results["success"]] if len(results) else results
    summary = (
        failed.groupby(["expectation", "column_name", "blocking"], dropna=False)
        .agg(days_failed=("day", "nunique"), unexpected=("unexpected_count", "sum"), first_day=("day", "min"), sample=("sample", "first"))
        .reset_index()
    ) if len(failed) else pd.DataFrame()
    return {
        "rows_validated": dg.MetadataValue.int(rows),
        "expectations": dg.MetadataValue.int(int(results["expectation"].nunique()) if len(results) else 0),
        "failed_expectations": dg.MetadataValue.md(summary.astype(str).to_markdown(index=False) if len(summary) else "_every expectation passed_"),
        "failed_days": dg.MetadataValue.text(", ".join(sorted({str(d) for d in failed["day"]})) if len(failed) else "none"),
        "blocking_failures": dg.MetadataValue.int(int((~failed["success"] & failed["blocking"]).sum()) if len(failed) else 0),
        "quarantined_rows": dg.MetadataValue.int(quarantined),
        "quarantine_query": dg.MetadataValue.text(quarantine_query(table, symbol, days)),
    }


# Rows validated at once: a long single-run backfill at fine bars holds tens of millions of level
# rows, which do not fit in memory as one frame (a 365-day 5-minute backfill did not), so the days
# are validated in consecutive chunks of at most this many rows (a day is never split).
CHECK_CHUNK_ROWS = 1_000_000


def bounds(table: str, days: list[dt.date], symbol: str) -> list:
    """Query parameters [start, end) of consecutive `days` (dates for level tables, timestamps for raw
    ones) and the symbols [`symbol`]."""
    start, end = min(days), max(days) + dt.timedelta(days=1)
    if table.startswith("levels."):
        return [start, end, [symbol]]
    return [dt.datetime.combine(start, dt.time()), dt.datetime.combine(end, dt.time()), [symbol]]


def day_chunks(con, query: str, table: str, days: list[dt.date], symbol: str, budget: int = CHECK_CHUNK_ROWS) -> list[list[dt.date]]:
    """`days` (consecutive) in consecutive groups of at most `budget` rows of `query` (a day over the budget alone)."""
    counts = dict(con.execute(f"select partition_day, count(*) from ({query}) group by 1", bounds(table, days, symbol)).fetchall())
    chunks, current, size = [], [], 0
    for day in sorted(days):
        n = counts.get(day, 0)
        if current and size + n > budget:
            chunks.append(current)
            current, size = [], 0
        current.append(day)
        size += n
    return chunks + [current] if current else chunks


def target_materializations(context, asset_path: list[str], keys: list[str]) -> dict[str, object]:
    """{partition key: the partition's latest materialization of the checked asset}, which the UI links each
    evaluation to; read in pages of the newest first, not one query per partition."""
    # Dagster builds this pointer itself for a single partition; for a range there is no public API.
    from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData

    wanted, found, cursor = set(keys), {}, None
    while wanted - found.keys():
        page = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset_path), asset_partitions=sorted(wanted - found.keys())),
            limit=max(len(wanted), 100), cursor=cursor)
        for record in page.records:
            found.setdefault(record.partition_key, AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.event_log_entry.run_id, timestamp=record.timestamp))
        if not page.has_more:
            break
        cursor = page.cursor
    return found


def outcome(results: pd.DataFrame) -> tuple[bool, dg.AssetCheckSeverity]:
    """(passed, severity) of a check's results: any failure fails it; a blocking one makes it an error."""
    failed = results[~results["success"]] if len(results) else results
    blocking = bool(len(failed) and failed["blocking"].any())
    return not len(failed), dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN


def build_check(table: str, name: str = "suite") -> dg.AssetChecksDefinition:
    asset_path, query = CHECKED[table]

    @dg.asset_check(
        asset=dg.AssetKey(asset_path),
        name=name,
        description=f"Great Expectations suite of {table} (pipelines/lib/validation.py); blocking rules stop the exports.",
        blocking=True,
        partitions_def=symbol_day_partitions,
        pool=DUCKDB_POOL,
    )
    def _check(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource):
        days, symbols = partition_days(context), partition_symbols(context)
        per_partition, rows, quarantined = {}, 0, 0
        with warehouse(duckdb, context) as con:
            for symbol in symbols:
                parts, day_rows = [], {}
                for chunk in day_chunks(con, query, table, days, symbol):
                    frame = con.execute(query, bounds(table, chunk, symbol)).fetch_df()
                    parts.append(per_day_records(table, frame, validate(frame, suite_for(table)), chunk))
                    rows += len(frame)
                    if len(frame):
                        day_rows.update(pd.to_datetime(frame["partition_day"]).dt.date.value_counts().to_dict())
                    del frame  # one chunk in memory at a time
                results = pd.concat([p[0] for p in parts if len(p[0])] or [parts[0][0]], ignore_index=True)
                quarantine = pd.concat([p[1] for p in parts if len(p[1])] or [parts[0][1]], ignore_index=True)
                if name == "suite":
                    results = pd.concat([results, computed_records(con, table, asset_path, days, symbol)], ignore_index=True)
                for day in days:
                    day_results = results[results["day"] == day] if len(results) else results
                    day_quarantine = quarantine[quarantine["day"] == day] if len(quarantine) else quarantine
                    replace_validation(con, table, symbol, day, day_results, day_quarantine)
                    per_partition[(symbol, day)] = (day_results, day_quarantine, day_rows.get(day, 0))
                quarantined += len(quarantine)
        everything = pd.concat([r for r, _, _ in per_partition.values()], ignore_index=True)
        failed = everything[~everything["success"]] if len(everything) else everything
        passed, severity = outcome(everything)
        named = ", ".join(symbols) if len(symbols) <= 3 else f"{len(symbols)} symbols"
        report(context, f"{table} checks: {named}, {len(days)} days, {rows:,} rows, "
                        f"{failed[['day']].drop_duplicates().shape[0] if len(failed) else 0} days with failures "
                        f"({'none' if passed else 'blocking' if severity == dg.AssetCheckSeverity.ERROR else 'warnings only'})")
        if len(per_partition) == 1:
            (symbol, day), (day_results, _, _) = next(iter(per_partition.items()))
            yield dg.AssetCheckResult(passed=passed, severity=severity,
                                      metadata=check_metadata(day_results, quarantined, rows, table, symbol, days))
            return
        # A range: one evaluation per symbol-day, so each partition (and the check's list entry in the
        # UI) shows its own outcome. A check result of a range would belong to no partition.
        keys = {key: str(partition_key(*key)) for key in per_partition}
        targets = target_materializations(context, asset_path, list(keys.values()))
        for (symbol, day), (day_results, day_quarantine, day_rows) in per_partition.items():
            day_passed, day_severity = outcome(day_results)
            yield dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey(asset_path), check_name=name, passed=day_passed, partition=keys[(symbol, day)],
                severity=day_severity, blocking=True,
                metadata=check_metadata(day_results, len(day_quarantine), day_rows, table, symbol, [day]),
                target_materialization_data=targets.get(keys[(symbol, day)]))
        yield dg.Output(None, output_name="result")  # the check op's own output; the evaluations above are its results

    return _check


klines_suite = build_check("raw.klines")
open_interest_suite = build_check("raw.open_interest")
funding_suite = build_check("raw.funding")
liquidations_suite = build_check("raw.liquidations")
liquidation_history_suite = build_check("raw.liquidation_history")
objective_suite_check = build_check("levels.objective")
behavioral_suite_check = build_check("levels.behavioral")
heatmap_suite_check = build_check("levels.heatmap")
liquidation_map_suite_check = build_check("levels.liquidation_map")
clusters_suite_check = build_check("levels.clusters")
max_pain_suite_check = build_check("levels.max_pain")
liquidation_stats_suite_check = build_check("levels.liquidation_stats")
largest_liquidations_suite_check = build_check("levels.largest_liquidations", name="largest_liquidations_suite")
quality_suite_check = build_check("levels.quality")
leaderboard_suite_check = build_check("levels.leaderboard")
positions_suite = build_check("raw.positions")
measured_suite_check = build_check("levels.measured")
measured_similarity_suite_check = build_check("levels.measured_similarity")
