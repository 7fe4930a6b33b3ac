"""DuckDB warehouse: schema migrations and idempotent partition writes.

All timestamps are stored as naive `TIMESTAMP` in UTC. Every write owned by a
(table, venue, symbol, day) partition is delete-then-insert inside one transaction, so a
rerun of a day leaves byte-identical tables.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

# Ordered migrations; each entry runs once, in one transaction, and bumps ops.schema_version.
# Never edit a shipped migration: append a new one.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "raw tables, rejects",
        [
            "create schema if not exists raw",
            "create schema if not exists levels",
            "create schema if not exists ops",
            """create table raw.klines (
                venue varchar not null, symbol varchar not null, interval varchar not null,
                ts timestamp not null,
                open double not null, high double not null, low double not null, close double not null,
                volume double not null, quote_volume double, taker_buy_volume double,
                primary key (venue, symbol, interval, ts))""",
            """create table raw.open_interest (
                venue varchar not null, symbol varchar not null, interval varchar not null,
                ts timestamp not null, oi_base double, oi_usd double not null,
                primary key (venue, symbol, interval, ts))""",
            """create table raw.funding (
                venue varchar not null, symbol varchar not null, ts timestamp not null,
                rate double not null,
                primary key (venue, symbol, ts))""",
            """create table raw.liquidations (
                venue varchar not null, symbol varchar not null, ts timestamp not null,
                side varchar not null, price double not null, qty_base double not null,
                usd double not null, source varchar not null,
                primary key (venue, symbol, ts, side, price, qty_base))""",
            """create table ops.rejects (
                table_name varchar not null, venue varchar not null, symbol varchar not null,
                day date, source varchar not null, field varchar not null, reason varchar not null,
                payload varchar not null)""",
        ],
    ),
]

MIGRATIONS.append(
    (
        2,
        "objective levels",
        [
            """create table levels.objective (
                as_of date not null, level_id varchar not null, preset varchar not null,
                venue varchar not null, symbol varchar not null, side varchar not null,
                leverage integer not null, created_ts timestamp not null,
                base_price double not null, liq_price double not null,
                initial_notional_usd double not null, notional_usd double not null,
                size_class varchar not null, filled_ts timestamp, expires_ts timestamp not null,
                status varchar not null, liq_model varchar not null,
                primary key (as_of, level_id))""",
        ],
    )
)

MIGRATIONS.append(
    (
        3,
        "validation results and quarantine",
        [
            """create table ops.validation_results (
                table_name varchar not null, day date not null, expectation varchar not null,
                column_name varchar, blocking boolean not null, success boolean not null,
                unexpected_count bigint not null, sample varchar,
                primary key (table_name, day, expectation))""",
            """create table ops.quarantine (
                table_name varchar not null, day date not null, expectation varchar not null,
                row_payload varchar not null)""",
        ],
    )
)

MIGRATIONS.append(
    (
        4,
        "behavioral levels, heatmap, liquidation map, clusters, max pain, liquidation statistics",
        [
            """create table levels.behavioral (
                as_of date not null, pool_id varchar not null, venue varchar not null, symbol varchar not null,
                side varchar not null, created_ts timestamp not null, price double not null, weight double not null,
                swept_ts timestamp, status varchar not null, primary key (as_of, pool_id))""",
            """create table levels.heatmap (
                as_of date not null, symbol varchar not null, ts timestamp not null, bin_low double not null,
                bin_high double not null, long_usd double not null, short_usd double not null,
                primary key (as_of, symbol, ts, bin_low))""",
            """create table levels.liquidation_map (
                as_of date not null, symbol varchar not null, close double not null, bin_low double not null,
                bin_high double not null, long_usd double not null, short_usd double not null,
                long_cum_usd double not null, short_cum_usd double not null, usd_10x double not null,
                usd_25x double not null, usd_50x double not null, usd_100x double not null,
                primary key (as_of, symbol, bin_low))""",
            """create table levels.clusters (
                as_of date not null, symbol varchar not null, cluster_id integer not null, side varchar not null,
                price_low double not null, price_high double not null, price_mid double not null, usd double not null,
                weight double not null, levels_count integer not null, tiers varchar, methods varchar not null,
                primary key (as_of, symbol, cluster_id))""",
            """create table levels.max_pain (
                as_of date not null, symbol varchar not null, close double not null, long_price double,
                long_usd double, long_distance_pct double, short_price double, short_usd double,
                short_distance_pct double, primary key (as_of, symbol))""",
            """create table levels.liquidation_stats (
                as_of date not null, symbol varchar not null, ts timestamp not null, venue varchar not null,
                window_hours integer not null, long_usd double not null, short_usd double not null,
                unknown_usd double not null, events integer not null,
                primary key (as_of, symbol, ts, venue, window_hours))""",
            """create table levels.largest_liquidations (
                as_of date not null, symbol varchar not null, rank integer not null, venue varchar not null,
                ts timestamp not null, side varchar not null, price double not null, usd double not null,
                primary key (as_of, symbol, rank))""",
        ],
    )
)

MIGRATIONS.append(
    (
        5,
        "level quality scorecard",
        [
            """create table levels.quality (
                as_of date not null, symbol varchar not null, span varchar not null, model varchar not null,
                window_minutes integer not null, windows integer, days integer, realized_usd double,
                spearman_long double, spearman_short double, spearman_pooled double,
                spearman_pooled_ci_low double, spearman_pooled_ci_high double, capture_top10 double,
                capture_top10_ci_low double, capture_top10_ci_high double, partial_rank double, verdict varchar,
                primary key (as_of, symbol, span, model))""",
        ],
    )
)

MIGRATIONS.append(
    (
        6,
        "live sources: archive loads, stream gaps",
        [
            """create table ops.archive_loads (
                venue varchar not null, dataset varchar not null, symbol varchar not null, day date not null,
                url varchar not null, sha256 varchar not null, rows bigint not null, loaded_at timestamp not null,
                primary key (venue, dataset, symbol, day))""",
            """create table ops.stream_gaps (
                venue varchar not null, day date not null, start_ts timestamp not null, end_ts timestamp not null,
                reason varchar not null, landing_file varchar not null,
                primary key (venue, start_ts))""",
        ],
    )
)

MIGRATIONS.append(
    (
        7,
        "aggregated liquidation history (Coinglass)",
        [
            """create table raw.liquidation_history (
                venue varchar not null, symbol varchar not null, interval varchar not null, ts timestamp not null,
                long_usd double not null, short_usd double not null,
                primary key (venue, symbol, interval, ts))""",
        ],
    )
)

MIGRATIONS.append(
    (
        8,
        "asset notes (per symbol-day errors and warnings); klines volume may be unknown",
        [
            # One row per problem an asset met for one symbol-day: an error withholds that symbol-day's
            # downstream work and exports, a warning only informs. Replaced whenever the asset reruns it.
            """create table ops.asset_notes (
                asset varchar not null, symbol varchar not null, day date not null, severity varchar not null,
                message varchar not null, recorded_at timestamp not null)""",
            # Many users' files (and the Binance metrics archive) have no volume: stored as NULL, not refused.
            "alter table raw.klines alter column volume drop not null",
        ],
    )
)

MIGRATIONS.append(
    (
        9,
        "levels at the data's own resolution: known_ts, engine state for incremental nights",
        [
            # When a level could first be known: the close of the bar that made it (created_ts is that bar's open).
            "alter table levels.objective add column known_ts timestamp",
            "alter table levels.behavioral add column known_ts timestamp",
            "update levels.objective set known_ts = created_ts + interval 1 hour",
            "update levels.behavioral set known_ts = created_ts + interval 1 hour",
            # Which (engine, symbol, venue) days were computed, with what interval and parameters: the next night
            # continues from that day's standing levels only when its row matches, else it recomputes from scratch.
            """create table ops.engine_state (
                engine varchar not null, symbol varchar not null, venue varchar not null, as_of date not null,
                interval varchar not null, params varchar not null, computed_at timestamp not null,
                primary key (engine, symbol, venue, as_of))""",
        ],
    )
)

MIGRATIONS.append(
    (
        10,
        "model leaderboard (rolling 30 days, tuned on the earlier part, reported on the later)",
        [
            """create table levels.leaderboard (
                as_of date not null, symbol varchar not null, part varchar not null, model varchar not null,
                kind varchar not null, params varchar not null, candidates integer not null, window_minutes integer not null,
                realized varchar not null, first_test_day date not null, windows integer, days integer, realized_usd double,
                spearman_pooled double, spearman_pooled_ci_low double, spearman_pooled_ci_high double,
                capture_top10 double, capture_top10_ci_low double, capture_top10_ci_high double,
                partial_rank double, partial_rank_ci_low double, partial_rank_ci_high double, lift_vs_range double,
                verdict varchar not null,
                primary key (as_of, symbol, part, model))""",
        ],
    )
)


def _with_source(table: str, columns: str, key: str) -> list[str]:
    """Rebuild a view table with a `source` column ('estimated' for every stored row) in its key."""
    return [
        f"create table {table}_v11 ({columns}, source varchar not null default 'estimated', primary key ({key}, source))",
        f"insert into {table}_v11 select *, 'estimated' from {table}",
        f"drop table {table}",
        f"alter table {table}_v11 rename to {table.split('.')[1]}",
    ]


MIGRATIONS.append(
    (
        11,
        "measured positions (Hyperliquid clearinghouseState scans), the measured map, its similarity to the "
        "estimate, the calibration fitted on it; a source column (estimated / measured) on the views",
        [
            """create table raw.positions (
                venue varchar not null, symbol varchar not null, snapshot_ts timestamp not null, address varchar not null,
                side varchar not null, size_base double not null, entry_price double, liq_price double, leverage double,
                margin_mode varchar not null, position_usd double not null, margin_used double, account_value double,
                primary key (venue, snapshot_ts, address, symbol))""",
            """create table raw.position_scans (
                venue varchar not null, snapshot_ts timestamp not null, scan_end timestamp not null, kind varchar not null,
                addresses_read integer not null, addresses_failed integer not null, positions integer not null,
                source varchar not null, primary key (venue, snapshot_ts))""",
            # failed reads of a scan: an address missing from a later scan was maybe only not read
            """create table raw.position_failures (
                venue varchar not null, snapshot_ts timestamp not null, address varchar not null,
                primary key (venue, snapshot_ts, address))""",
            """create table levels.measured (
                as_of date not null, symbol varchar not null, venue varchar not null, snapshot_ts timestamp not null,
                bin_low double not null, bin_high double not null, long_usd double not null, short_usd double not null,
                long_count integer not null, short_count integer not null, long_cross_usd double not null,
                short_cross_usd double not null, usd_10x double not null, usd_25x double not null, usd_50x double not null,
                usd_100x double not null, primary key (as_of, symbol, venue, snapshot_ts, bin_low))""",
            """create table levels.measured_snapshots (
                as_of date not null, symbol varchar not null, venue varchar not null, snapshot_ts timestamp not null,
                scan_end timestamp not null, kind varchar not null, price double, addresses_read integer not null,
                addresses_failed integer not null, positions integer not null, positions_without_liq integer not null,
                long_usd double not null, short_usd double not null, cross_usd double not null, isolated_usd double not null,
                primary key (as_of, symbol, venue, snapshot_ts))""",
            """create table levels.measured_distribution (
                as_of date not null, symbol varchar not null, venue varchar not null, kind varchar not null,
                side varchar not null, bucket_low double not null, bucket_high double not null, usd double not null,
                positions integer not null, primary key (as_of, symbol, venue, kind, side, bucket_low))""",
            """create table levels.measured_similarity (
                as_of date not null, symbol varchar not null, venue varchar not null, snapshot_ts timestamp not null,
                preset varchar not null, side varchar not null, bins integer not null, spearman double, cosine double,
                estimated_usd double not null, measured_usd double not null,
                primary key (as_of, symbol, venue, snapshot_ts, preset, side))""",
            """create table levels.calibration (
                as_of date not null, symbol varchar not null, venue varchar not null, status varchar not null,
                leverages varchar, weights varchar, expiry_hours double, train_start timestamp, train_end timestamp,
                snapshots integer not null, train_cosine double, default_cosine double, note varchar,
                primary key (as_of, symbol))""",
            """create table levels.inferred_liquidations (
                as_of date not null, symbol varchar not null, venue varchar not null, address varchar not null,
                last_seen_ts timestamp not null, gone_ts timestamp not null, side varchar not null, liq_price double not null,
                usd double not null, inferred boolean not null, primary key (as_of, symbol, venue, address, gone_ts, side))""",
            *_with_source("levels.heatmap", "as_of date not null, symbol varchar not null, ts timestamp not null, "
                          "bin_low double not null, bin_high double not null, long_usd double not null, short_usd double not null",
                          "as_of, symbol, ts, bin_low"),
            *_with_source("levels.liquidation_map", "as_of date not null, symbol varchar not null, close double not null, "
                          "bin_low double not null, bin_high double not null, long_usd double not null, short_usd double not null, "
                          "long_cum_usd double not null, short_cum_usd double not null, usd_10x double not null, "
                          "usd_25x double not null, usd_50x double not null, usd_100x double not null",
                          "as_of, symbol, bin_low"),
            *_with_source("levels.clusters", "as_of date not null, symbol varchar not null, cluster_id integer not null, "
                          "side varchar not null, price_low double not null, price_high double not null, price_mid double not null, "
                          "usd double not null, weight double not null, levels_count integer not null, tiers varchar, "
                          "methods varchar not null", "as_of, symbol, cluster_id"),
            *_with_source("levels.max_pain", "as_of date not null, symbol varchar not null, close double not null, "
                          "long_price double, long_usd double, long_distance_pct double, short_price double, short_usd double, "
                          "short_distance_pct double", "as_of, symbol"),
        ],
    )
)

MIGRATIONS.append(
    (
        12,
        "validation results and quarantine per symbol-day (checks run per (day, symbol) partition); rows "
        "stored before were of all symbols of a day: their symbol is '*'",
        [
            """create table ops.validation_results_v12 (
                table_name varchar not null, symbol varchar not null, day date not null, expectation varchar not null,
                column_name varchar, blocking boolean not null, success boolean not null,
                unexpected_count bigint not null, sample varchar,
                primary key (table_name, symbol, day, expectation))""",
            """insert into ops.validation_results_v12 select table_name, '*', day, expectation, column_name, blocking, success,
                unexpected_count, sample from ops.validation_results""",
            "drop table ops.validation_results",
            "alter table ops.validation_results_v12 rename to validation_results",
            """create table ops.quarantine_v12 (
                table_name varchar not null, symbol varchar not null, day date not null, expectation varchar not null,
                row_payload varchar not null)""",
            "insert into ops.quarantine_v12 select table_name, '*', day, expectation, row_payload from ops.quarantine",
            "drop table ops.quarantine",
            "alter table ops.quarantine_v12 rename to quarantine",
        ],
    )
)

SCHEMA_VERSION = MIGRATIONS[-1][0]

# Column order of each raw table (the order inserts use). Table names only ever come from here.
RAW_COLUMNS: dict[str, list[str]] = {
    "klines": ["venue", "symbol", "interval", "ts", "open", "high", "low", "close", "volume",
               "quote_volume", "taker_buy_volume"],
    "open_interest": ["venue", "symbol", "interval", "ts", "oi_base", "oi_usd"],
    "funding": ["venue", "symbol", "ts", "rate"],
    "liquidations": ["venue", "symbol", "ts", "side", "price", "qty_base", "usd", "source"],
    "liquidation_history": ["venue", "symbol", "interval", "ts", "long_usd", "short_usd"],
    "positions": ["venue", "symbol", "snapshot_ts", "address", "side", "size_base", "entry_price", "liq_price", "leverage",
                  "margin_mode", "position_usd", "margin_used", "account_value"],
}
# Natural keys of the raw tables (their primary keys): what an upsert matches on.
RAW_KEYS: dict[str, list[str]] = {
    "klines": ["venue", "symbol", "interval", "ts"],
    "open_interest": ["venue", "symbol", "interval", "ts"],
    "funding": ["venue", "symbol", "ts"],
    "liquidations": ["venue", "symbol", "ts", "side", "price", "qty_base"],
    "liquidation_history": ["venue", "symbol", "interval", "ts"],
    "positions": ["venue", "snapshot_ts", "address", "symbol"],
}
LEVEL_TABLES = ("levels.objective", "levels.behavioral", "levels.heatmap", "levels.liquidation_map", "levels.clusters",
                "levels.max_pain", "levels.liquidation_stats", "levels.largest_liquidations", "levels.quality",
                "levels.leaderboard", "levels.measured", "levels.measured_snapshots", "levels.measured_distribution",
                "levels.measured_similarity", "levels.calibration", "levels.inferred_liquidations")
REJECT_COLUMNS = ["table_name", "venue", "symbol", "day", "source", "field", "reason", "payload"]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute("create schema if not exists ops")
    con.execute(
        "create table if not exists ops.schema_version (version integer primary key, "
        "description varchar not null, applied_at timestamp not null)"
    )
    row = con.execute("select coalesce(max(version), 0) from ops.schema_version").fetchall()
    return int(row[0][0])


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema to `SCHEMA_VERSION`; a no-op when it is already there. Returns the version."""
    version = current_version(con)
    for number, description, statements in MIGRATIONS:
        if number <= version:
            continue
        con.execute("begin transaction")
        try:
            for statement in statements:
                con.execute(statement)
            con.execute(
                "insert into ops.schema_version values (?, ?, ?)",
                [number, description, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        version = number
    return version


class WarehouseFileError(RuntimeError):
    """The warehouse path holds something that is not a DuckDB database: never worth a retry."""


DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


def check_warehouse_file(path: str | Path) -> None:
    """Raise `WarehouseFileError` at once when `path` exists but is not a DuckDB database.

    (Opening such a file fails inside every step, and the steps' retry policies used to spend half an
    hour on it in silence.) A missing or empty file is fine: DuckDB creates it.
    """
    path = Path(path)
    if not path.exists():
        return
    if path.is_dir():
        raise WarehouseFileError(f"warehouse {path} is a directory, not a DuckDB file (LIQLEVELS_WAREHOUSE)")
    with open(path, "rb") as handle:
        head = handle.read(12)
    if head and head[8:12] != DUCKDB_MAGIC:
        raise WarehouseFileError(f"warehouse {path} is not a DuckDB database (no DUCK header): move it away or set "
                                 "LIQLEVELS_WAREHOUSE to another file; nothing was written")


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the warehouse at `path` with the schema migrated (`read_only`: as it is).

    With a lake (`LIQLEVELS_LAKE`) the connection is in memory with views over the lake, whatever
    `path`: it takes no lock, so any number of processes read and write at once (writes go to the lake).
    The file at `path` is then the users' catalog (`ensure_catalog`)."""
    from pipelines.lib.lake import lake_for
    from pipelines.lib.paths import lake_url

    url = lake_url()
    if url is not None:
        return lake_for(url).open()
    check_warehouse_file(path)
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        migrate(con)
    except Exception:
        con.close()
        raise
    return con


def ensure_catalog(path: str | Path) -> str | None:
    """With a lake, make the DuckDB file at `path` its catalog of views (for notebooks and the UI's
    queries); a note when it could not (another process holds the file: the views are there already
    or `liqlevels lake catalog` makes them later). Without a lake, nothing to do."""
    from pipelines.lib.lake import lake_for
    from pipelines.lib.paths import lake_url

    url = lake_url()
    if url is None:
        return None
    check_warehouse_file(path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        return f"catalog {path} not refreshed ({str(exc).splitlines()[0]})"
    try:
        lake_for(url).catalog(con, str(path))
    finally:
        con.close()
    return None


@dataclass(frozen=True)
class Partition:
    """The slice of a raw table owned by one ingest of (venue, symbol, day) — or of `days` days from `day`."""

    table: str
    venue: str
    symbol: str
    day: dt.date
    interval: str | None = None  # klines/OI: own only this interval's rows (an archive may hold others)
    days: int = 1

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.day, dt.time())

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(days=self.days)

    @property
    def last_day(self) -> dt.date:
        return self.day + dt.timedelta(days=self.days - 1)


@dataclass(frozen=True)
class KeptDay:
    """A day whose stored rows were kept because the new slice held fewer (a header-only or cut file)."""

    day: dt.date
    stored: int
    offered: int


def replace_partition(
    con: duckdb.DuckDBPyConnection,
    partition: Partition,
    rows: pd.DataFrame,
    rejects: pd.DataFrame | None = None,
    source: str = "",
    allow_shorter: bool = False,
) -> list[KeptDay]:
    """Replace one (table, venue, symbol, day) slice and its rejects in a single transaction.

    `rows` must carry the table's columns (see `RAW_COLUMNS`) with naive-UTC `ts` inside the day.
    Rejects of that day, plus rejects with no day (unparseable timestamps) from the same `source`,
    are replaced too, so reruns do not pile up duplicate rejects.

    Nothing stored is lost silently: a day for which the new rows are fewer than the stored ones
    (a header-only or truncated file) keeps its stored rows, unless `allow_shorter`; those days are
    returned so the caller can say so.
    """
    columns = RAW_COLUMNS[partition.table]
    stage = rows.loc[:, columns]
    if len(stage) and (stage["ts"].min() < partition.start or stage["ts"].max() >= partition.end):
        raise ValueError(f"rows for {partition} fall outside the day {partition.day}")
    if partition.interval is not None and len(stage) and (stage["interval"] != partition.interval).any():
        raise ValueError(f"rows for {partition} hold other intervals than {partition.interval}")
    rejects = rejects if rejects is not None else pd.DataFrame(columns=REJECT_COLUMNS)
    by_interval = " and interval = ?" if partition.interval is not None else ""
    slice_params = ([partition.venue, partition.symbol, partition.start, partition.end]
                    + ([partition.interval] if partition.interval is not None else []))
    kept: list[KeptDay] = []
    if not allow_shorter:
        stored = dict(con.execute(f"select cast(ts as date), count(*) from raw.{partition.table} where venue = ? and symbol = ? "
                                  f"and ts >= ? and ts < ?{by_interval} group by 1", slice_params).fetchall())
        offered = rows_per_day(stage["ts"]) if stored else {}
        kept = [KeptDay(day, n, offered.get(day, 0)) for day, n in sorted(stored.items()) if offered.get(day, 0) < n]
    kept_days = [k.day for k in kept]
    if kept_days:
        stage = stage[~np.isin(stage["ts"].to_numpy().astype("datetime64[D]"), np.array(kept_days, dtype="datetime64[D]"))]
    replace_in_transaction(
        con,
        deletes=[
            (f"delete from raw.{partition.table} where venue = ? and symbol = ? and ts >= ? and ts < ?{by_interval}"
             " and not list_contains(?, cast(ts as date))", slice_params + [kept_days]),
            ("delete from ops.rejects where table_name = ? and venue = ? and symbol = ? "
             "and (day between ? and ? or (day is null and source = ?))",
             [partition.table, partition.venue, partition.symbol, partition.day, partition.last_day, source]),
            *_stale_engine_state(partition),
        ],
        inserts=[(f"raw.{partition.table}", stage), ("ops.rejects", rejects.loc[:, REJECT_COLUMNS])],
    )
    return kept


def rows_per_day(ts: pd.Series) -> dict[dt.date, int]:
    """Rows per UTC day of naive-UTC timestamps (vectorized: no Python date per row)."""
    days, counts = np.unique(ts.to_numpy().astype("datetime64[D]"), return_counts=True)
    return {day.item(): int(n) for day, n in zip(days, counts)}


def upsert_partition(con: duckdb.DuckDBPyConnection, partition: Partition, rows: pd.DataFrame,
                     rejects: pd.DataFrame, source: str) -> None:
    """Insert or update `rows` by natural key inside one (table, venue, symbol, day) slice, in one
    transaction; stored rows the batch does not mention stay.

    For exchange APIs, whose windows move on (OKX liquidation orders cover only recent days, OI
    history a few weeks): a later rerun that sees less must not delete what an earlier one stored.
    The same answer twice leaves identical tables. Rejects of that slice from `source` are replaced.
    """
    columns = RAW_COLUMNS[partition.table]
    stage = rows.loc[:, columns]
    if len(stage) and (stage["ts"].min() < partition.start or stage["ts"].max() >= partition.end):
        raise ValueError(f"rows for {partition} fall outside the day {partition.day}")
    if len(stage) and ((stage["venue"] != partition.venue).any() or (stage["symbol"] != partition.symbol).any()):
        raise ValueError(f"rows for {partition} name another venue or symbol")
    matches = " and ".join(f"t.{k} = s.{k}" for k in RAW_KEYS[partition.table])
    replace_in_transaction(
        con,
        deletes=[(f"delete from raw.{partition.table} t using upsert_rows s where {matches}", []),
                 _rejects_of_source(partition, source), *_stale_engine_state(partition)],
        inserts=[(f"raw.{partition.table}", stage), ("ops.rejects", rejects.loc[:, REJECT_COLUMNS])],
        staged={"upsert_rows": stage},
    )


def _stale_engine_state(partition: Partition) -> list[tuple[str, list]]:
    """Candles of a day changed: engine state computed from them (that day and later) is dropped in the
    same transaction, so the next night recomputes from scratch instead of continuing from stale pools."""
    if partition.table != "klines":
        return []
    return [("delete from ops.engine_state where symbol = ? and venue = ? and as_of >= ?",
             [partition.symbol, partition.venue, partition.day])]


def _rejects_of_source(partition: Partition, source: str) -> tuple[str, list]:
    return ("delete from ops.rejects where table_name = ? and venue = ? and symbol = ? and source = ? "
            "and (day = ? or day is null)", [partition.table, partition.venue, partition.symbol, source, partition.day])


def replace_rejects(con: duckdb.DuckDBPyConnection, partition: Partition, rejects: pd.DataFrame, source: str) -> None:
    """Replace only the rejects of one slice from one source, leaving its stored rows alone.

    For a payload with the wrong shape: its rows are kept as rejects, and what is already stored
    for that day survives until a good payload replaces it.
    """
    replace_in_transaction(con, deletes=[_rejects_of_source(partition, source)],
                           inserts=[("ops.rejects", rejects.loc[:, REJECT_COLUMNS])])


# Tables that store rows as they arrived from outside: secrets are redacted from them on the way in,
# once per batch (every row of a payload that echoed an API key would otherwise keep it).
PAYLOAD_COLUMNS = {"ops.rejects": ("payload", "reason"), "ops.quarantine": ("row_payload",)}


def _redacted(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    from pipelines.lib.secrets import configured_secrets, redact

    secrets = configured_secrets()
    if not secrets:
        return frame
    return frame.assign(**{c: frame[c].map(lambda text: redact(str(text), secrets)) for c in columns if c in frame})


def replace_in_transaction(con: duckdb.DuckDBPyConnection, deletes: list[tuple[str, list]],
                           inserts: list[tuple[str, pd.DataFrame]], staged: dict[str, pd.DataFrame] | None = None) -> None:
    """Run the deletes, then insert each frame into its table (by column name), in one transaction.

    `staged` frames are visible to the deletes under their names (e.g. to delete by matching keys).
    Table names come from this module's own constants, never from external input.
    """
    staged = staged or {}
    from pipelines.lib.lake import lake_of

    lake = lake_of(con)
    if lake is not None:  # the lake is the system of record: replay the transaction on its partitions
        lake.replace(con, deletes, inserts, staged)
        return
    for name, frame in staged.items():
        con.register(name, frame)
    con.execute("begin transaction")
    try:
        for statement, params in deletes:
            con.execute(statement, params)
        for table, frame in inserts:
            insert_frame(con, table, frame)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        for name in staged:
            con.unregister(name)


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Insert `frame` into `table` by column name (secrets redacted from payload columns first)."""
    if not len(frame):
        return
    if table in PAYLOAD_COLUMNS:
        frame = _redacted(frame, PAYLOAD_COLUMNS[table])
    columns = ", ".join(frame.columns)
    con.register("stage_rows", frame)
    try:
        con.execute(f"insert into {table} ({columns}) select {columns} from stage_rows")
    finally:
        con.unregister("stage_rows")


def replace_as_of(con: duckdb.DuckDBPyConnection, table: str, as_of: dt.date, symbol: str, rows: pd.DataFrame) -> None:
    """Replace the rows of one (as_of day, symbol) in a `levels.*` table, in one transaction."""
    if table not in LEVEL_TABLES:
        raise ValueError(f"unknown level table {table!r}")
    replace_in_transaction(con, [(f"delete from {table} where as_of = ? and symbol = ?", [as_of, symbol])], [(table, rows)])


def replace_validation(con: duckdb.DuckDBPyConnection, table: str, symbol: str, day: dt.date, results: pd.DataFrame,
                       quarantine: pd.DataFrame) -> None:
    """Replace one (table, symbol, day)'s validation results and quarantined rows in one transaction
    (the rows of that day from before checks were per symbol, symbol '*', go with them)."""
    results, quarantine = results.assign(symbol=symbol), quarantine.assign(symbol=symbol)
    replace_in_transaction(
        con,
        deletes=[*((f"delete from ops.{t} where table_name = ? and symbol = ? and day = ?", [table, s, day])
                   for t in ("validation_results", "quarantine") for s in (symbol, "*"))],
        inserts=[("ops.validation_results", results), ("ops.quarantine", quarantine)],
    )


NOTE_SEVERITIES = ("error", "warning")


def replace_notes(con: duckdb.DuckDBPyConnection, asset: str, symbol: str, day: dt.date, notes: list[tuple[str, str]]) -> None:
    """Replace the notes of one (asset, symbol, day) with `notes` [(severity, message)], in one transaction."""
    bad = {severity for severity, _ in notes} - set(NOTE_SEVERITIES)
    if bad:
        raise ValueError(f"note severity must be one of {NOTE_SEVERITIES}, got {sorted(bad)}")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    frame = pd.DataFrame([{"asset": asset, "symbol": symbol, "day": day, "severity": s, "message": m, "recorded_at": now}
                          for s, m in dict.fromkeys(notes)], columns=["asset", "symbol", "day", "severity", "message", "recorded_at"])
    replace_in_transaction(con, [("delete from ops.asset_notes where asset = ? and symbol = ? and day = ?", [asset, symbol, day])],
                           [("ops.asset_notes", frame)])


def record_engine_state(con: duckdb.DuckDBPyConnection, engine: str, symbol: str, venue: str, as_of: dt.date, interval: str,
                        params: str) -> None:
    """Note that (engine, symbol, venue) was computed for `as_of` with `interval` and `params`."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    frame = pd.DataFrame([{"engine": engine, "symbol": symbol, "venue": venue, "as_of": as_of, "interval": interval,
                           "params": params, "computed_at": now}])
    replace_in_transaction(con, [("delete from ops.engine_state where engine = ? and symbol = ? and venue = ? and as_of = ?",
                                  [engine, symbol, venue, as_of])], [("ops.engine_state", frame)])


