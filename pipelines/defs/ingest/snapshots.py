"""Hyperliquid open interest: no history endpoint exists, so we keep our own by polling."""

import os
from pathlib import Path

import dagster as dg

from pipelines.defs.resources import MarketSourceResource
from pipelines.lib.collector import snapshot_hyperliquid


@dg.asset(
    key=["landing", "hyperliquid_oi_snapshot"],
    group_name="landing",  # not part of the nightly day: it runs on its own 5-minute schedule
    kinds={"hyperliquid", "json"},
    description=(
        "The latest Hyperliquid `metaAndAssetCtxs` answer (OI in coins, mark price, hourly funding for every "
        "perp), landed under open_interest/hyperliquid. Polled every 5 minutes; the nightly raw.open_interest "
        "keeps the first snapshot of each hour."
    ),
)
def hyperliquid_oi_snapshot(context: dg.AssetExecutionContext, market_source: MarketSourceResource) -> dg.MaterializeResult:
    coins = snapshot_hyperliquid(Path(market_source.landing_root), env=os.environ)
    context.log.info(f"hyperliquid metaAndAssetCtxs: {coins} perps landed")
    return dg.MaterializeResult(metadata={"perps": dg.MetadataValue.int(coins)})


hyperliquid_oi_poll_job = dg.define_asset_job("hyperliquid_oi_poll", selection=[hyperliquid_oi_snapshot],
                                              description="Land one Hyperliquid OI snapshot.",
                                              tags={"liqlevels/venue": "hyperliquid"})  # deploy/dagster.yaml: per-venue run limits

hyperliquid_oi_poll_schedule = dg.ScheduleDefinition(
    job=hyperliquid_oi_poll_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
