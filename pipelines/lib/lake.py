"""The Parquet lake: every table as hive-partitioned Parquet, one file per partition, replaced atomically.

Layout: `<lake>/<schema>.<table>/<key>=<value>/…/part.parquet`, with keys per table in `LAYOUTS`
(`venue=…/symbol=…/date=…` for the raw tables, `symbol=…/as_of=…` for the level tables). Each file
holds all of the table's columns (the path is layout, not data), so a file read alone is complete.

Rules chosen where the issue is silent:
- A write is the warehouse's own transaction (`replace_in_transaction`: the deletes, then the inserts)
  replayed on a scratch copy of the partitions it touches, each partition then written to a temporary
  object and moved over `part.parquet` (a rename on a local disk, one PUT on S3): readers and a killed
  writer never see half a file, and two writers of different partitions never touch the same file.
  Two writers of the same partition at once (the runs of two symbols storing the same venue-day's rows,
  e.g. one Hyperliquid position scan): on a local lake each write holds an exclusive lock (`flock`,
  one of `LOCK_STRIPES` lock files under `<lake>/.locks/` chosen by the partition's path) from reading
  the partition to moving the new file in, so neither loses the other's rows; on S3 there is no lock
  and the later PUT wins, with a complete file either way.
  Atomicity is per partition, not across partitions (a killed step leaves some partitions new, some
  old, none half-written; its rerun rewrites them all).
- A partition whose rows are all deleted keeps a zero-row file, so a path readers saw stays readable.
- Every table has a zero-row file under `<key>=__schema__/…`, so its view works before any data.
- A step's connection reads only its run's symbols (`open(symbols=…)`): the view of a table with a
  `symbol` key reads `…/symbol=<S>/…` for each of them (and `symbol=*`, the rows of no one symbol),
  so a night's cost per symbol does not grow with the number of symbols in the lake (every query
  used to list and open every partition file of the table, all symbols'). DuckDB refuses a list of
  globs one of which matches nothing, so each scoped symbol gets a zero-row marker file of its own
  (`…/symbol=<S>/<other keys>=__schema__/…`) before its view is made. Without symbols (the catalog,
  notebooks, the CLI) views read the whole table. The paths are layout only: DuckDB does not read
  values from them (`hive_partitioning = false`), so the files' typed columns stay the truth.
- The schema is the warehouse's (its migrations run on an in-memory scratch database): primary keys
  and NOT NULL are enforced on each write as before, within the partitions written (every key
  includes the partition columns, so that is the whole table's check).
- Rows are written sorted by every column: the same content gives the same file bytes.
- `content_hash` hashes rows, not bytes, leaving out the wall-clock columns (`WALL_CLOCK`).
- The lake's schema version is recorded in `<lake>/_lake.json`; a lake of another version is refused
  with a clear error (no migration of lake files is written yet).

The lake may be a local folder or `s3://bucket/prefix` (any S3-compatible store: endpoint from
`LIQLEVELS_LAKE_S3_ENDPOINT`, credentials from the usual `AWS_*` variables); DuckDB reads S3 through
fsspec (`s3fs`), since its own httpfs extension is not installed here.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob as globmod
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
import threading
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import duckdb
import pandas as pd

# Lock files of a local lake: partitions share them by the hash of their path, so the number of files
# stays bounded while two writers of one partition always meet on the same lock.
LOCK_STRIPES = 256
SCHEMA_KEY = "__schema__"
ANY_SYMBOL = "*"  # the symbol of rows that belong to no one symbol (a venue's orphan liquidations, old check rows)
PART = "part.parquet"
# Columns that record when something ran, not what it computed: left out of the content hash.
WALL_CLOCK = ("applied_at", "recorded_at", "computed_at", "loaded_at")


@dataclass(frozen=True)
class Layout:
    """A table's partition keys: (directory name, SQL over the table's columns giving the value)."""

    table: str
    keys: tuple[tuple[str, str, bool], ...]  # (directory name, column, the column's UTC day rather than its value)

    def exprs(self, alias: str = "") -> list[str]:
        prefix = f"{alias}." if alias else ""
        return [f"cast({prefix}{column} as date)" if day else f"{prefix}{column}" for _, column, day in self.keys]

    def relative(self, values: tuple) -> str:
        return "/".join(f"{name}={_path_value(v)}" for (name, _, _), v in zip(self.keys, values, strict=True)) + f"/{PART}"

    @property
    def schema_values(self) -> tuple:
        return (SCHEMA_KEY,) * len(self.keys)


def _path_value(value) -> str:
    """A partition value as one safe directory name (percent-encoded: no '/', no '..' of its own)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "__null__"
    if isinstance(value, dt.datetime):
        value = value.date()
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    encoded = quote(text, safe="-_")
    return encoded if encoded not in ("", ".", "..") else quote(encoded.replace(".", "%2E"), safe="%")