def has_engine_state(con: duckdb.DuckDBPyConnection, engine: str, symbol: str, venue: str, as_of: dt.date, interval: str,
                     params: str) -> bool:
    return bool(con.execute("select count(*) from ops.engine_state where engine = ? and symbol = ? and venue = ? and as_of = ? "
                            "and interval = ? and params = ?", [engine, symbol, venue, as_of, interval, params]).fetchall()[0][0])


def failed_assets(con: duckdb.DuckDBPyConnection, assets: list[str], symbol: str, day: dt.date) -> list[tuple[str, str]]:
    """(asset, first error message) of `assets` that failed for (symbol, day)."""
    if not assets:
        return []
    return [tuple(r) for r in con.execute(
        "select asset, min(message) from ops.asset_notes where severity = 'error' and symbol = ? and day = ? "
        "and list_contains(?, asset) group by asset order by asset", [symbol, day, assets]).fetchall()]


def table_counts(con: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, int]:
    """Row counts of schema-qualified tables from a fixed list of our own names."""
    counts = {}
    for table in tables:
        counts[table] = int(con.execute(f"select count(*) from {table}").fetchall()[0][0])
    return counts


def reject_payload(row: dict) -> str:
    """A reject's raw payload as strict JSON: NaN/NaT become null, ±inf and other non-JSON values strings."""
    clean = {str(k): (None if _is_missing(v) else str(v) if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in row.items()}
    return json.dumps(clean, default=str, sort_keys=True, allow_nan=False)


def _is_missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, dicts: not scalars, so not missing
        return False
