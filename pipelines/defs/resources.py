"""Resources shared by every domain: the warehouse, the watchlist and the files source."""


import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from pipelines.lib import files_source
from pipelines.lib.normalize import Normalized
from pipelines.lib.paths import data_root, exports_root, warehouse_path, watchlist_path
from pipelines.lib.warehouse import migrate
from pipelines.lib.watchlist import Watchlist, load_watchlist

# Every step that opens the DuckDB file runs in this pool; dagster.yaml limits it to 1.
DUCKDB_POOL = "duckdb"


@contextmanager
def warehouse(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with the schema migrated to the current version."""
    with resource.get_connection() as con:
        migrate(con)
        yield con


class WatchlistResource(dg.ConfigurableResource):
    """The watchlist file; `symbols` narrows a run to some of its symbols (empty = all)."""

    path: str
    symbols: list[str] = []

    def load(self) -> Watchlist:
        return load_watchlist(self.path)

    def selected(self):
        return self.load().listings(self.symbols or None)


class FilesSourceResource(dg.ConfigurableResource):
    """Market data from the files-source folder layout (bundled demo data by default)."""

    root: str

    def load_day(self, table: str, venue: str, symbol: str, day: dt.date) -> tuple[Normalized, str] | None:
        return files_source.load_day(Path(self.root), table, venue, symbol, day)


class ExportsResource(dg.ConfigurableResource):
    """Where the daily files and Pine scripts go (`LIQLEVELS_EXPORTS`, default exports/)."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "duckdb": DuckDBResource(database=str(warehouse_path())),
            "watchlist": WatchlistResource(path=str(watchlist_path())),
            "files_source": FilesSourceResource(root=str(data_root())),
            "exports": ExportsResource(root=str(exports_root())),
        }
    )
