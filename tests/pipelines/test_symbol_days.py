"""One symbol's empty or broken day never stops the others (issue: reliability, item 1).

Real Dagster runs of every ingest, level, view and export asset over users' folders that hold the
empty-frame paths: three candles and no volume, a header-only file, a symbol with no files at all,
all-empty optional columns. Then a symbol whose computation raises: its symbol-day is reported and
withheld, the other symbol completes.
"""

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from tests.conftest import BUNDLED_DATA
from tests.pipelines.dagster_helpers import definitions, run_range

DAY = dt.date(2026, 3, 4)
GROUPS = ("ingest", "levels", "exports")
LEVEL_AND_EXPORT_ASSETS = sorted(
    "/".join(key.path) for a in definitions().assets if isinstance(a, dg.AssetsDefinition)
    for key in a.keys if key.path[0] in ("levels", "exports"))


def bundled_eth(root: Path) -> None:
    for table in ("klines", "open_interest", "funding", "liquidations"):
        for path in (BUNDLED_DATA / table).glob("*/ETH.parquet"):
            target = root / table / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)


def write_csv(root: Path, table: str, venue: str, symbol: str, text: str) -> None:
    path = root / table / venue / f"{symbol}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def three_candles_no_volume(root: Path) -> None:
    write_csv(root, "klines", "bybit", "BTC", "ts,interval,open,high,low,close\n"
              "2026-03-04T00:00:00Z,1h,68000,68100,67900,68050\n"
              "2026-03-04T01:00:00Z,1h,68050,68200,68000,68150\n"
              "2026-03-04T02:00:00Z,1h,68150,68160,67950,68000\n")


def header_only(root: Path) -> None:
    write_csv(root, "klines", "binance", "BTC", "ts,interval,open,high,low,close,volume\n")
    write_csv(root, "open_interest", "binance", "BTC", "ts,interval,oi_usd\n")


def no_files(root: Path) -> None:
    pass  # BTC is in the watchlist but the folder has nothing for it


def empty_optional_columns(root: Path) -> None:
    hours = pd.date_range(pd.Timestamp(DAY), periods=24, freq="1h")
    price = 68000 + 50 * pd.Series(range(24)).map(lambda i: (-1) ** i * (i % 5))
    klines = pd.DataFrame({"ts": hours.strftime("%Y-%m-%dT%H:%M:%SZ"), "interval": "1h", "open": price, "high": price + 80,
                           "low": price - 80, "close": price + 10, "volume": 100.0, "quote_volume": "", "taker_buy_volume": ""})
    oi = pd.DataFrame({"ts": hours.strftime("%Y-%m-%dT%H:%M:%SZ"), "interval": "1h", "oi_base": "", "oi_usd": 5e9})
    write_csv(root, "klines", "binance", "BTC", klines.to_csv(index=False))
    write_csv(root, "open_interest", "binance", "BTC", oi.to_csv(index=False))


SCENARIOS = {f.__name__: f for f in (three_candles_no_volume, header_only, no_files, empty_optional_columns)}


@pytest.fixture(scope="module")
def scenario_runs(tmp_path_factory):
    """scenario -> (run result, warehouse file, exports root), each run once for the module."""
    runs: dict = {}

    def get(name: str):
        if name not in runs:
            base = tmp_path_factory.mktemp(name)
            data = base / "data"
            bundled_eth(data)
            SCENARIOS[name](data)
            result = run_range(base / "warehouse.duckdb", GROUPS, DAY, DAY, symbols=("BTC", "ETH"), data_root=data,
                               raise_on_error=False, exports=base / "exports")
            runs[name] = (result, base / "warehouse.duckdb", base / "exports")
        return runs[name]

    return get


def materialized(result) -> set[str]:
    return {"/".join(e.asset_key.path) for e in result.get_asset_materialization_events()}


@pytest.mark.parametrize("asset", LEVEL_AND_EXPORT_ASSETS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_level_view_and_export_asset_completes_on_an_empty_symbol_day(scenario_runs, scenario, asset):
    result, warehouse, _ = scenario_runs(scenario)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert asset in materialized(result)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        errors = con.execute("select symbol, message from ops.asset_notes where asset = ? and severity = 'error'", [asset]).fetchall()
    assert errors == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_other_symbol_and_the_empty_one_are_exported(scenario_runs, scenario):
    result, _, exports = scenario_runs(scenario)
    for symbol in ("BTC", "ETH"):
        folder = exports / DAY.isoformat() / symbol
        assert (folder / "levels.parquet").is_file() and (folder / f"{symbol}_liquidation_levels.pine").is_file(), symbol
    eth = pd.read_parquet(exports / DAY.isoformat() / "ETH" / "levels.parquet")
    assert (eth["method"] == "behavioral").sum() > 0  # ETH's own pools, not an empty file


def test_klines_without_volume_are_stored_and_the_pools_say_they_had_none(scenario_runs):
    _, warehouse, _ = scenario_runs("three_candles_no_volume")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = con.execute("select count(*), count(volume) from raw.klines where symbol = 'BTC' and venue = 'bybit'").fetchall()
        notes = con.execute("select severity, message from ops.asset_notes where asset = 'levels/behavioral' and symbol = 'BTC'").fetchall()
    assert stored == [(3, 0)]
    assert notes == [("warning", "bybit klines carry no volume: behavioral pools (volume-weighted) not computed for bybit")]


def test_a_failing_symbol_day_is_reported_and_withheld_while_the_others_complete(tmp_path, monkeypatch):
    from pipelines.defs.levels import views

    real = views.compute_pools

    def broken_for_btc(klines, params, *, venue, symbol):
        if symbol == "BTC":
            raise ZeroDivisionError("injected for BTC")
        return real(klines, params, venue=venue, symbol=symbol)

    monkeypatch.setattr(views, "compute_pools", broken_for_btc)
    data = tmp_path / "data"
    shutil.copytree(BUNDLED_DATA, data)
    result = run_range(tmp_path / "w.duckdb", GROUPS, DAY, DAY, symbols=("BTC", "ETH"), data_root=data, raise_on_error=False,
                       exports=tmp_path / "exports")
    assert result.success
    assert set(LEVEL_AND_EXPORT_ASSETS) <= materialized(result)
    day = tmp_path / "exports" / DAY.isoformat()
    assert (day / "ETH" / "levels.parquet").is_file() and (day / "ETH" / "ETH_liquidation_levels.pine").is_file()
    assert not (day / "BTC" / "levels.parquet").exists() and not (day / "BTC" / "BTC_liquidation_levels.pine").exists()
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        notes = dict(con.execute("select asset, message from ops.asset_notes where symbol = 'BTC' and severity = 'error'").fetchall())
        eth_errors = con.execute("select count(*) from ops.asset_notes where symbol = 'ETH' and severity = 'error'").fetchall()[0][0]
        check = con.execute("select success, sample from ops.validation_results where table_name = 'levels.behavioral' "
                            "and expectation like 'every symbol-day computed%'").fetchall()
    assert notes["levels/behavioral"] == "ZeroDivisionError: injected for BTC"
    for downstream in ("levels/clusters", "levels/max_pain", "levels/quality", "exports/level_files", "exports/pine_scripts"):
        assert notes[downstream].startswith("not computed: "), downstream
    assert "levels/objective" not in notes and "levels/heatmap" not in notes  # not downstream of the failure
    assert eth_errors == 0
    assert check and check[0][0] is False and "injected for BTC" in check[0][1]
