"""Shared helpers for tests that run real Dagster materializations."""

import datetime as dt
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.defs.resources import FilesSourceResource, WatchlistResource
from pipelines.definitions import defs as load_defs
from tests.conftest import BUNDLED_DATA, WATCHLIST


def definitions() -> dg.Definitions:
    return load_defs()


def resources(warehouse_file: Path, data_root: Path = BUNDLED_DATA, symbols: list[str] | None = None) -> dict:
    return {
        "duckdb": DuckDBResource(database=str(warehouse_file)),
        "watchlist": WatchlistResource(path=str(WATCHLIST), symbols=symbols or []),
        "files_source": FilesSourceResource(root=str(data_root)),
    }


def assets_in_group(*groups: str) -> list[dg.AssetsDefinition]:
    repo = definitions()
    return [a for a in repo.assets if isinstance(a, dg.AssetsDefinition) and a.group_names_by_key
            and set(a.group_names_by_key.values()) & set(groups)]


def materialize_day(warehouse_file: Path, day: dt.date, groups=("ingest",), **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets_in_group(*groups),
        resources=resources(warehouse_file, **kwargs),
        partition_key=day.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
    )