def _layout(table: str, *keys: str) -> Layout:
    """Keys as `column`, `name:column` (another directory name) or `date:column` (the column's UTC day)."""
    parts = []
    for key in keys:
        name, _, column = key.partition(":")
        parts.append((name, column or name, name == "date"))
    return Layout(table, tuple(parts))


_RAW_DAY = ("venue", "symbol", "date:ts")
LAYOUTS: dict[str, Layout] = {layout.table: layout for layout in [
    *(_layout(f"raw.{t}", *_RAW_DAY) for t in ("klines", "open_interest", "funding", "liquidations", "liquidation_history")),
    _layout("raw.positions", "venue", "symbol", "date:snapshot_ts"),
    _layout("raw.position_scans", "venue", "date:snapshot_ts"),
    _layout("raw.position_failures", "venue", "date:snapshot_ts"),
    *(_layout(f"levels.{t}", "symbol", "as_of") for t in (
        "objective", "behavioral", "heatmap", "liquidation_map", "clusters", "max_pain", "liquidation_stats",
        "largest_liquidations", "quality", "leaderboard", "measured", "measured_snapshots", "measured_distribution",
        "measured_similarity", "calibration", "inferred_liquidations")),
    _layout("ops.rejects", "table:table_name", "venue", "symbol", "day"),
    _layout("ops.asset_notes", "asset", "symbol", "day"),
    _layout("ops.engine_state", "engine", "symbol", "venue", "as_of"),
    _layout("ops.validation_results", "table:table_name", "symbol", "day"),
    _layout("ops.quarantine", "table:table_name", "symbol", "day"),
    _layout("ops.archive_loads", "venue", "dataset", "symbol", "day"),
    _layout("ops.stream_gaps", "venue", "day"),
    _layout("ops.schema_version", "version"),
]}

_DELETE = re.compile(r"^\s*delete\s+from\s+([a-z_]+\.[a-z_]+)(?:\s+([a-z_]+))?(?:\s+using\s+([a-z_]+)\s+([a-z_]+))?\s+where\s+(.+)$",
                     re.IGNORECASE | re.DOTALL)


def _equalities(condition: str, params: list, alias: str) -> dict[str, object]:
    """`column = ?` terms that must hold for the whole condition (top level, no top-level `or`), with
    their parameter values. Conditions are the warehouse's own constant SQL."""
    depth, top = 0, []
    for char in condition:
        depth += char == "("
        depth -= char == ")"
        top.append(char if depth == 0 and char not in "()" else " ")
    flat = "".join(top)
    if re.search(r"\bor\b", flat, re.IGNORECASE):
        return {}
    prefix = rf"{alias}\." if alias else ""
    found = {}
    for match in re.finditer(rf"(?<![\w.]){prefix}([a-z_]+) = \?", flat):
        index = condition[:match.end()].count("?") - 1
        found[match.group(1)] = params[index]
    return found


class LakeError(RuntimeError):
    """The lake cannot be used as configured (bad URL, other schema version, unknown table)."""


