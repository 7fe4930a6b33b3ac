"""Daily exports: level files (CSV/Parquet/JSON) and Pine v6 overlays per symbol, a manifest per
day and a `latest/` copy. They sit downstream of the level tables and their blocking checks, so a
day that fails validation is never exported."""

import datetime as dt

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from pine.render import render
from pipelines.defs.partitions import partition_days, symbol_day_partitions
from pipelines.defs.resources import DUCKDB_POOL, ExportsResource, WatchlistResource, warehouse
from pipelines.lib.exports import (day_dir, level_file_rows, measured_rows, read_level_file, refresh_latest, write_atomic,
                                   write_level_files, write_manifest)
from pipelines.lib.margin import ALL_VENUES
from pipelines.lib.charts import markdown_image
from pipelines.lib.market import INTERVAL_SECONDS, price_venue
from pipelines.lib.pictures import picture_job, render_pictures
from pipelines.lib.progress import report
from pipelines.lib.workers import thunks
from pipelines.defs.symbol_days import SymbolDays

LEVEL_FILES = ("levels.csv", "levels.parquet", "levels.json")
LEVEL_FILES_KEY = ["exports", "level_files"]
PINE_PRESET = "default"  # one preset and the cross-venue aggregate, so no position is drawn twice


def pine_file_name(symbol: str) -> str:
    return f"{symbol}_liquidation_levels.pine"


def objective_rows(con, day: dt.date, symbol: str) -> pd.DataFrame:
    return con.execute("select * from levels.objective where as_of = ? and symbol = ? order by level_id", [day, symbol]).fetch_df()


def behavioral_rows(con, day: dt.date, symbol: str) -> pd.DataFrame:
    return con.execute("select * from levels.behavioral where as_of = ? and symbol = ? order by pool_id", [day, symbol]).fetch_df()


def measured_zone_rows(con, day: dt.date, symbol: str) -> pd.DataFrame | None:
    """The measured zones of the symbol-day as level-file rows (Hyperliquid symbols with a scan), else None."""
    zones = con.execute("select * from levels.clusters where as_of = ? and symbol = ? and source = 'measured' order by cluster_id",
                        [day, symbol]).fetch_df()
    snapshot = con.execute("select snapshot_ts, scan_end from levels.measured_snapshots where as_of = ? and symbol = ? "
                           "order by snapshot_ts desc limit 1", [day, symbol]).fetchone()
    return measured_rows(zones, *snapshot) if len(zones) and snapshot else None


def source_venues(con, day: dt.date, symbol: str) -> list[str]:
    """Venues whose OI fed the symbol's levels in the 30 days before and on `day`."""
    rows = con.execute(
        "select distinct venue from raw.open_interest where symbol = ? and ts >= ? and ts < ? order by venue",
        [symbol, dt.datetime.combine(day - dt.timedelta(days=30), dt.time()), dt.datetime.combine(day + dt.timedelta(days=1), dt.time())],
    ).fetchall()
    return [r[0] for r in rows]


def _paths_table(written: list[dict]) -> dg.MetadataValue:
    return dg.MetadataValue.md(pd.DataFrame(written).tail(40).to_markdown(index=False) if written else "_nothing written_")


@dg.asset(
    key=["exports", "level_files"],
    group_name="exports",
    kinds={"csv", "parquet", "json"},
    deps=[dg.AssetKey(["levels", "objective"]), dg.AssetKey(["levels", "behavioral"]), dg.AssetKey(["levels", "clusters"])],
    partitions_def=symbol_day_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
)
def level_files(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource,
                exports: ExportsResource) -> dg.MaterializeResult:
    """Per day and symbol, exports/<day>/<SYMBOL>/levels.csv, .parquet and .json (one documented,
    versioned schema: every level standing that day, all methods, presets and venues), plus the
    day's manifest.json (SHA-256 and row count of every file) and exports/latest/<SYMBOL>/."""
    written = []
    specs = watchlist.partition_specs(context)
    with warehouse(duckdb, context) as con:
        work = SymbolDays(context, con, LEVEL_FILES_KEY, upstream=(["levels", "objective"], ["levels", "behavioral"]))
        for day in partition_days(context):
            for spec in specs:
                def one():
                    rows = level_file_rows(objective_rows(con, day, spec.symbol), behavioral_rows(con, day, spec.symbol),
                                           INTERVAL_SECONDS[spec.interval], measured_zone_rows(con, day, spec.symbol))
                    paths = write_level_files(exports.path, day, spec.symbol, rows)
                    written.append({"day": day.isoformat(), "symbol": spec.symbol, "rows": len(rows), "csv": str(paths[0])})

                work.run(spec.symbol, day, one)
            write_manifest(exports.path, day)
            report(context, f"{day} exports: level files for {len(specs)} symbols")
    report(context, f"exports: level files for {len(written)} symbol-days")
    for spec in specs:
        refresh_latest(exports.path, spec.symbol, LEVEL_FILES)
    return dg.MaterializeResult(metadata={
        **work.metadata(),
        "files": dg.MetadataValue.int(3 * len(written)),
        "rows": dg.MetadataValue.int(sum(w["rows"] for w in written)),
        "written": _paths_table(written),
        "latest": dg.MetadataValue.path(str(exports.path / "latest")),
    })


