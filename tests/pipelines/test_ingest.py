"""End-to-end ingest: real Dagster runs over the bundled files into a temporary DuckDB file."""

import datetime as dt

import dagster as dg
import duckdb
import pandas as pd
import pytest

from pipelines.lib.watchlist import load_watchlist
from tests.conftest import A_DAY, BUNDLED_DATA, WATCHLIST
from tests.pipelines.dagster_helpers import definitions, materialize_day

TABLES = ["klines", "open_interest", "funding", "liquidations"]


def _expected_rows(table: str, day: dt.date) -> int:
    """Rows of `day` in the bundled files, counted straight from the Parquet files."""
    lo = pd.Timestamp(day, tz="UTC")
    total = 0
    for path in (BUNDLED_DATA / table).glob("*/*.parquet"):
        ts = pd.read_parquet(path, columns=["ts"])["ts"]
        total += int(((ts >= lo) & (ts < lo + pd.Timedelta(days=1))).sum())
    return total


def _table(warehouse_file, table: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse_file), read_only=True) as con:
        return con.execute(f"select * from raw.{table} order by all").fetch_df()


def test_one_day_fills_every_raw_table(warehouse_file):
    result = materialize_day(warehouse_file, A_DAY)
    assert result.success
    for table in TABLES:
        expected = _expected_rows(table, A_DAY)
        assert expected > 0, f"bundled data has no {table} on {A_DAY}"
        assert len(_table(warehouse_file, table)) == expected, table
    # one materialization per symbol-day partition, each with its own row count
    materializations = result.asset_materializations_for_node("raw__klines")
    symbols = sorted(set(_table(warehouse_file, "klines")["symbol"]))
    assert sorted(m.partition for m in materializations) == sorted(f"{A_DAY}|{s}" for s in symbols)
    assert sum(m.metadata["dagster/row_count"].value for m in materializations) == _expected_rows("klines", A_DAY)
    assert all("| venue" in m.metadata["preview"].value for m in materializations)


def test_okx_liquidations_are_usd_and_position_side(warehouse_file):
    materialize_day(warehouse_file, A_DAY)
    liq = _table(warehouse_file, "liquidations")
    okx = liq[(liq.venue == "okx") & (liq.symbol == "BTC")]
    assert set(okx.side) <= {"long", "short"} and len(okx) > 0
    assert ((okx.usd - okx.qty_base * okx.price).abs() < 1e-6 * okx.usd).all()
    # contracts of 0.01 BTC: a single liquidation of more than 50 BTC would be implausible
    assert okx.qty_base.max() < 50


def test_rerun_of_a_day_is_idempotent(warehouse_file):
    materialize_day(warehouse_file, A_DAY)
    first = {t: _table(warehouse_file, t) for t in TABLES}
    materialize_day(warehouse_file, A_DAY)
    for table in TABLES:
        pd.testing.assert_frame_equal(_table(warehouse_file, table), first[table])


def test_a_second_day_leaves_the_first_untouched(warehouse_file):
    materialize_day(warehouse_file, A_DAY)
    before = _table(warehouse_file, "klines")
    materialize_day(warehouse_file, A_DAY + dt.timedelta(days=1))
    after = _table(warehouse_file, "klines")
    day_rows = after[after.ts < pd.Timestamp(A_DAY + dt.timedelta(days=1))]
    pd.testing.assert_frame_equal(day_rows.reset_index(drop=True), before)


def test_malformed_rows_land_in_rejects_once(warehouse_file, tmp_path):
    root = tmp_path / "mydata"
    (root / "klines" / "binance").mkdir(parents=True)
    (root / "klines" / "binance" / "BTC.csv").write_text(
        "ts,interval,open,high,low,close,volume\n"
        "2026-03-04T00:00:00Z,1h,100,110,90,105,1\n"
        "2026-03-04T01:00:00Z,1h,105,106,100,abc,1\n"  # string price
        ",1h,105,106,100,101,1\n"  # missing timestamp
        "2026-03-04T00:00:00Z,1h,100,110,90,105,1\n"  # duplicate row
    )
    (root / "open_interest" / "hyperliquid").mkdir(parents=True)
    (root / "open_interest" / "hyperliquid" / "BTC.csv").write_text(
        "ts,interval,oi_usd\n2026-03-04T00:00:00Z,1h,100\n2026-03-04T01:00:00Z,1h,-5\n"  # negative OI
    )
    for _ in range(2):
        assert materialize_day(warehouse_file, A_DAY, data_root=root, symbols=["BTC"]).success
    with duckdb.connect(str(warehouse_file), read_only=True) as con:
        rejects = con.execute("select table_name, venue, field, reason, payload from ops.rejects order by all").fetch_df()
        klines = con.execute("select count(*) from raw.klines").fetchall()[0][0]
    assert klines == 1
    assert sorted(zip(rejects.table_name, rejects.field)) == [
        ("klines", "close"), ("klines", "interval+ts"), ("klines", "ts"), ("open_interest", "oi_usd"),
    ]
    assert rejects.payload.str.contains('"close": "abc"').any()


