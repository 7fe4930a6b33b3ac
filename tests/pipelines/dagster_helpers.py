"""Shared helpers for tests that run real Dagster materializations."""

import datetime as dt
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_duckdb import DuckDBResource

from pipelines.defs.partitions import SYMBOLS, add_symbols, partition_key
from pipelines.defs.resources import ExportsResource, MarketSourceResource, WatchlistResource
from pipelines.lib.paths import exports_root
from pipelines.definitions import defs as load_defs
from pipelines.lib.watchlist import load_watchlist
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


def symbol_range_tags(instance: dg.DagsterInstance, start: dt.date, end: dt.date, symbols) -> dict[str, str]:
    """Range tags of one run over the days [start, end] × `symbols` (made keys of the symbol dimension,
    in this order; they must be neighbours in it, since a run's range is a rectangle of keys)."""
    symbols = list(symbols)
    add_symbols(instance, symbols)
    known = instance.get_dynamic_partitions(SYMBOLS)
    positions = [known.index(s) for s in symbols]
    if positions != list(range(positions[0], positions[0] + len(symbols))):
        raise ValueError(f"symbols {symbols} are not neighbours among the instance's keys {known}: use one run per symbol")
    return {ASSET_PARTITION_RANGE_START_TAG: str(partition_key(symbols[0], start)),
            ASSET_PARTITION_RANGE_END_TAG: str(partition_key(symbols[-1], end))}


def run_range(warehouse_file: Path, groups, start: dt.date, end: dt.date, symbols=("BTC",), data_root: Path = BUNDLED_DATA,
              raise_on_error: bool = True, exports: Path | None = None, watchlist: Path = WATCHLIST,
              instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """One run of the assets (and their checks) in `groups` over the partitions [start, end] × `symbols`
    (on an ephemeral instance unless one is given)."""
    instance = instance or dg.DagsterInstance.ephemeral()
    return dg.materialize(
        assets_in_group(*groups),
        resources=resources(warehouse_file, data_root=data_root, exports=exports, watchlist=watchlist),
        instance=instance,
        tags=symbol_range_tags(instance, start, end, symbols),
        raise_on_error=raise_on_error,
    )


def materialize_day(warehouse_file: Path, day: dt.date, groups=("ingest",), raise_on_error: bool = True,
                    symbols: list[str] | None = None, watchlist: Path = WATCHLIST, **kwargs) -> dg.ExecuteInProcessResult:
    """One day of `symbols` (all of the watchlist's by default) in one run."""
    instance = dg.DagsterInstance.ephemeral()
    symbols = symbols or [spec.symbol for spec in load_watchlist(watchlist).select(None)]
    return dg.materialize(
        assets_in_group(*groups),
        resources=resources(warehouse_file, watchlist=watchlist, **kwargs),
        tags=symbol_range_tags(instance, day, day, symbols),
        instance=instance,
        raise_on_error=raise_on_error,
    )