@dg.asset(
    key=["exports", "pine_scripts"],
    group_name="exports",
    kinds={"pine"},
    deps=[dg.AssetKey(["levels", "objective"]), dg.AssetKey(["levels", "behavioral"]), dg.AssetKey(["exports", "level_files"])],
    partitions_def=symbol_day_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
)
def pine_scripts(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource,
                 exports: ExportsResource) -> dg.MaterializeResult:
    """Per day and symbol, exports/<day>/<SYMBOL>/<SYMBOL>_liquidation_levels.pine: a TradingView
    Pine v6 overlay with the day's strongest 500 active levels embedded: objective (default preset,
    all venues) and behavioral pools of the price venue, each ranked by strength within its method."""
    written = []
    specs = watchlist.partition_specs(context)
    with warehouse(duckdb, context) as con:
        work = SymbolDays(context, con, ["exports", "pine_scripts"], upstream=(LEVEL_FILES_KEY,))
        for day in partition_days(context):
            for spec in specs:
                work.run(spec.symbol, day, lambda: write_pine(con, exports, day, spec, written))
            write_manifest(exports.path, day)
            report(context, f"{day} exports: Pine scripts for {len(specs)} symbols")
    report(context, f"exports: Pine scripts for {len(written)} symbol-days")
    for spec in specs:
        refresh_latest(exports.path, spec.symbol, LEVEL_FILES + (pine_file_name(spec.symbol),))
    return dg.MaterializeResult(metadata={
        **work.metadata(),
        "scripts": dg.MetadataValue.int(len(written)),
        "written": _paths_table(written),
        "example": dg.MetadataValue.path(written[-1]["path"]) if written else dg.MetadataValue.text("none"),
    })


def write_pine(con, exports: ExportsResource, day: dt.date, spec, written: list[dict]) -> None:
    """The Pine overlay of one symbol-day, from its published level file."""
    # The level file of this symbol-day (upstream asset) already holds every level: read it, not the tables again.
    rows = read_level_file(exports.path, day, spec.symbol)
    start, end = dt.datetime.combine(day, dt.time()), dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    pool_venue = price_venue(con, spec.symbol, list(spec.listings), spec.interval, start, end)
    objective = (rows["method"] == "objective") & (rows["preset"] == PINE_PRESET) & (rows["venue"] == ALL_VENUES)
    behavioral = (rows["method"] == "behavioral") & (rows["venue"] == pool_venue)
    measured = rows["method"] == "measured"  # Hyperliquid's real positions: an input of the overlay toggles them
    active = rows[(rows["status"] == "active") & (objective | behavioral | measured)]
    source = render(active, symbol=spec.symbol, as_of=day, venues=source_venues(con, day, spec.symbol),
                    tick_size=spec.tick_size, generated_at=dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))
    path = write_atomic(day_dir(exports.path, day) / spec.symbol / pine_file_name(spec.symbol), source.encode())
    written.append({"day": day.isoformat(), "symbol": spec.symbol, "levels": min(len(active), 500), "path": str(path)})


@dg.asset(
    key=["exports", "pictures"],
    group_name="exports",
    kinds={"png"},
    deps=[dg.AssetKey(["levels", "heatmap"]), dg.AssetKey(["levels", "liquidation_map"]), dg.AssetKey(["levels", "max_pain"]),
          dg.AssetKey(["exports", "pine_scripts"])],
    partitions_def=symbol_day_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
)
def pictures(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource,
             exports: ExportsResource) -> dg.MaterializeResult:
    """Per day and symbol, exports/<day>/<SYMBOL>/heatmap.png (the last 7 days at the bars' own
    interval: active liquidation USD under the candles, last close labelled) and liquidation_map.png
    (USD per leverage tier, cumulative long and short curves, close and max-pain prices). The run's
    last day also gets heatmap_30d.png. Ranges and colour scale: the exports resource."""
    settings = exports.pictures()
    specs = watchlist.partition_specs(context)
    days = list(partition_days(context))
    jobs = []
    with warehouse(duckdb, context) as con:
        work = SymbolDays(context, con, ["exports", "pictures"],
                          upstream=(["levels", "heatmap"], ["levels", "liquidation_map"], ["levels", "max_pain"]))

        def picture_inputs(day: dt.date, spec) -> None:
            job = picture_job(con, spec, day, settings, last_of_run=day == days[-1])
            if job is None:
                work.warn(f"no {spec.interval} candles on any venue: no pictures")
                return
            jobs.append((day, spec.symbol, day_dir(exports.path, day) / spec.symbol, job))

        for day in days:
            for spec in specs:
                work.run(spec.symbol, day, lambda: picture_inputs(day, spec))
        # Rendering is CPU-bound matplotlib work with no warehouse access: spread it over the cores,
        # unless there are too few pictures to pay for starting the workers.
        renders = thunks(render_pictures, [(job[3],) for job in jobs])
        rendered = [work.run(job[1], job[0], render) for job, render in zip(jobs, renders)]
    written, shown = [], {}
    for (day, symbol, folder, _), pngs in zip(jobs, rendered):
        if pngs is None:
            continue
        for name, png in pngs.items():
            write_atomic(folder / name, png)
        work.count(symbol, day, pictures=len(pngs))
        written.append({"day": day.isoformat(), "symbol": symbol, "pictures": ", ".join(sorted(pngs)), "folder": str(folder)})
        shown = {"symbol": symbol, **pngs}
    for day in days:
        write_manifest(exports.path, day)
    report(context, f"exports: pictures for {len(written)} symbol-days")
    for spec in specs:
        refresh_latest(exports.path, spec.symbol, LEVEL_FILES + (pine_file_name(spec.symbol), "heatmap.png", "liquidation_map.png"))
    metadata = {**work.metadata(), "pictures": dg.MetadataValue.int(sum(len(w["pictures"].split(", ")) for w in written)),
                "written": _paths_table(written)}
    # Each picture its own metadata entry, so the UI shows it inline rather than inside a table.
    for name, png in shown.items():
        if name != "symbol":
            metadata[name.removesuffix(".png")] = dg.MetadataValue.md(markdown_image(png, f"{shown['symbol']} {name}"))
    return dg.MaterializeResult(metadata=metadata)
