"""Suites pass on clean bundled days and fail the expected expectation on corrupted copies;
blocking failures stop downstream assets and quarantine the rows."""

import datetime as dt
import shutil

import dagster as dg
import duckdb
import pandas as pd
import pytest

from pipelines.defs.checks.checks import CHECKED, suite_for
from pipelines.lib.validation import validate
from pipelines.lib.paths import exports_root
from tests.conftest import BUNDLED_DATA, LEVEL_DAY
from tests.pipelines.dagster_helpers import materialize_day, run_range

DAY = LEVEL_DAY - dt.timedelta(days=1)  # a complete day (the bundle ends at 10:00 on LEVEL_DAY)
START = dt.datetime.combine(DAY, dt.time())


def day_frame(path, table: str) -> pd.DataFrame:
    if table == "raw.liquidation_history":
        return hourly_liquidation_totals(path)
    query = CHECKED[table][1]
    day = LEVEL_DAY if table == "levels.leaderboard" else DAY  # a run's leaderboard is as of its last day
    bounds = [day, day + dt.timedelta(days=1)] if table.startswith("levels.") else [START, START + dt.timedelta(days=1)]
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(query, [*bounds, ["BTC", "ETH", "SOL"]]).fetch_df()


def hourly_liquidation_totals(path) -> pd.DataFrame:
    """No Coinglass data is bundled: the day's realized (OKX) liquidations summed per hour have its shape."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "select 'coinglass' as venue, symbol, '1h' as interval, date_trunc('hour', ts) as ts, "
            "sum(usd) filter (where side = 'long') as long_usd, coalesce(sum(usd) filter (where side = 'short'), 0) as short_usd, "
            "cast(date_trunc('hour', ts) as date) as partition_day, cast(date_trunc('hour', ts) as date) as ts_day "
            "from raw.liquidations where ts >= ? and ts < ? group by all order by all",
            [START, START + dt.timedelta(days=1)]).fetch_df().fillna({"long_usd": 0.0})


def test_liquidation_history_rules_catch_negative_and_repeated_bars(bundled_warehouse):
    frame = hourly_liquidation_totals(bundled_warehouse[0])
    assert failed(frame, "raw.liquidation_history") == {}
    assert "long_usd >= 0" in failed(_corrupt(frame, long_usd=-5.0), "raw.liquidation_history")
    doubled = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    assert failed(doubled, "raw.liquidation_history") == {"unique (venue, symbol, interval, ts)": 2}


def failed(frame: pd.DataFrame, table: str) -> dict[str, int]:
    return {o.rule.name: o.unexpected_count for o in validate(frame, suite_for(table)) if not o.success}


@pytest.mark.parametrize("table", list(CHECKED))
def test_clean_day_passes_every_blocking_expectation(bundled_warehouse, table):
    frame = day_frame(bundled_warehouse[0], table)
    assert len(frame) > 0
    blocking = {o.rule.name for o in validate(frame, suite_for(table)) if not o.success and o.rule.blocking}
    assert blocking == set()


def _corrupt(frame: pd.DataFrame, **changes) -> pd.DataFrame:
    bad = frame.copy()
    for column, value in changes.items():
        bad.loc[0, column] = value
    return bad


def test_crossed_high_low_fails_the_candle_rules(bundled_warehouse):
    frame = day_frame(bundled_warehouse[0], "raw.klines")
    row = frame.iloc[0]
    bad = _corrupt(frame, high=row.low * 0.99)  # high below low, open and close
    assert failed(bad, "raw.klines") == {"high >= open": 1, "high >= close": 1}


def test_long_level_above_its_price_fails(bundled_warehouse):
    frame = day_frame(bundled_warehouse[0], "levels.objective")
    long_row = frame.index[frame.side == "long"][0]
    bad = frame.copy()
    bad.loc[long_row, "liq_price"] = bad.loc[long_row, "base_price"] * 1.05
    assert failed(bad, "levels.objective") == {"long level below its base price": 1, "liq price matches the margin library": 1}


def test_duplicate_key_fails(bundled_warehouse):
    frame = day_frame(bundled_warehouse[0], "raw.open_interest")
    bad = pd.concat([frame, frame.iloc[[3]]], ignore_index=True)
    assert failed(bad, "raw.open_interest") == {"unique (venue, symbol, interval, ts)": 2}


def test_timestamp_outside_the_day_fails(bundled_warehouse):
    frame = day_frame(bundled_warehouse[0], "raw.liquidations")
    bad = _corrupt(frame, ts=frame.ts[0] - pd.Timedelta(days=1))
    bad.loc[0, "ts_day"] = bad.loc[0, "ts"].normalize()
    assert failed(bad, "raw.liquidations") == {"ts inside the partition day": 1}


@pytest.mark.parametrize(
    ("table", "changes", "expected"),
    [
        ("raw.open_interest", {"oi_usd": -1.0}, "oi_usd >= 0"),
        ("raw.funding", {"rate": 0.2}, "|rate| <= 0.05"),
        ("raw.liquidations", {"side": "sideways"}, "side in (long, short, unknown)"),
        ("levels.objective", {"leverage": 33}, "leverage in the configured tiers"),
        ("levels.objective", {"created_ts": pd.Timestamp("2026-03-07")}, "created before the end of the as-of day"),
    ],
)
def test_corrupted_value_fails_its_expectation(bundled_warehouse, table, changes, expected):
    assert expected in failed(_corrupt(day_frame(bundled_warehouse[0], table), **changes), table)


def test_blocking_failure_stops_downstream_and_quarantines(tmp_path, bundled_warehouse):
    """Two nightly runs: the day whose candles are crossed gets no levels; the clean day does."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(bundled_warehouse[0], path)
    root = tmp_path / "data"
    good_day, bad_day = LEVEL_DAY - dt.timedelta(days=3), LEVEL_DAY - dt.timedelta(days=2)
    klines = pd.read_parquet(BUNDLED_DATA / "klines/binance/BTC.parquet")
    corrupted = klines.copy()
    target = corrupted.index[corrupted.ts == pd.Timestamp(bad_day, tz="UTC") + pd.Timedelta(hours=5)][0]
    corrupted.loc[target, "high"] = corrupted.loc[target, "low"] * 0.9
    (root / "klines" / "binance").mkdir(parents=True)
    corrupted.to_parquet(root / "klines" / "binance" / "BTC.parquet")
    (root / "open_interest" / "hyperliquid").mkdir(parents=True)
    shutil.copy(BUNDLED_DATA / "open_interest/hyperliquid/BTC.parquet",
                root / "open_interest" / "hyperliquid" / "BTC.parquet")

    results = {day: materialize_day(path, day, groups=("ingest", "levels", "exports"), data_root=root, symbols=["BTC"], raise_on_error=False)
               for day in (good_day, bad_day)}

    def materialized(result):
        return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}

    assert {"levels/objective", "exports/level_files", "exports/pine_scripts"} <= materialized(results[good_day])
    assert not {"levels/objective", "exports/level_files", "exports/pine_scripts"} & materialized(results[bad_day])
    exports = exports_root()
    assert (exports / good_day.isoformat() / "BTC" / "levels.csv").is_file()
    assert (exports / good_day.isoformat() / "BTC" / "BTC_liquidation_levels.pine").is_file()
    assert not (exports / bad_day.isoformat()).exists()
    evaluation = next(e for e in results[bad_day].get_asset_check_evaluations() if e.asset_key.to_user_string() == "raw/klines")
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "high >= open" in evaluation.metadata["failed_expectations"].value
    assert evaluation.metadata["quarantined_rows"].value == 2  # the row fails high >= open and high >= close
    with duckdb.connect(str(path), read_only=True) as con:
        quarantined = con.execute("select expectation, row_payload from ops.quarantine where table_name = 'raw.klines' and day = ?", [bad_day]).fetchall()
        stored = con.execute("select count(*) from raw.klines where venue = 'binance' and ts = ?", [corrupted.loc[target, "ts"].tz_convert(None)]).fetchall()
        levels_days = {r[0] for r in con.execute("select distinct as_of from levels.objective").fetchall()}
    assert {q[0] for q in quarantined} == {"high >= open", "high >= close"}
    assert stored == [(1,)], "the failing row is copied to quarantine, not removed"
    assert good_day in levels_days and bad_day not in levels_days


