"""Resources shared by every domain: the warehouse, the watchlist, the market source and exports."""


import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
import os
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from pydantic import PrivateAttr

from pipelines.lib.exchanges.live import HttpSettings, LiveSource, Loaded, Skipped
from pipelines.lib.pictures import PictureSettings
from pipelines.lib.lake import LakeError, lake_for
from pipelines.lib.paths import data_root, lake_url, exports_root, landing_root, source_mode, warehouse_path, watchlist_path
from pipelines.lib.warehouse import WarehouseFileError, check_warehouse_file, migrate
from pipelines.lib.watchlist import DEFAULT_INTERVAL, Listing, SymbolSpec, Watchlist, load_watchlist

# Every step that opens the DuckDB file runs in this pool; dagster.yaml limits it to 1. On a lake
# (LIQLEVELS_LAKE) a step takes no lock and writes only its own partitions: no pool, steps run at once.
DUCKDB_POOL = None if lake_url() else "duckdb"


@contextmanager
def warehouse(resource: DuckDBResource, context=None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with the schema migrated to the current version.

    With a lake (`LIQLEVELS_LAKE`) the step reads and writes the lake through an in-memory DuckDB
    connection: it takes no lock on the warehouse file, so steps of any number of processes run at once.
    Given the step's `context` of a partitioned run, that connection reads only the run's symbols'
    partitions (what a symbol's step reads is its own), so a symbol-night costs the same in a lake of
    8 symbols as of 500.
    A warehouse file that is not a DuckDB database fails the step at once, without retries.
    """
    url = lake_url()
    if url is not None:
        try:
            lake = lake_for(url)
        except LakeError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        with lake.connect(_run_symbols(context)) as con:  # `warehouse.connect`'s connection, scoped to the run
            yield con
        return
    try:
        check_warehouse_file(resource.database)
    except WarehouseFileError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    with resource.get_connection() as con:
        migrate(con)
        yield con


def _run_symbols(context) -> list[str] | None:
    """The symbols of a partitioned step's run; None (all) without a context or partitions."""
    if context is None or not (context.has_partition_key or context.has_partition_key_range):
        return None
    from pipelines.defs.partitions import partition_symbols

    return partition_symbols(context)


class WatchlistResource(dg.ConfigurableResource):
    """The watchlist file. Partitioned assets take their symbols from the run's partitions
    (`partition_specs`); `symbols` narrows the unpartitioned ones (the position scan) to some (empty = all)."""

    path: str
    symbols: list[str] = []

    def load(self) -> Watchlist:
        return load_watchlist(self.path)

    def specs(self) -> list[SymbolSpec]:
        """The symbols of this run (all of the watchlist when `symbols` is empty), parsed once per call."""
        return self.load().select(self.symbols or None)

    def selected(self):
        return self.load().listings(self.symbols or None)

    def partition_specs(self, context) -> list[SymbolSpec]:
        """The symbols of the run's partitions (their symbol dimension), as the watchlist defines them;
        a partition symbol the watchlist does not hold is a WatchlistError naming it."""
        from pipelines.defs.partitions import partition_symbols

        return self.load().select(partition_symbols(context))

    def partition_listings(self, context):
        """(spec, listing) of every venue of the run's partition symbols."""
        from pipelines.defs.partitions import partition_symbols

        return self.load().listings(partition_symbols(context))


class MarketSourceResource(dg.ConfigurableResource):
    """Where raw rows come from.

    `live` (the nightly default): the venues' REST APIs at `LIQLEVELS_<VENUE>_REST_URL`, plus the
    landing folder the stream collector and the Hyperliquid OI poll write. `files`: the files-source
    layout under `files_root` (the bundled demo data, or a user's own files).
    """

    mode: str = "live"
    files_root: str
    landing_root: str
    http_timeout_seconds: float = 30.0
    http_retries: int = 5
    http_backoff_seconds: float = 0.5
    # A file with fewer rows for a day than the warehouse holds (header-only, cut short) keeps the stored
    # rows and says so; set this to let such a file replace them.
    replace_shorter: bool = False

    _live: LiveSource | None = PrivateAttr(default=None)

    @property
    def live(self) -> bool:
        if self.mode not in ("live", "files"):
            raise ValueError(f"market_source.mode must be 'live' or 'files', got {self.mode!r}")
        return self.mode == "live"

    def live_source(self) -> LiveSource:
        if self._live is None:
            settings = HttpSettings(self.http_timeout_seconds, self.http_retries, self.http_backoff_seconds)
            self._live = LiveSource(Path(self.landing_root), settings=settings)
        return self._live

    def teardown_after_execution(self, context) -> None:
        if self._live is not None:
            self._live.close()

    def load_day(self, table: str, listing: Listing, symbol: str, day: dt.date, interval: str = DEFAULT_INTERVAL) -> Loaded | Skipped | None:
        """One day of `table` for (venue, symbol) from the venue's API, in bars of `interval` (the
        symbol's). The files source is read by range instead (`pipelines.lib.files_source.load_range`)."""
        if not self.live:
            raise ValueError("market_source.load_day serves the live source; files are read with files_source.load_range")
        return self.live_source().load_day(table, listing, symbol, day, interval)


class ExportsResource(dg.ConfigurableResource):
    """Where the daily files and Pine scripts go (`LIQLEVELS_EXPORTS`, default exports/), and which
    heatmaps are drawn: `heatmap_days` for every day (`LIQLEVELS_HEATMAP_DAYS`, default 7), also
    `extra_heatmap_days` for a run's last day (`LIQLEVELS_HEATMAP_EXTRA_DAYS`, comma-separated,
    default 30), colour scale `log` or `quantile` (`LIQLEVELS_HEATMAP_SCALE`)."""

    root: str
    heatmap_days: int = 7
    extra_heatmap_days: list[int] = [30]
    heatmap_scale: str = "log"

    @property
    def path(self) -> Path:
        return Path(self.root)

    def pictures(self) -> PictureSettings:
        return PictureSettings(self.heatmap_days, tuple(self.extra_heatmap_days), self.heatmap_scale)


def exports_resource(root: str | None = None) -> ExportsResource:
    """The exports resource as the environment configures it; a bad value fails here, naming the variable."""
    env = os.environ
    try:
        days = int(env.get("LIQLEVELS_HEATMAP_DAYS", "7"))
        extra = [int(part) for part in env.get("LIQLEVELS_HEATMAP_EXTRA_DAYS", "30").split(",") if part.strip()]
    except ValueError as error:
        raise ValueError(f"LIQLEVELS_HEATMAP_DAYS / LIQLEVELS_HEATMAP_EXTRA_DAYS must be whole days: {error}") from None
    resource = ExportsResource(root=root or str(exports_root()), heatmap_days=days, extra_heatmap_days=extra,
                               heatmap_scale=env.get("LIQLEVELS_HEATMAP_SCALE", "log"))
    resource.pictures()  # validates the ranges and the scale now, not at the first picture
    return resource


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "duckdb": DuckDBResource(database=str(warehouse_path())),
            "watchlist": WatchlistResource(path=str(watchlist_path())),
            "market_source": MarketSourceResource(mode=source_mode(), files_root=str(data_root()),
                                                  landing_root=str(landing_root())),
            "exports": exports_resource(),
        }
    )
