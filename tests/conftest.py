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