class Lake:
    """A Parquet lake at a local folder or an `s3://bucket/prefix` URL."""

    def __init__(self, url: str, storage_options: dict | None = None):
        self.url = url.rstrip("/")
        if any(c in self.url for c in "'\"\\*?[]{}") or not self.url:
            raise LakeError(f"LIQLEVELS_LAKE: {url!r} holds quotes, backslashes or glob characters; choose a plain path")
        if self.url.startswith("s3://"):
            import s3fs  # lazily: only an S3 lake needs it

            options = storage_options if storage_options is not None else s3_options_from_env()
            self.fs = s3fs.S3FileSystem(**options)
            self.root = self.url
        elif "://" in self.url:
            raise LakeError(f"LIQLEVELS_LAKE: only a local folder or s3://bucket/prefix is supported, got {url!r}")
        else:
            self.fs = None
            self.root = str(Path(self.url).expanduser().resolve())
        self._scratch: duckdb.DuckDBPyConnection | None = None
        self._ensured = False
        self._marked: set[tuple[str, str]] = set()  # (table, symbol) whose marker file is known to exist
        self._lock = threading.Lock()

    # ---- paths -----------------------------------------------------------------------------------------
    @property
    def is_s3(self) -> bool:
        return self.fs is not None

    def path(self, table: str, values: tuple) -> str:
        return f"{self.root}/{table}/{LAYOUTS[table].relative(values)}"

    def glob(self, table: str, fixed: dict[str, object] | None = None) -> str:
        """The pattern of a table's partition files; `fixed` columns name their directory, the rest are `*`
        (a day key is always `*`: its column holds timestamps, not the day)."""
        fixed = fixed or {}
        return f"{self.root}/{table}/" + "/".join(f"{name}={_path_value(fixed[column])}" if column in fixed and not day else "*"
                                                  for name, column, day in LAYOUTS[table].keys) + f"/{PART}"

    def _exists(self, path: str) -> bool:
        return self.fs.exists(path) if self.is_s3 else os.path.exists(path)

    # ---- schema ----------------------------------------------------------------------------------------
    def scratch(self) -> duckdb.DuckDBPyConnection:
        """An in-memory database with the warehouse schema, empty: where writes are replayed."""
        if self._scratch is None:
            from pipelines.lib.warehouse import migrate

            con = duckdb.connect(":memory:")
            migrate(con)  # ops.schema_version keeps its rows here: `ensure` writes them to the lake
            self._register_fs(con)
            self._scratch = con
        return self._scratch

    def _register_fs(self, con: duckdb.DuckDBPyConnection) -> None:
        if self.is_s3:
            con.register_filesystem(self.fs)

    def ensure(self) -> None:
        """Create the lake's zero-row schema files and version marker (once; idempotent)."""
        from pipelines.lib.warehouse import SCHEMA_VERSION

        if self._ensured:
            return
        marker = f"{self.root}/_lake.json"
        if self._exists(marker):
            found = json.loads(self._read_text(marker)).get("schema_version")
            if found != SCHEMA_VERSION:
                raise LakeError(f"lake {self.url} has schema version {found}, this code writes {SCHEMA_VERSION}: "
                                "point LIQLEVELS_LAKE at a new folder (lake files are not migrated)")
        tables = self.tables()
        with self._lock:
            con = self.scratch()
            for table in tables:
                target = self.path(table, LAYOUTS[table].schema_values)
                if not self._exists(target):
                    self._copy_out(con, f"select * from {table} limit 0", target)
            for (version,) in con.execute("select version from ops.schema_version").fetchall():
                target = self.path("ops.schema_version", (version,))
                if not self._exists(target):
                    self._publish(self._stage(con, "select * from ops.schema_version where version = ?", [version]), target)
        if not self._exists(marker):
            self._write_text(marker, json.dumps({"schema_version": SCHEMA_VERSION, "layout": "hive, one part.parquet per partition"}))
        self._ensured = True

    def tables(self) -> list[str]:
        con = self.scratch()
        found = [f"{s}.{t}" for s, t in con.execute("select schema_name, table_name from duckdb_tables() order by 1, 2").fetchall()]
        unknown = sorted(set(found) - set(LAYOUTS))
        if unknown:
            raise LakeError(f"tables without a lake layout: {unknown} (add them to pipelines.lib.lake.LAYOUTS)")
        return found

    def _read_text(self, path: str) -> str:
        if self.is_s3:
            return self.fs.cat_file(path).decode()
        return Path(path).read_text()

    def _write_text(self, path: str, text: str) -> None:
        if self.is_s3:
            self.fs.pipe_file(path, text.encode())
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)

    # ---- reading ---------------------------------------------------------------------------------------
    def attach(self, con: duckdb.DuckDBPyConnection, replace: bool = True, symbols: list[str] | None = None) -> None:
        """Create the schemas and one view per table over the lake on `con`, and mark `con` as lake-backed
        (its writes through `pipelines.lib.warehouse.replace_in_transaction` then go to the lake).

        `symbols`: the views of tables partitioned by symbol read only these symbols' files (and those of
        symbol `*`); None reads every symbol."""
        self.ensure()
        self._register_fs(con)
        verb = "create or replace view" if replace else "create view if not exists"
        for schema in ("raw", "levels", "ops"):
            con.execute(f"create schema if not exists {schema}")
        scope = None if symbols is None else sorted(set(symbols) | {ANY_SYMBOL})
        for table in self.tables():
            sources = ", ".join(f"'{path}'" for path in self._sources(table, scope))
            con.execute(f"{verb} {table} as select * from read_parquet([{sources}], hive_partitioning = false)")
        con.execute("set variable liqlevels_lake = ?", [self.url])
        _LAKES[self.url] = self  # writes through `con` use this instance (and its scratch database)

    def _sources(self, table: str, scope: list[str] | None) -> list[str]:
        """The globs a table's view reads: the whole table, or one per scoped symbol (each made sure to
        match at least its zero-row marker: DuckDB refuses a glob of a list that matches nothing)."""
        layout = LAYOUTS[table]
        if scope is None or not any(column == "symbol" and not day for _, column, day in layout.keys):
            return [self.glob(table)]
        globs = []
        for symbol in scope:
            self._mark(table, symbol)
            globs.append(self.glob(table, {"symbol": symbol}))
        return globs

    def _mark(self, table: str, symbol: str) -> None:
        """The zero-row marker file of `symbol` in `table` (once per process; a file that exists is kept)."""
        if (table, symbol) in self._marked:
            return
        values = tuple(symbol if column == "symbol" else SCHEMA_KEY for _, column, _ in LAYOUTS[table].keys)
        target = self.path(table, values)
        if not self._exists(target):
            with self._lock:
                self._copy_out(self.scratch(), f"select * from {table} limit 0", target)
        self._marked.add((table, symbol))

    def catalog(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        """Make the DuckDB file behind `con` a catalog of views over this lake (users' notebooks, the UI).

        A file that holds the warehouse's own tables (made without a lake) is refused, not overwritten."""
        tables = con.execute("select schema_name || '.' || table_name from duckdb_tables() "
                             "where schema_name in ('raw', 'levels', 'ops')").fetchall()
        if tables:
            raise LakeError(f"warehouse {name} holds tables ({tables[0][0]}, …): with LIQLEVELS_LAKE it is a catalog of views "
                            "over the lake; set LIQLEVELS_WAREHOUSE to a new file (or unset LIQLEVELS_LAKE)")
        self.attach(con)

    def open(self, symbols: list[str] | None = None) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with the lake's views: no file lock, so any number of processes.
        `symbols`: read only these symbols' partitions (a step of a symbol's run); None: all."""
        con = duckdb.connect(":memory:")
        try:
            self.attach(con, symbols=symbols)
        except Exception:
            con.close()
            raise
        return con

    @contextlib.contextmanager
    def connect(self, symbols: list[str] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """`open()` as a context: the connection is closed on the way out."""
        con = self.open(symbols)
        try:
            yield con
        finally:
            con.close()

    # ---- writing ---------------------------------------------------------------------------------------
    def replace(self, con: duckdb.DuckDBPyConnection, deletes: list[tuple[str, list]],
                inserts: list[tuple[str, pd.DataFrame]], staged: dict[str, pd.DataFrame]) -> None:
        """Apply the warehouse transaction (`deletes`, then `inserts`) to the partitions it touches.

        `con` is a lake-backed connection: it finds which stored partitions the deletes reach. Statements
        are the warehouse's own constants (`delete from <table> [alias] [using <staged> <alias>] where …`).
        """
        touched: dict[str, set[tuple]] = {}
        parsed = []
        for statement, params in deletes:
            match = _DELETE.match(statement)
            if match is None:
                raise LakeError(f"lake writes take 'delete from <table> [alias] [using <frame> <alias>] where …', got {statement!r}")
            table, alias, using, using_alias, condition = match.groups()
            self._known(table)
            parsed.append((table, statement, params))
            touched.setdefault(table, set()).update(self._reached(con, table, alias or "", using, using_alias, condition,
                                                                  params, staged))
        with self._lock:
            scratch = self.scratch()
            for name, frame in staged.items():
                scratch.register(name, frame)
            try:
                for table, frame in inserts:
                    if len(frame):
                        self._known(table)
                        scratch.register("lake_keys", frame)
                        keys = ", ".join(LAYOUTS[table].exprs())
                        found = scratch.execute(f"select distinct {keys} from lake_keys").fetchall()
                        scratch.unregister("lake_keys")
                        touched.setdefault(table, set()).update(tuple(r) for r in found)
                if any(touched.values()):
                    with self._partition_locks(touched):
                        self._rewrite(scratch, touched, parsed, inserts)
            finally:
                for name in staged:
                    scratch.unregister(name)

    def _reached(self, con, table: str, alias: str, using: str | None, using_alias: str | None, condition: str,
                 params: list, staged: dict[str, pd.DataFrame]) -> set[tuple]:
        """The stored partitions (key values) a delete's condition reaches."""
        fixed = _equalities(condition, params, alias)
        layout = LAYOUTS[table]
        if all(column in fixed and not day for _, column, day in layout.keys):  # one partition, named by the condition
            values = tuple(fixed[column] for _, column, _ in layout.keys)
            return {values} if self._exists(self.path(table, values)) else set()
        files = self._candidates(table, fixed)
        if not files:
            return set()
        source = f"read_parquet(?, hive_partitioning = false) {alias}" + (f", {using} {using_alias}" if using else "")
        if using:
            con.register(using, staged[using])
        try:
            found = con.execute(f"select distinct {', '.join(layout.exprs(alias))} from {source} where {condition}",
                                [files, *params]).fetchall()
        finally:
            if using:
                con.unregister(using)
        return {tuple(r) for r in found}

    @contextlib.contextmanager
    def _partition_locks(self, touched: dict[str, set[tuple]]) -> Iterator[None]:
        """Exclusive locks on the touched partitions' lock files (a local lake), taken in one order so two
        writers cannot wait on each other; held from reading the partitions to publishing them."""
        if self.is_s3:
            yield
            return
        stripes = sorted({zlib.crc32(f"{table}/{LAYOUTS[table].relative(values)}".encode()) % LOCK_STRIPES
                          for table, partitions in touched.items() for values in partitions})
        folder = Path(self.root) / ".locks"
        folder.mkdir(exist_ok=True)
        handles = []
        try:
            for stripe in stripes:
                handle = open(folder / f"{stripe:03d}.lock", "a")
                handles.append(handle)
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            for handle in reversed(handles):
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()

    def _candidates(self, table: str, fixed: dict[str, object]) -> list[str]:
        """The stored partition files a delete's condition may reach: a top-level `column = ?` on a
        partition key fixes that directory (so a step reads its own partitions, not the whole table)."""
        pattern = self.glob(table, fixed)
        found = self.fs.glob(pattern) if self.is_s3 else globmod.glob(pattern)
        return sorted(f"s3://{f}" if self.is_s3 and not f.startswith("s3://") else f for f in found
                      if f"={SCHEMA_KEY}" not in f)

    def _known(self, table: str) -> None:
        if table not in LAYOUTS:
            raise LakeError(f"table {table!r} has no lake layout")

    def _rewrite(self, scratch, touched, parsed, inserts) -> None:
        from pipelines.lib.warehouse import insert_frame

        outputs: list[tuple[str, str]] = []
        scratch.execute("begin transaction")
        try:
            for table, partitions in touched.items():
                files = [p for p in (self.path(table, values) for values in partitions) if self._exists(p)]
                if files:
                    scratch.execute(f"insert into {table} by name select * from read_parquet(?, hive_partitioning = false)", [files])
            for table, statement, params in parsed:
                scratch.execute(statement, params)
            for table, frame in inserts:
                insert_frame(scratch, table, frame)
            for table, partitions in touched.items():
                keys = LAYOUTS[table].exprs()
                for values in sorted(partitions, key=lambda v: tuple(str(x) for x in v)):
                    where = " and ".join(f"{k} is not distinct from ?" for k in keys)
                    outputs.append((self._stage(scratch, f"select * from {table} where {where} order by all", list(values)),
                                    self.path(table, values)))
        finally:
            scratch.execute("rollback")
        for staged_file, target in outputs:
            self._publish(staged_file, target)

    def _stage(self, scratch, query: str, params: list) -> str:
        """Write a query's rows to a temporary local Parquet file (not yet visible to readers: a local
        lake stages under its own `.tmp/`, on the same disk, so the move is a rename)."""
        import pyarrow.parquet as pq

        tmp_dir = Path(tempfile.gettempdir() if self.is_s3 else self.root) / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        target = tmp_dir / f"{uuid.uuid4().hex}.parquet"
        pq.write_table(scratch.sql(query, params=params).to_arrow_table(), target, compression="zstd")
        return str(target)

    def _copy_out(self, scratch, query: str, target: str) -> None:
        self._publish(self._stage(scratch, query, []), target)

    def _publish(self, staged_file: str, target: str) -> None:
        """Move a complete file over the partition's `part.parquet` in one step."""
        if self.is_s3:
            try:
                self.fs.put_file(staged_file, target)  # one PUT: the object appears whole or not at all
            finally:
                os.unlink(staged_file)
            return
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged_file, target)

    def clean_staging(self, older_than_s: float = 3600.0) -> int:
        """Remove staging files a killed writer left behind (never visible to readers); only those older
        than `older_than_s`, so a writer still running keeps its own. Returns how many were removed."""
        import time

        folder = Path(tempfile.gettempdir() if self.is_s3 else self.root) / ".tmp"
        if not folder.is_dir():
            return 0
        removed = 0
        for path in folder.glob("*.parquet"):
            if time.time() - path.stat().st_mtime > older_than_s:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # ---- identity ----------------------------------------------------------------------------------------
    def content_hash(self) -> str:
        """sha256 of `table_hashes` over the whole lake: equal lakes, equal hashes."""
        with self.connect() as con:
            return digest(table_hashes(con))