def test_a_file_without_a_required_column_fails_only_its_symbol_day_naming_venue_file_and_field(warehouse_file, tmp_path):
    root = tmp_path / "mydata"
    (root / "klines" / "okx").mkdir(parents=True)
    (root / "klines" / "okx" / "BTC.csv").write_text("ts,interval,open,high,low\n2026-03-04T00:00:00Z,1h,1,2,0.5\n")
    (root / "klines" / "okx" / "ETH.csv").write_text(_day_csv(24))
    result = materialize_day(warehouse_file, A_DAY, data_root=root, symbols=["BTC", "ETH"])
    assert result.success  # ETH is not stopped by BTC's file
    with duckdb.connect(str(warehouse_file), read_only=True) as con:
        notes = con.execute("select symbol, severity, message from ops.asset_notes where asset = 'raw/klines' and severity = 'error'").fetchall()
        eth = con.execute("select count(*) from raw.klines where symbol = 'ETH'").fetchall()[0][0]
    assert notes == [("BTC", "error", "okx files:klines/okx/BTC.csv: required field 'close' is missing for raw.klines "
                                      "(columns present: ts, interval, open, high, low)")]
    assert eth == 24


def test_definitions_load_with_schedule_running():
    repo = definitions()
    keys = {key.to_user_string() for key in repo.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw/klines", "raw/open_interest", "raw/funding", "raw/liquidations"} <= keys
    schedule = repo.resolve_schedule_def("nightly_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.execution_timezone == "UTC"


def test_schedule_tick_requests_yesterday():
    repo = definitions()
    schedule = repo.resolve_schedule_def("nightly_schedule")
    tick = dt.datetime(2026, 3, 6, 0, 30, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick, repository_def=repo.get_repository_def())
        requests = schedule.evaluate_tick(context).run_requests
        assert instance.get_dynamic_partitions("symbols") == [spec.symbol for spec in load_watchlist(WATCHLIST).select(None)]
    # one run per watchlist symbol, each for the day that ended, with the symbol made a key of the dimension
    symbols = [spec.symbol for spec in load_watchlist(WATCHLIST).select(None)]
    assert [r.partition_key for r in requests] == [f"2026-03-05|{s}" for s in symbols]
    assert [r.run_key for r in requests] == [f"2026-03-05|{s}" for s in symbols]
    assert len(symbols) >= 3
    assert schedule.cron_schedule == "30 0 * * *"


def test_a_range_run_writes_each_reject_once_and_matches_day_by_day_runs(tmp_path):
    """A range is written as one slice per (venue, symbol); the result must equal three nightly runs."""
    from tests.pipelines.dagster_helpers import run_range

    root = tmp_path / "mydata"
    (root / "funding" / "okx").mkdir(parents=True)
    (root / "funding" / "okx" / "BTC.csv").write_text(
        "ts,rate\n2026-03-03T00:00:00Z,0.0001\n2026-03-04T08:00:00Z,abc\n,0.0002\n2026-03-05T16:00:00Z,0.0003\n"
        "2026-03-06T00:00:00Z,0.0004\n")  # a bad rate, a missing timestamp, and a day outside the range
    days = [dt.date(2026, 3, 3), dt.date(2026, 3, 4), dt.date(2026, 3, 5)]

    def contents(path):
        with duckdb.connect(str(path), read_only=True) as con:
            return (con.execute("select * from raw.funding order by all").fetchall(),
                    con.execute("select * from ops.rejects order by all").fetchall())

    ranged, nightly = tmp_path / "ranged.duckdb", tmp_path / "nightly.duckdb"
    for _ in range(2):
        assert run_range(ranged, ("ingest",), days[0], days[-1], data_root=root).success
    for day in days:
        assert materialize_day(nightly, day, data_root=root, symbols=["BTC"]).success
    rows, rejects = contents(ranged)
    assert [r[3] for r in rows] == [0.0001, 0.0003] and sorted(r[5] for r in rejects) == ["rate", "ts"]
    assert contents(ranged) == contents(nightly)


def _user_folder(tmp_path, klines_csv: str):
    """A user's folder: bundled BTC OI, and a BTC Binance candle file of our own."""
    root = tmp_path / "data"
    (root / "klines" / "binance").mkdir(parents=True)
    (root / "klines" / "binance" / "BTC.csv").write_text(klines_csv)
    return root


def _day_csv(hours: int) -> str:
    rows = [f"{A_DAY}T{h:02d}:00:00Z,1h,100,101,99,100.5,10" for h in range(hours)]
    return "ts,interval,open,high,low,close,volume\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize(("replacement", "offered"), [("header only", 0), ("truncated", 5)])
def test_a_shorter_file_never_replaces_the_stored_day_silently(tmp_path, warehouse_file, replacement, offered):
    root = _user_folder(tmp_path, _day_csv(24))
    assert materialize_day(warehouse_file, A_DAY, data_root=root).success
    stored = _table(warehouse_file, "klines")
    (root / "klines" / "binance" / "BTC.csv").write_text(_day_csv(offered) if offered else _day_csv(0).splitlines()[0] + "\n")
    result = materialize_day(warehouse_file, A_DAY, data_root=root)
    assert result.success
    pd.testing.assert_frame_equal(_table(warehouse_file, "klines"), stored)  # the 24 stored rows are still there
    with duckdb.connect(str(warehouse_file), read_only=True) as con:
        notes = con.execute("select severity, message from ops.asset_notes where asset = 'raw/klines'").fetchall()
        check = con.execute("select success, blocking from ops.validation_results where table_name = 'raw.klines' "
                            "and symbol = 'BTC' and expectation like 'every venue-day stored as delivered%'").fetchall()
    assert notes and notes[0][0] == "warning"
    assert f"binance: kept the 24 stored rows: files:klines/binance/BTC.csv offers {offered} for this day" in notes[-1][1]
    assert check == [(False, False)]  # the check fails, as a warning: the other symbols' levels go on


def test_replace_shorter_lets_a_file_replace_the_stored_day(tmp_path, warehouse_file):
    from pipelines.defs.resources import MarketSourceResource
    from tests.pipelines.dagster_helpers import assets_in_group, resources

    root = _user_folder(tmp_path, _day_csv(24))
    assert materialize_day(warehouse_file, A_DAY, data_root=root).success
    (root / "klines" / "binance" / "BTC.csv").write_text(_day_csv(5))
    res = resources(warehouse_file, data_root=root) | {
        "market_source": MarketSourceResource(mode="files", files_root=str(root), landing_root=str(root / "landing"), replace_shorter=True)}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("symbols", ["BTC"])
    assert dg.materialize(assets_in_group("ingest"), resources=res, partition_key=f"{A_DAY}|BTC", instance=instance).success
    assert len(_table(warehouse_file, "klines")) == 5


def test_an_empty_candle_file_is_a_warning_naming_the_file(tmp_path, warehouse_file):
    root = _user_folder(tmp_path, "ts,interval,open,high,low,close,volume\n")
    assert materialize_day(warehouse_file, A_DAY, data_root=root).success
    with duckdb.connect(str(warehouse_file), read_only=True) as con:
        notes = con.execute("select message from ops.asset_notes where asset = 'raw/klines'").fetchall()
    assert notes == [("binance: files:klines/binance/BTC.csv holds no valid rows (0 rejects)",)]


def test_a_backfill_of_200_listings_reads_each_file_once(tmp_path, warehouse_file, monkeypatch):
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from pipelines.lib import files_source
    from tests.pipelines.dagster_helpers import assets_in_group, resources

    root = tmp_path / "data"
    (root / "klines" / "binance").mkdir(parents=True)
    symbols = [f"S{i:03d}" for i in range(200)]
    lines = [f"{day}T{h:02d}:00:00Z,1h,100,101,99,100.5,10" for day in ("2026-03-02", "2026-03-03", "2026-03-04") for h in range(24)]
    for symbol in symbols:
        (root / "klines" / "binance" / f"{symbol}.csv").write_text("ts,interval,open,high,low,close,volume\n" + "\n".join(lines) + "\n")
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text("".join(f'[symbols.{s}]\n[symbols.{s}.venues.binance]\ninstrument = "{s}USDT"\n' for s in symbols))
    reads = []
    real = files_source._read
    monkeypatch.setattr(files_source, "_read", lambda path, *args: reads.append(path) or real(path, *args))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("symbols", symbols)
    # one run over the rectangle 3 days x 200 symbols (the symbols are neighbours in the dimension)
    result = dg.materialize([a for a in assets_in_group("ingest") if isinstance(a, dg.AssetsDefinition)],
                            resources=resources(warehouse_file, data_root=root, watchlist=watchlist), instance=instance,
                            tags={ASSET_PARTITION_RANGE_START_TAG: f"2026-03-02|{symbols[0]}",
                                  ASSET_PARTITION_RANGE_END_TAG: f"2026-03-04|{symbols[-1]}"})
    assert result.success
    assert len(reads) == len(set(reads)) == 200  # no cache thrash: one read per file for the three days
    assert len(_table(warehouse_file, "klines")) == 200 * 72
