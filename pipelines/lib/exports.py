"""Daily level files, the day's manifest and the `latest/` view. Every file is written atomically
(temporary file + rename) so a reader never sees half a file, and deterministically, so a rerun
replaces it byte for byte."""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.lib.ids import join_ids
from pipelines.lib.watchlist import validate_symbol

# 2: known_ts (when the level could be known: the close of the bar that made it), expires_ts,
#    initial_notional_usd, volume_usd (behavioral size in USD); strength per (method, preset, venue).
SCHEMA_VERSION = 2
# The level-file schema (documented in the README); one row per level standing on the as-of day.
LEVEL_FILE_COLUMNS = {
    "schema_version": "int: version of this schema",
    "as_of": "date: the UTC day the levels stand at the end of",
    "symbol": "canonical symbol (BTC)",
    "venue": "objective: venue whose open interest made the level, or 'all' (aggregated across venues); "
             "behavioral: venue whose candles made the pool",
    "method": "'objective' (open interest), 'behavioral' (swing liquidity pools) or 'measured' (zones of real Hyperliquid "
              "positions at their exchange-computed liquidation prices, the day's last scan)",
    "preset": "parameter preset of the method ('default', 'leviathan', 'calibrated'; 'scan' for measured zones)",
    "side": "'long' (long liquidations, below price) or 'short' (above price)",
    "leverage": "leverage tier (10, 25, 50, 100; calibrated 3, 5, 10, 20, 40); null for behavioral levels and measured zones",
    "price": "liquidation price (objective), pool price (behavioral) or the zone's USD-weighted liquidation price (measured), USD",
    "notional_usd": "objective: USD of positions still open at the level at the end of the day; measured: USD of the zone's "
                    "positions; null for behavioral",
    "initial_notional_usd": "objective: USD of positions the level was created with; null for behavioral",
    "weight": "behavioral: pool weight, the base-unit volume of the 10 bars ending at the swing; null for objective",
    "volume_usd": "behavioral: weight × pool price, the USD traded around the swing (a size estimate, not liquidation USD); "
                  "null for objective",
    "strength": "0-1: the level's size (notional_usd, or weight) relative to the largest of its method, preset and venue "
                "that day",
    "size_class": "small / medium / large (objective)",
    "created_ts": "UTC open of the bar that made the level (the level is not known before known_ts)",
    "known_ts": "UTC time the level became known: the close of that bar; draw and score from here",
    "expires_ts": "objective: UTC time an unfilled level expires; null for behavioral (a pool stands until swept)",
    "status": "'active' at the end of the day; objective 'filled' (price reached it) or 'expired' during the day; "
              "behavioral 'swept' (price traded through the pool) during the day",
    "level_id": "stable id of the level across days",
}


POOL_SIDE_TO_LIQUIDATED = {"sell-side": "long", "buy-side": "short"}  # pools below price stop longs


def _nulls(n: int, dtype: str) -> pd.Series:
    return pd.Series([None] * n, dtype=dtype)


def measured_rows(zones: pd.DataFrame, snapshot_ts, scan_end) -> pd.DataFrame:
    """`levels.clusters` rows of source 'measured' (one symbol-day) → level-file rows: a zone of real
    positions, known when the scan that measured it ended."""
    n = len(zones)
    return pd.DataFrame({
        "schema_version": SCHEMA_VERSION, "as_of": pd.to_datetime(zones["as_of"]).dt.date, "symbol": zones["symbol"].astype(str),
        "venue": "hyperliquid", "method": "measured", "preset": "scan", "side": zones["side"].astype(str),
        "leverage": _nulls(n, "Int64"), "price": zones["price_mid"].astype(float), "notional_usd": zones["usd"].astype("Float64"),
        "initial_notional_usd": _nulls(n, "Float64"), "weight": _nulls(n, "Float64"), "volume_usd": _nulls(n, "Float64"),
        "strength": 0.0, "size_class": None, "created_ts": pd.Series(pd.Timestamp(snapshot_ts), index=zones.index),
        "known_ts": pd.Series(pd.Timestamp(scan_end), index=zones.index),
        "expires_ts": pd.Series(pd.NaT, index=zones.index, dtype="datetime64[us]"), "status": "active",
        "level_id": join_ids("measured", zones["symbol"], pd.Timestamp(snapshot_ts).strftime("%Y%m%dT%H%M%S"), zones["side"],
                             zones["cluster_id"]),
    })


def level_file_rows(objective: pd.DataFrame, behavioral: pd.DataFrame | None, bar_seconds: int,
                    measured: pd.DataFrame | None = None) -> pd.DataFrame:
    """`levels.objective` (+ `levels.behavioral`, + measured zones from `measured_rows`) rows of one
    symbol-day → rows of the level-file schema.

    `bar_seconds` is the bar interval the levels were computed at: a level is known at its bar's close.
    """
    bar = pd.Timedelta(seconds=bar_seconds)
    created = pd.to_datetime(objective["created_ts"])
    parts = [pd.DataFrame({
        "schema_version": SCHEMA_VERSION,
        "as_of": pd.to_datetime(objective["as_of"]).dt.date,
        "symbol": objective["symbol"].astype(str),
        "venue": objective["venue"].astype(str),
        "method": "objective",
        "preset": objective["preset"].astype(str),
        "side": objective["side"].astype(str),
        "leverage": objective["leverage"].astype("Int64"),
        "price": objective["liq_price"].astype(float),
        "notional_usd": objective["notional_usd"].astype("Float64"),
        "initial_notional_usd": objective["initial_notional_usd"].astype("Float64"),
        "weight": _nulls(len(objective), "Float64"),
        "volume_usd": _nulls(len(objective), "Float64"),
        "strength": 0.0,
        "size_class": objective["size_class"].astype(str),
        "created_ts": created,
        "known_ts": pd.to_datetime(objective["known_ts"]) if "known_ts" in objective else created + bar,
        "expires_ts": pd.to_datetime(objective["expires_ts"]),
        "status": objective["status"].astype(str),
        "level_id": objective["level_id"].astype(str),
    })]
    if behavioral is not None and len(behavioral):
        pool_created = pd.to_datetime(behavioral["created_ts"])
        parts.append(pd.DataFrame({
            "schema_version": SCHEMA_VERSION,
            "as_of": pd.to_datetime(behavioral["as_of"]).dt.date,
            "symbol": behavioral["symbol"].astype(str),
            "venue": behavioral["venue"].astype(str),
            "method": "behavioral",
            "preset": "default",
            "side": behavioral["side"].map(POOL_SIDE_TO_LIQUIDATED),
            "leverage": _nulls(len(behavioral), "Int64"),
            "price": behavioral["price"].astype(float),
            "notional_usd": _nulls(len(behavioral), "Float64"),
            "initial_notional_usd": _nulls(len(behavioral), "Float64"),
            "weight": behavioral["weight"].astype("Float64"),
            "volume_usd": (behavioral["weight"].astype(float) * behavioral["price"].astype(float)).astype("Float64"),
            "strength": 0.0,
            "size_class": None,
            "created_ts": pool_created,
            "known_ts": pd.to_datetime(behavioral["known_ts"]) if "known_ts" in behavioral else pool_created + bar,
            "expires_ts": pd.Series(pd.NaT, index=behavioral.index, dtype="datetime64[us]"),
            "status": behavioral["status"].astype(str),
            "level_id": behavioral["pool_id"].astype(str),
        }))
    if measured is not None and len(measured):
        parts.append(measured)
    out = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    size = out["notional_usd"].astype(float).fillna(out["weight"].astype(float))
    # Per (method, preset, venue): a venue whose pools are smaller (or whose volume unit differs) still
    # draws its own strongest level at full strength.
    biggest = size.groupby([out["method"], out["preset"], out["venue"]]).transform("max")
    out["strength"] = (size / biggest).where(biggest > 0, 0.0).fillna(0.0).clip(0, 1).round(6)
    return out.sort_values(["method", "preset", "venue", "side", "price", "level_id"]).reset_index(drop=True)


def write_atomic(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def _csv_bytes(rows: pd.DataFrame) -> bytes:
    return rows.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%SZ", float_format="%.10g", lineterminator="\n").encode()


def _json_bytes(rows: pd.DataFrame, symbol: str, day: dt.date) -> bytes:
    """The JSON document: the header fields, then pandas' own records text spliced in (not re-parsed
    and re-dumped: three times faster on 18,000 five-minute levels; floats keep 10 decimals)."""
    head = json.dumps({"schema_version": SCHEMA_VERSION, "symbol": symbol, "as_of": day.isoformat(), "columns": LEVEL_FILE_COLUMNS},
                      separators=(",", ":"))
    records = rows.to_json(orient="records", date_format="iso", date_unit="s")
    return (head[:-1] + ',"levels":' + records + "}\n").encode()


def _parquet_bytes(rows: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(rows, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def day_dir(root: Path, day: dt.date) -> Path:
    return root / day.isoformat()


def write_level_files(root: Path, day: dt.date, symbol: str, rows: pd.DataFrame) -> list[Path]:
    """levels.csv / .parquet / .json of one symbol-day under <root>/<day>/<SYMBOL>/."""
    folder = day_dir(root, day) / validate_symbol(symbol)
    return [
        write_atomic(folder / "levels.csv", _csv_bytes(rows)),
        write_atomic(folder / "levels.parquet", _parquet_bytes(rows)),
        write_atomic(folder / "levels.json", _json_bytes(rows, symbol, day)),
    ]


def read_level_file(root: Path, day: dt.date, symbol: str) -> pd.DataFrame:
    """The published levels.parquet of one symbol-day: what the Pine overlay draws is what the file says."""
    path = day_dir(root, day) / validate_symbol(symbol) / "levels.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: materialize exports/level_files for {day} first")
    return pq.read_table(path).to_pandas()


def _rows_in(path: Path) -> int | None:
    if path.name.endswith(".csv"):
        return max(0, len(path.read_bytes().splitlines()) - 1)
    if path.name.endswith(".parquet"):
        return pq.ParquetFile(path).metadata.num_rows
    if path.name.endswith(".json"):
        return len(json.loads(path.read_bytes())["levels"])
    if path.name.endswith(".pine"):
        for line in path.read_text().splitlines()[:6]:
            if line.startswith("// levels: "):
                return int(line.split()[2])
    return None


def _file_entry(folder: Path, path: Path) -> dict:
    """A manifest entry of one file: its path in the day folder, SHA-256, size and row count."""
    data = path.read_bytes()
    return {"path": path.relative_to(folder).as_posix(), "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data), "rows": _rows_in(path)}


def write_manifest(root: Path, day: dt.date) -> Path:
    """manifest.json of a day folder: every file in it with SHA-256, size and row count.

    The runs of different symbols write into one day folder at once: each lists and writes the manifest
    under an exclusive lock (`.manifest.lock`), so the last one to write has seen every finished file.
    A file whose size, modification time (ns) and inode are those recorded when it was last hashed
    (`.manifest.cache.json`) keeps its entry: every symbol's export rewrites the day's manifest, and
    hashing every symbol's files each time made a night's exports grow with the square of the symbols.
    (Files are replaced by rename, so a rewritten file always has a new inode.)"""
    folder = day_dir(root, day)
    folder.mkdir(parents=True, exist_ok=True)
    cache_path = folder / ".manifest.cache.json"
    with open(folder / ".manifest.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            cache = json.loads(cache_path.read_text())
        except (OSError, ValueError):
            cache = {}  # none yet, or unreadable: hash every file
        files, seen = [], {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".")):
            stat = path.stat()
            stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
            known = cache.get(path.relative_to(folder).as_posix())
            entry = known["entry"] if isinstance(known, dict) and known.get("stamp") == stamp else _file_entry(folder, path)
            files.append(entry)
            seen[entry["path"]] = {"stamp": stamp, "entry": entry}
        manifest = {"schema_version": SCHEMA_VERSION, "as_of": day.isoformat(), "files": files}
        written = write_atomic(folder / "manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
        write_atomic(cache_path, json.dumps(seen).encode())
        return written


def refresh_latest(root: Path, symbol: str, required: tuple[str, ...]) -> Path | None:
    """Copy the newest day folder of `symbol` holding every `required` file to <root>/latest/<SYMBOL>/."""
    validate_symbol(symbol)
    days = sorted((p for p in root.iterdir() if p.is_dir() and p.name[:2] == "20"), reverse=True) if root.exists() else []
    for folder in days:
        source = folder / symbol
        if all((source / name).is_file() for name in required):
            target = root / "latest" / symbol
            staging = target.with_name(f".{symbol}.staging")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(source, staging)
            (staging / "AS_OF").write_text(folder.name + "\n")
            old = target.with_name(f".{symbol}.old")
            shutil.rmtree(old, ignore_errors=True)
            if target.exists():
                os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
            return target
    return None