def table_hashes(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Per table of the warehouse (a DuckDB file's tables or a lake's views): the row count and an
    order-free sum of row hashes, wall-clock columns left out. Equal content, equal numbers."""
    out = {}
    tables = con.execute("select table_schema || '.' || table_name from information_schema.tables "
                         "where table_schema in ('raw', 'levels', 'ops') order by 1").fetchall()
    for (table,) in tables:
        columns = [r[0] for r in con.execute(f"describe {table}").fetchall() if r[0] not in WALL_CLOCK]
        count, total = con.execute(f"select count(*), coalesce(sum(hash({', '.join(columns)})::hugeint), 0) "
                                   f"from {table}").fetchall()[0]
        out[table] = (int(count), int(total))
    return out


def digest(hashes: dict[str, tuple[int, int]]) -> str:
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()


def s3_options_from_env() -> dict:
    """s3fs options from the environment: `LIQLEVELS_LAKE_S3_ENDPOINT` (an S3-compatible server),
    credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (read by botocore itself, never stored)."""
    endpoint = os.environ.get("LIQLEVELS_LAKE_S3_ENDPOINT")
    # No listing cache: other processes add partitions while this one runs.
    options = {"use_listings_cache": False, "skip_instance_cache": True}
    return {**options, "client_kwargs": {"endpoint_url": endpoint}} if endpoint else options


_LAKES: dict[str, Lake] = {}


def lake_for(url: str) -> Lake:
    """One `Lake` per URL per process (its scratch database is reused across writes)."""
    if url not in _LAKES:
        _LAKES[url] = Lake(url)
    return _LAKES[url]


def lake_of(con: duckdb.DuckDBPyConnection) -> Lake | None:
    """The lake a connection was attached to, or None for a plain DuckDB warehouse file."""
    try:
        url = con.execute("select getvariable('liqlevels_lake')").fetchall()[0][0]
    except duckdb.Error:
        return None
    return lake_for(url) if url else None
