import dagster as dg

# Everything, for the nightly partition: ingest, then (as they land) levels, checks and exports.
# (Not the landing group: the Hyperliquid OI poll and position scans run on their own schedules.)
nightly_job = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("landing"),
    description="Ingest (live exchange APIs + landed streams by default), levels, checks and exports for one UTC day.",
    # it calls every venue's API: deploy/dagster.yaml caps how many such runs (and per-venue runs) share the rate limits
    tags={"liqlevels/venue": "all"},
)

# 00:30 UTC every day, for the day that just ended (the last complete partition).
nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly_job,
    hour_of_day=0,
    minute_of_hour=30,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
