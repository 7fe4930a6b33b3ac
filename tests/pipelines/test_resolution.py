"""Levels at the data's own resolution: a synthetic 5-minute market through every asset, and a
symbol whose data does not match its configured interval failing loudly."""

import datetime as dt

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.conftest import BUNDLED_DATA
from tests.pipelines.dagster_helpers import definitions, run_range

START, END = dt.date(2026, 3, 2), dt.date(2026, 3, 4)
GROUPS = ("ingest", "levels", "exports")


def watchlist_file(tmp_path, interval: str) -> str:
    path = tmp_path / "watchlist.toml"
    path.write_text(f'[defaults]\ninterval = "{interval}"\n\n[symbols.BTC]\ntick_size = 0.1\n\n'
                    '[symbols.BTC.venues.binance]\ninstrument = "BTCUSDT"\n')
    return path


def five_minute_market(root, days: int = 3, seed: int = 7) -> None:
    """A random-walk BTC at 5-minute bars with OI that jumps now and then (positions opened)."""
    rng = np.random.default_rng(seed)
    n = days * 288
    ts = pd.date_range(pd.Timestamp(START), periods=n, freq="5min")
    close = 68_000 * np.exp(np.cumsum(rng.normal(0, 0.0015, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, n))
    volume = rng.uniform(50, 150, n)
    jumps = np.where(rng.random(n) < 0.03, rng.uniform(2e7, 8e7, n), rng.normal(0, 2e6, n))
    oi_usd = 5e9 + np.cumsum(jumps)
    stamp = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    (root / "klines" / "binance").mkdir(parents=True)
    (root / "open_interest" / "binance").mkdir(parents=True)
    pd.DataFrame({"ts": stamp, "interval": "5m", "open": open_, "high": high, "low": low, "close": close, "volume": volume,
                  "taker_buy_volume": volume * rng.uniform(0.3, 0.7, n)}).to_csv(root / "klines" / "binance" / "BTC.csv", index=False)
    pd.DataFrame({"ts": stamp, "interval": "5m", "oi_usd": oi_usd}).to_csv(root / "open_interest" / "binance" / "BTC.csv", index=False)


@pytest.fixture(scope="module")
def five_minute_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("five")
    five_minute_market(base / "data")
    result = run_range(base / "w.duckdb", GROUPS, START, END, symbols=("BTC",), data_root=base / "data", raise_on_error=False,
                       exports=base / "exports", watchlist=watchlist_file(base, "5m"))
    return result, base


def test_five_minute_data_makes_levels_views_scores_files_and_pine_at_five_minutes(five_minute_run):
    result, base = five_minute_run
    assert result.success
    keys = {"/".join(k.path) for a in definitions().assets if isinstance(a, dg.AssetsDefinition) for k in a.keys}
    assert {"/".join(e.asset_key.path) for e in result.get_asset_materialization_events()} >= keys - {"landing/hyperliquid_oi_snapshot", "landing/hyperliquid_positions_scan"}
    with duckdb.connect(str(base / "w.duckdb"), read_only=True) as con:
        count = lambda sql: con.execute(sql, [END]).fetchall()[0][0]  # noqa: E731
        assert count("select count(*) from levels.objective where as_of = ? and status = 'active'") > 0
        assert count("select count(*) from levels.behavioral where as_of = ?") > 0
        assert count("select count(*) from levels.heatmap where as_of = ? and long_usd + short_usd > 0") > 0
        assert count("select count(*) from levels.clusters where as_of = ?") > 0
        assert count("select count(*) from levels.quality where as_of = ?") > 0
        minutes = con.execute("select distinct minute(created_ts) % 5 from levels.objective").fetchall()
        errors = con.execute("select count(*) from ops.asset_notes where severity = 'error'").fetchall()[0][0]
    assert minutes == [(0,)] and errors == 0
    files = pd.read_parquet(base / "exports" / END.isoformat() / "BTC" / "levels.parquet")
    assert ((files["known_ts"] - files["created_ts"]) == pd.Timedelta(minutes=5)).all()
    assert (files["method"] == "objective").sum() > 0 and (files["method"] == "behavioral").sum() > 0
    pine = (base / "exports" / END.isoformat() / "BTC" / "BTC_liquidation_levels.pine").read_text()
    assert "// levels: 0 drawn" not in pine


def test_one_minute_candles_are_bucketed_to_the_configured_interval_in_duckdb(tmp_path):
    from pipelines.lib.market import load_klines
    from pipelines.lib.warehouse import connect

    ts = pd.date_range("2026-03-04", periods=30, freq="1min")
    rows = pd.DataFrame({"venue": "binance", "symbol": "BTC", "interval": "1m", "ts": ts, "open": np.arange(30) + 100.0,
                         "high": np.arange(30) + 101.0, "low": np.arange(30) + 99.0, "close": np.arange(30) + 100.5,
                         "volume": 1.0, "quote_volume": None, "taker_buy_volume": 0.25})
    with connect(tmp_path / "w.duckdb") as con:
        con.register("rows", rows)
        con.execute("insert into raw.klines select * from rows")
        bars = load_klines(con, "binance", "BTC", "5m", dt.datetime(2026, 3, 4), dt.datetime(2026, 3, 5))
    assert len(bars) == 6
    first = bars.iloc[0]
    assert (first.open, first.high, first.low, first.close, first.volume, first.taker_buy_volume) == (100.0, 105.0, 99.0, 104.5, 5.0, 1.25)


def test_data_at_another_interval_than_configured_fails_its_check_naming_what_was_found(tmp_path):
    result = run_range(tmp_path / "w.duckdb", ("ingest", "levels"), END, END, symbols=("BTC",), data_root=BUNDLED_DATA,
                       raise_on_error=False, exports=tmp_path / "exports", watchlist=watchlist_file(tmp_path, "5m"))
    assert result.success
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        notes = dict(con.execute("select asset, message from ops.asset_notes where severity = 'error'").fetchall())
        check = con.execute("select success, sample from ops.validation_results where table_name = 'levels.objective' "
                            "and expectation like 'every symbol-day computed%'").fetchall()
    assert notes["levels/objective"] == ("IntervalMismatch: BTC: klines are stored at other intervals (binance 1h) than the "
                                         "configured 5m, and none is finer and divides it: set interval in the watchlist or "
                                         "load 5m candles")
    assert notes["levels/behavioral"] == notes["levels/objective"]  # pools need candles at the interval too
    assert check[0][0] is False and "configured 5m" in check[0][1]


def materialize_behavioral(warehouse, start: dt.date, end: dt.date):
    from pipelines.defs.levels.views import behavioral_levels
    from tests.pipelines.dagster_helpers import resources, symbol_range_tags

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([behavioral_levels], resources=resources(warehouse), instance=instance,
                            tags=symbol_range_tags(instance, start, end, ["BTC"]))
    assert result.success
    metadata = result.asset_materializations_for_node("levels__behavioral")[-1].metadata
    return metadata["venue_days_incremental"].value, metadata["venue_days_from_scratch"].value


def pools(warehouse, day: dt.date) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select * exclude (as_of) from levels.behavioral where as_of = ? order by pool_id", [day]).fetch_df()


def test_incremental_nights_equal_a_from_scratch_night_and_a_middle_rerun_is_idempotent(bundled_warehouse, tmp_path):
    import shutil

    nights = [dt.date(2026, 2, 27) + dt.timedelta(days=i) for i in range(7)]
    warehouse = tmp_path / "nightly.duckdb"
    shutil.copy(bundled_warehouse[0], warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from ops.engine_state")
    paths = [materialize_behavioral(warehouse, night, night) for night in nights]
    # the first night recomputes from scratch, each later one continues from the night before
    assert paths == [(0, 3)] + [(3, 0)] * (len(nights) - 1)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        state = con.execute("select count(*) from ops.engine_state where engine = 'behavioral' and symbol = 'BTC'").fetchall()[0][0]
    assert state == 3 * len(nights)  # binance, bybit, okx every night
    incremental = {night: pools(warehouse, night) for night in nights}
    scratch = tmp_path / "scratch.duckdb"
    shutil.copy(warehouse, scratch)
    with duckdb.connect(str(scratch)) as con:
        con.execute("delete from ops.engine_state")
    assert materialize_behavioral(scratch, nights[-1], nights[-1]) == (0, 3)
    pd.testing.assert_frame_equal(pools(scratch, nights[-1]), incremental[nights[-1]], check_exact=True)
    assert len(incremental[nights[-1]]) > 100
    materialize_behavioral(warehouse, nights[2], nights[2])  # rerun a middle day, then the days after it
    materialize_behavioral(warehouse, nights[3], nights[-1])
    for night in nights:
        pd.testing.assert_frame_equal(pools(warehouse, night), incremental[night], check_exact=True)


def test_new_candles_of_a_day_drop_the_engine_state_from_that_day_on(tmp_path):
    from pipelines.lib.warehouse import Partition, connect, has_engine_state, record_engine_state, replace_partition

    with connect(tmp_path / "w.duckdb") as con:
        for day in (dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)):
            record_engine_state(con, "behavioral", "BTC", "binance", day, "1h", "p")
        rows = pd.DataFrame({"venue": "binance", "symbol": "BTC", "interval": "1h", "ts": [pd.Timestamp("2026-03-02 05:00")],
                             "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0, "quote_volume": None,
                             "taker_buy_volume": None})
        replace_partition(con, Partition("klines", "binance", "BTC", dt.date(2026, 3, 2)), rows)
        kept = [has_engine_state(con, "behavioral", "BTC", "binance", dt.date(2026, 3, d), "1h", "p") for d in (1, 2, 3)]
    assert kept == [True, False, False]
