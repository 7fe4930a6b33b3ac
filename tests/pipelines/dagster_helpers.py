"""Shared helpers for tests that run real Dagster materializations."""

import datetime as dt
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_duckdb import DuckDBResource

from pipelines.defs.resources import ExportsResource, MarketSourceResource, WatchlistResource
from pipelines.lib.paths import exports_root
from pipelines.definitions import defs as load_defs
from tests.conftest import BUNDLED_DATA, WATCHLIST


def definitions() -> dg.Definitions:
    return load_defs()


def resources(warehouse_file: Path, data_root: Path = BUNDLED_DATA, symbols: list[str] | None = None,
              exports: Path | None = None, watchlist: Path = WATCHLIST) -> dict:
    return {
        "duckdb": DuckDBResource(database=str(warehouse_file)),
        "watchlist": WatchlistResource(path=str(watchlist), symbols=symbols or []),
        "market_source": MarketSourceResource(mode="files", files_root=str(data_root), landing_root=str(data_root / "landing")),
        "exports": ExportsResource(root=str(exports or exports_root())),  # tests set LIQLEVELS_EXPORTS to a tmp dir
    }


def assets_in_group(*groups: str) -> list:
    """The assets of `groups` plus the asset checks that target them."""
    repo = definitions()
    assets = [a for a in repo.assets if isinstance(a, dg.AssetsDefinition) and a.group_names_by_key
              and set(a.group_names_by_key.values()) & set(groups)]
    keys = {k for a in assets for k in a.keys}
    checks = [c for c in (repo.asset_checks or []) if {k.asset_key for k in c.check_keys} & keys]
    return assets + checks


def run_range(warehouse_file: Path, groups, start: dt.date, end: dt.date, symbols=("BTC",), data_root: Path = BUNDLED_DATA,
              raise_on_error: bool = True, exports: Path | None = None, watchlist: Path = WATCHLIST,
              instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """One single-run backfill of the assets (and their checks) in `groups` over [start, end]
    (on an ephemeral instance unless one is given)."""
    return dg.materialize(
        assets_in_group(*groups),
        resources=resources(warehouse_file, data_root=data_root, symbols=list(symbols), exports=exports, watchlist=watchlist),
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags={ASSET_PARTITION_RANGE_START_TAG: start.isoformat(), ASSET_PARTITION_RANGE_END_TAG: end.isoformat()},
        raise_on_error=raise_on_error,
    )


def materialize_day(warehouse_file: Path, day: dt.date, groups=("ingest",), raise_on_error: bool = True, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets_in_group(*groups),
        resources=resources(warehouse_file, **kwargs),
        partition_key=day.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )
