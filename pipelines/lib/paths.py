"""Where things live on disk. Every location can be overridden by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def warehouse_path() -> Path:
    """DuckDB file of the warehouse (`LIQLEVELS_WAREHOUSE`, default `warehouse/liqlevels.duckdb`)."""
    return _env_path("LIQLEVELS_WAREHOUSE", PROJECT_ROOT / "warehouse" / "liqlevels.duckdb")


def lake_url() -> str | None:
    """The Parquet lake (`LIQLEVELS_LAKE`: a folder or s3://bucket/prefix), or None: the DuckDB file alone.

    With a lake, every table is stored there and the DuckDB file becomes a catalog of views over it."""
    value = os.environ.get("LIQLEVELS_LAKE", "").strip()
    if not value:
        return None
    if value.startswith("s3://"):
        return value
    return str(Path(value).expanduser().resolve())


def data_root() -> Path:
    """Root of the files source (`LIQLEVELS_DATA`, default the bundled `data/`)."""
    return _env_path("LIQLEVELS_DATA", PROJECT_ROOT / "data")


def landing_root() -> Path:
    """Where collectors land stream messages (`LIQLEVELS_LANDING`, default `warehouse/landing`)."""
    return _env_path("LIQLEVELS_LANDING", PROJECT_ROOT / "warehouse" / "landing")


def source_mode() -> str:
    """`live` (exchange APIs, the default of the nightly job) or `files` (`LIQLEVELS_SOURCE`)."""
    return os.environ.get("LIQLEVELS_SOURCE", "live")


def exports_root() -> Path:
    """Root of the daily exports (`LIQLEVELS_EXPORTS`, default `exports/`)."""
    return _env_path("LIQLEVELS_EXPORTS", PROJECT_ROOT / "exports")


def watchlist_path() -> Path:
    """Watchlist TOML (`LIQLEVELS_WATCHLIST`, default `watchlist.toml` at the project root)."""
    return _env_path("LIQLEVELS_WATCHLIST", PROJECT_ROOT / "watchlist.toml")


def dagster_home() -> Path:
    """Absolute `DAGSTER_HOME`; Dagster refuses relative paths."""
    return _env_path("DAGSTER_HOME", PROJECT_ROOT / "warehouse" / "dagster_home")