@pytest.mark.parametrize("table", ["raw.klines", "raw.open_interest"])
def test_a_bar_off_its_interval_grid_fails_the_grid_rule(bundled_warehouse, table):
    frame = day_frame(bundled_warehouse[0], table)
    bad = _corrupt(frame, ts=frame.ts[0] + pd.Timedelta(minutes=5))  # a 5-minute stamp stored as 1h
    assert failed(bad, table).get("ts on the interval's grid") == 1


def test_a_venue_whose_volume_is_in_contracts_is_flagged_as_a_warning(bundled_warehouse):
    frame = day_frame(bundled_warehouse[0], "raw.klines")
    rule = "volume within 10x of the other venues' median (same symbol and bar)"
    assert rule not in failed(frame, "raw.klines")  # the bundle's OKX volume is base units (v x ctVal)
    contracts = frame.copy()
    okx = contracts["venue"] == "okx"
    contracts.loc[okx, "volume"] *= 100  # OKX BTC volume left in contracts of 0.01 BTC
    outcome = {o.rule.name: o for o in validate(contracts, suite_for("raw.klines"))}[rule]
    assert not outcome.success and not outcome.rule.blocking and outcome.unexpected_count == int(okx.sum())


@pytest.mark.parametrize("table", ["levels.objective", "raw.klines"])
def test_checks_in_day_chunks_equal_one_frame(bundled_warehouse, table):
    """A long backfill is validated in chunks of days (memory): the same records as one frame."""
    from pipelines.defs.checks.checks import bounds, day_chunks, per_day_records

    query = CHECKED[table][1]
    days = [LEVEL_DAY - dt.timedelta(days=1), LEVEL_DAY] if table.startswith("levels.") else \
        [LEVEL_DAY - dt.timedelta(days=k) for k in range(6, 0, -1)]
    with duckdb.connect(str(bundled_warehouse[0]), read_only=True) as con:
        whole = con.execute(query, bounds(table, days, "BTC")).fetch_df()
        chunks = day_chunks(con, query, table, days, "BTC", budget=len(whole) // len(days))
        assert len(chunks) > 1 and [d for c in chunks for d in c] == days
        parts = [per_day_records(table, frame, validate(frame, suite_for(table)), chunk)
                 for chunk in chunks for frame in [con.execute(query, bounds(table, chunk, "BTC")).fetch_df()]]
    one, _ = per_day_records(table, whole, validate(whole, suite_for(table)), days)
    chunked = pd.concat([p[0] for p in parts], ignore_index=True)
    key = ["day", "expectation"]
    pd.testing.assert_frame_equal(chunked.sort_values(key).reset_index(drop=True), one.sort_values(key).reset_index(drop=True))


def test_a_single_run_backfill_gives_each_day_its_own_check_outcome_metadata_and_a_runnable_quarantine_query(tmp_path, bundled_warehouse):
    """One run over a clean day and a day with crossed candles: each partition gets its own check
    evaluation (the UI's list and detail read the same) and its own row count; the quarantine query
    in the metadata runs as written."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(bundled_warehouse[0], path)
    root = tmp_path / "data"
    good_day, bad_day = LEVEL_DAY - dt.timedelta(days=3), LEVEL_DAY - dt.timedelta(days=2)
    klines = pd.read_parquet(BUNDLED_DATA / "klines/binance/BTC.parquet")
    target = klines.index[klines.ts == pd.Timestamp(bad_day, tz="UTC") + pd.Timedelta(hours=5)][0]
    klines.loc[target, "high"] = klines.loc[target, "low"] * 0.9
    (root / "klines" / "binance").mkdir(parents=True)
    klines.to_parquet(root / "klines" / "binance" / "BTC.parquet")
    result = run_range(path, ("ingest",), good_day, bad_day, data_root=root, raise_on_error=False)

    evaluations = {e.partition: e for e in result.get_asset_check_evaluations() if e.asset_key.to_user_string() == "raw/klines"}
    assert set(evaluations) == {f"{good_day}|BTC", f"{bad_day}|BTC"}
    assert evaluations[f"{good_day}|BTC"].passed
    bad = evaluations[f"{bad_day}|BTC"]
    assert not bad.passed and bad.severity == dg.AssetCheckSeverity.ERROR and bad.metadata["quarantined_rows"].value == 2
    assert bad.metadata["failed_days"].value == bad_day.isoformat()
    assert evaluations[f"{good_day}|BTC"].target_materialization_data is not None

    rows = {e.partition: e.materialization.metadata["dagster/row_count"].value
            for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "raw/klines"}
    with duckdb.connect(str(path), read_only=True) as con:
        stored = dict(con.execute("select cast(ts as date)::varchar || '|BTC', count(*) from raw.klines where venue = 'binance' "
                                  "and ts >= ? and ts < ? group by 1", [dt.datetime.combine(good_day, dt.time()),
                                                                        dt.datetime.combine(bad_day + dt.timedelta(days=1), dt.time())]).fetchall())
        quarantined = con.execute(bad.metadata["quarantine_query"].value).fetch_df()
    assert rows == stored  # each partition its own day's rows, not the run's total
    assert set(quarantined["expectation"]) == {"high >= open", "high >= close"}
    assert set(pd.to_datetime(quarantined["day"]).dt.date) == {bad_day}
