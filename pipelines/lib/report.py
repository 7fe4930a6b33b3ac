"""The validation report: every check of every day, from ops.validation_results."""

from __future__ import annotations

import datetime as dt

import textwrap

import duckdb
import pandas as pd

SUMMARY_WIDTH = 100  # what a person's terminal shows: the demo and run summaries fit it
NOT_COMPUTED = "not computed: "  # how a note says a symbol-day was skipped because an upstream asset failed


def day_outcomes(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Per day: expectations evaluated, blocking failures, warnings, and what failed."""
    return con.execute(
        """
        select day, count(*) as expectations,
               count(*) filter (where not success and blocking) as blocking_failures,
               count(*) filter (where not success and not blocking) as warnings,
               string_agg(distinct case when not success then table_name || ': ' || expectation end, '; ') as failed
        from ops.validation_results where day between ? and ? group by day order by day
        """,
        [start, end],
    ).fetch_df()


def validation_report(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> str:
    rows = con.execute(
        "select day, table_name, expectation, column_name, blocking, success, unexpected_count, sample "
        "from ops.validation_results where day between ? and ? order by day, table_name, expectation",
        [start, end],
    ).fetch_df()
    days = day_outcomes(con, start, end)
    quarantined = con.execute("select count(*) from ops.quarantine where day between ? and ?", [start, end]).fetchall()[0][0]
    lines = [
        f"# liqlevels validation report, {start} → {end}",
        "",
        f"{len(days)} days, {len(rows)} expectation results, "
        f"{int(days['blocking_failures'].sum()) if len(days) else 0} blocking failures, "
        f"{int(days['warnings'].sum()) if len(days) else 0} warnings, {quarantined} quarantined rows "
        "(`select * from ops.quarantine`). Blocking failures stop that day's levels and exports.",
        "",
        "## Per day",
        "",
        days.assign(day=days["day"].astype(str), failed=days["failed"].fillna("")).to_markdown(index=False) if len(days) else "_no checks ran_",
        "",
        "## Every check",
        "",
    ]
    if len(rows):
        rows = rows.assign(day=rows["day"].astype(str), result=rows["success"].map({True: "pass", False: "FAIL"}),
                           kind=rows["blocking"].map({True: "blocking", False: "warning"}))
        lines.append(rows[["day", "table_name", "expectation", "column_name", "kind", "result", "unexpected_count", "sample"]]
                     .fillna("").to_markdown(index=False))
    return "\n".join(lines) + "\n"


def asset_notes(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> list[tuple]:
    """(day, symbol, asset, severity, message) of ops.asset_notes in [start, end], errors first."""
    return con.execute("select day, symbol, asset, severity, message from ops.asset_notes where day between ? and ? "
                       "order by severity, day, symbol, asset", [start, end]).fetchall()


def notes_summary(notes: list[tuple], start: dt.date, end: dt.date, limit: int = 20) -> tuple[list[str], int]:
    """(summary lines, symbol-days failed): the root causes one line each; assets only withheld because
    of them are counted, not repeated."""
    if not notes:
        return [], 0
    failed = {(day, symbol) for day, symbol, _, severity, _ in notes if severity == "error"}
    shown = [n for n in notes if not (n[3] == "error" and n[4].startswith(NOT_COMPUTED))]
    withheld = len(notes) - len(shown)
    warnings = sum(1 for n in notes if n[3] == "warning")
    lines = [f"Notes (ops.asset_notes): {len(failed)} symbol-days failed, their exports withheld; {warnings} warnings:"]
    for day, symbol, asset, severity, message in shown[:limit]:
        lines += textwrap.wrap(f"  {'ERROR' if severity == 'error' else 'warning'} {day} {symbol} {asset}: {message}",
                               SUMMARY_WIDTH, subsequent_indent="      ")
    if withheld:
        lines.append(f"  ({withheld} downstream asset-days not computed because of the errors above)")
    if len(shown) > limit:
        lines.append(f"  … {len(shown) - limit} more: select * from ops.asset_notes where day between '{start}' and '{end}'")
    return lines, len(failed)
