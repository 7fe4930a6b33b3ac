import datetime as dt

import dagster as dg

from pipelines.defs.partitions import add_symbols, last_partition_day, partition_key

# Everything, for the nightly partitions: ingest, then (as they land) levels, checks and exports.
# (Not the landing group: the Hyperliquid OI poll and position scans run on their own schedules.)
nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("landing"),
    description="Ingest (live exchange APIs + landed streams by default), levels, checks and exports for symbol-days "
                "(partitions `<day>|<symbol>`).",
    # it calls every venue's API: deploy/dagster.yaml caps how many such runs (and per-venue runs) share the rate limits
    tags={"liqlevels/venue": "all"},
)


def nightly_requests(instance: dg.DagsterInstance, symbols: list[str], day: dt.date) -> list[dg.RunRequest]:
    """One run per watchlist symbol for `day`: each symbol-day runs, retries and is checked on its own,
    and the run queue (deploy/dagster.yaml) decides how many go at once. Symbols new to the watchlist
    become keys of the symbol dimension here: a new symbol needs no code."""
    # A schedule cannot return dynamic-partition requests (only sensors can): the keys are added through
    # the instance, which is what such a request does.
    add_symbols(instance, symbols)
    return [dg.RunRequest(run_key=str(partition_key(symbol, day)), partition_key=partition_key(symbol, day)) for symbol in symbols]


# 00:30 UTC every day, for the day that just ended (the last complete day), every symbol of the watchlist.
@dg.schedule(job=nightly_job, cron_schedule="30 0 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def nightly_schedule(context: dg.ScheduleEvaluationContext):
    from pipelines.lib.paths import watchlist_path
    from pipelines.lib.watchlist import load_watchlist

    day = last_partition_day(context.scheduled_execution_time)
    symbols = [spec.symbol for spec in load_watchlist(watchlist_path()).select(None)]
    if not symbols:
        return dg.SkipReason(f"the watchlist {watchlist_path()} has no symbols")
    return nightly_requests(context.instance, symbols, day)
