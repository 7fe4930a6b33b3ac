import datetime as dt
from pathlib import Path

import pytest

from pipelines.lib.paths import PROJECT_ROOT

BUNDLED_DATA = PROJECT_ROOT / "data"
WATCHLIST = PROJECT_ROOT / "watchlist.toml"
A_DAY = dt.date(2026, 3, 4)  # in the bundled range, with OKX liquidations


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own warehouse, exports folder and DAGSTER_HOME."""
    monkeypatch.setenv("LIQLEVELS_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("LIQLEVELS_EXPORTS", str(tmp_path / "exports"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    return tmp_path


@pytest.fixture
def warehouse_file(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


LEVEL_DAY = dt.date(2026, 3, 5)
# Ingested history before LEVEL_DAY: at least what the default preset's night reads (2 × its 30-day
# expiry + the baseline), so the stored levels equal the engine over the whole bundle.
HISTORY_DAYS = 65


@pytest.fixture(scope="session")
def bundled_warehouse(tmp_path_factory):
    """A warehouse with BTC ingested for the HISTORY_DAYS before LEVEL_DAY and levels + checks for its
    last two days, built once by real Dagster runs. Tests must not modify it (copy it first)."""
    from tests.pipelines.dagster_helpers import run_range

    path = tmp_path_factory.mktemp("bundled") / "warehouse.duckdb"
    ingest = run_range(path, ("ingest",), LEVEL_DAY - dt.timedelta(days=HISTORY_DAYS), LEVEL_DAY)
    levels = run_range(path, ("levels",), LEVEL_DAY - dt.timedelta(days=1), LEVEL_DAY)
    assert ingest.success and levels.success
    return path, ingest, levels
