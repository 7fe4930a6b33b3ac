"""`liqlevels lake`: the Parquet lake behind LIQLEVELS_LAKE — its content hash, the DuckDB catalog of
views over it, and moving an existing DuckDB warehouse into it."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    lake = sub.add_parser("lake", help="The Parquet lake (LIQLEVELS_LAKE): hash, catalog, clean, import.",
                          description="Work with the Parquet lake that LIQLEVELS_LAKE names (a folder or s3://bucket/prefix).")
    actions = lake.add_subparsers(dest="action", required=True)
    show = actions.add_parser("hash", help="Print the lake's content hash and rows per table (equal content, equal hash).")
    show.add_argument("--tables", action="store_true", help="also print each table's rows and row-hash sum")
    actions.add_parser("catalog", help="(Re)create the DuckDB file (LIQLEVELS_WAREHOUSE) as a catalog of views over the lake.")
    clean = actions.add_parser("clean", help="Remove staging files a killed writer left behind (older than --hours).")
    clean.add_argument("--hours", type=float, default=1.0, help="only files older than this (default 1 hour)")
    imported = actions.add_parser("import", help="Copy a DuckDB warehouse file's tables into an empty lake.")
    imported.add_argument("warehouse", help="the DuckDB warehouse file to copy (opened read-only)")
    lake.set_defaults(func=cmd_lake)


def cmd_lake(args: argparse.Namespace) -> int:
    from pipelines.lib.lake import LakeError, digest, lake_for, table_hashes
    from pipelines.lib.paths import lake_url, warehouse_path

    url = lake_url()
    if url is None:
        print("liqlevels lake: set LIQLEVELS_LAKE to a folder or s3://bucket/prefix first", file=sys.stderr)
        return 2
    try:
        lake = lake_for(url)
        if args.action == "hash":
            with lake.connect() as con:
                hashes = table_hashes(con)
            print(f"{digest(hashes)}  {url}")
            for table, (rows, total) in hashes.items() if args.tables else ():
                print(f"  {table:<32} {rows:>12,}  {total}")
        elif args.action == "catalog":
            from pipelines.lib.warehouse import ensure_catalog

            problem = ensure_catalog(warehouse_path())
            if problem:
                print(f"liqlevels lake: {problem}", file=sys.stderr)
                return 1
            print(f"{warehouse_path()}: views over {url}")
        elif args.action == "clean":
            print(f"removed {lake.clean_staging(args.hours * 3600):,} staging files older than {args.hours:g} h from {url}")
        else:
            copied = import_warehouse(lake, args.warehouse)
            print(f"copied {sum(copied.values()):,} rows of {len(copied)} tables from {args.warehouse} into {url}")
    except LakeError as exc:
        print(f"liqlevels lake: {exc}", file=sys.stderr)
        return 2
    return 0


def import_warehouse(lake, path: str) -> dict[str, int]:
    """Copy every table of a DuckDB warehouse (migrated to the current schema first) into an empty lake,
    partition by partition; a lake that already holds rows is refused (nothing is merged or lost)."""
    import shutil
    import tempfile
    from pathlib import Path

    import duckdb

    from pipelines.lib.lake import LakeError
    from pipelines.lib.warehouse import migrate

    with lake.connect() as con:
        stored = [t for t in lake.tables() if t != "ops.schema_version"
                  and con.execute(f"select count(*) from {t}").fetchall()[0][0]]
    if stored:
        raise LakeError(f"lake {lake.url} already holds rows ({stored[0]}, …): import only into an empty lake")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "warehouse.duckdb"
        shutil.copyfile(path, copy)  # migrated on a copy: the user's file stays as it was
        source = duckdb.connect(str(copy))
        try:
            migrate(source)
            copied = {}
            with lake.connect() as con:
                for table in lake.tables():
                    if table == "ops.schema_version":
                        continue
                    frame = source.execute(f"select * from {table}").fetch_df()
                    lake.replace(con, [], [(table, frame)], {})  # an empty frame touches nothing
                    copied[table] = len(frame)
        finally:
            source.close()
    return copied
