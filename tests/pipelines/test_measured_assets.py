"""The measured map through real Dagster runs on hand-made scans over the bundled candles: bins and
the views' `measured` rows, the heatmap's staleness rule, inferred liquidations (a position gone after
the price reached it, not one whose read failed), similarity rows and a calibration without enough
snapshots."""

import datetime as dt
import shutil

import duckdb
import pandas as pd
import pytest

from tests.conftest import BUNDLED_DATA, LEVEL_DAY
from tests.pipelines.dagster_helpers import run_range
from tests.pipelines.test_positions import address, data_with_scans, scan_rows

DAY = LEVEL_DAY - dt.timedelta(days=1)  # a complete bundled day


@pytest.fixture(scope="module")
def measured_run(bundled_warehouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("measured")
    bars = pd.read_parquet(BUNDLED_DATA / "klines" / "binance" / "BTC.parquet")
    bars["ts"] = pd.to_datetime(bars["ts"], utc=True).dt.tz_localize(None)
    between = bars[(bars.ts >= pd.Timestamp(DAY) + pd.Timedelta(hours=6)) & (bars.ts < pd.Timestamp(DAY) + pd.Timedelta(hours=12))]
    low, high = float(between.low.min()), float(between.high.max())
    reached, far, above = round(low * 1.0005, 2), round(low * 0.9, 2), round(high * 1.2, 2)
    first = scan_rows(f"{DAY}T06:00:00Z", [
        (address(1), "BTC", "long", "1", str(low * 1.02), str(reached), "40", "isolated", "70000"),  # reached, then gone: inferred
        (address(2), "BTC", "long", "2", str(low * 1.05), str(far), "10", "cross", "140000"),  # never reached: stays
        (address(3), "BTC", "short", "1", str(high * 0.99), str(above), "5", "cross", "60000"),
        (address(4), "BTC", "long", "1", str(low * 1.02), str(reached), "20", "cross", "30000"),  # reached, but its next read failed
        (address(5), "BTC", "short", "1", str(high), "", "3", "cross", "50000"),  # no liquidation price: counted, never binned
    ])
    second = scan_rows(f"{DAY}T12:00:00Z", [
        (address(2), "BTC", "long", "2", str(low * 1.05), str(far), "10", "cross", "140000"),
        (address(3), "BTC", "short", "1", str(high * 0.99), str(above), "5", "cross", "60000"),
    ], failed=[address(4)], empty=[address(1)])
    root = data_with_scans(tmp, {f"{DAY}T06:00:00": first, f"{DAY}T12:00:00": second})
    path = tmp / "warehouse.duckdb"
    shutil.copy(bundled_warehouse[0], path)
    with duckdb.connect(str(path)) as con:  # only these two scans: the bundle's synthetic ones are not part of this test
        con.execute("delete from raw.positions; delete from raw.position_scans; delete from raw.position_failures")
    assert run_range(path, ("ingest",), DAY, DAY, data_root=root).success
    result = run_range(path, ("levels",), DAY, DAY, data_root=root)
    assert result.success
    return path, result, {"reached": reached, "far": far, "above": above}


def query(path, sql: str, params=()) -> pd.DataFrame:
    """`sql` over the test day only: the copied warehouse also holds the next day, levelled from the bundle's scans."""
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("create temp table day as select ? as d", [DAY])
        return con.execute(sql, list(params)).fetch_df()


def test_measured_bins_snapshots_and_the_views_measured_rows(measured_run):
    path, _, prices = measured_run
    snapshots = query(path, "select * from levels.measured_snapshots where as_of = (select d from day) order by snapshot_ts")
    assert list(snapshots.positions) == [5, 2] and list(snapshots.positions_without_liq) == [1, 0]
    assert list(snapshots.addresses_failed) == [0, 1] and snapshots.loc[0, "cross_usd"] == 140000 + 60000 + 30000 + 50000
    bins = query(path, "select * from levels.measured where snapshot_ts = ?", [dt.datetime.combine(DAY, dt.time(6))])
    assert bins.long_usd.sum() == 70000 + 140000 + 30000 and bins.short_usd.sum() == 60000 and bins.long_count.sum() == 3
    assert bins.usd_50x.sum() == 70000 and bins.usd_25x.sum() == 30000 and bins.usd_10x.sum() == 140000 + 60000
    assert bins.long_cross_usd.sum() == 170000
    view = query(path, "select * from levels.liquidation_map where source = 'measured' and as_of = (select d from day)")  # the day's last snapshot
    assert view.long_usd.sum() == 140000 and view.short_usd.sum() == 60000 and len(view) == 2
    estimated = query(path, "select count(*) as n from levels.liquidation_map where source = 'estimated' and as_of = (select d from day)")
    assert estimated.n[0] > 0
    pain = query(path, "select * from levels.max_pain where source = 'measured' and as_of = (select d from day)")
    assert pain.long_price[0] == pytest.approx(prices["far"]) and pain.short_price[0] == pytest.approx(prices["above"])
    zones = query(path, "select * from levels.clusters where source = 'measured' and as_of = (select d from day)")
    assert set(zones.methods) == {"measured"} and zones.usd.sum() == 200000


def test_the_measured_heatmap_shows_the_newest_snapshot_known_by_each_hour_for_three_hours(measured_run):
    path, _, _ = measured_run
    hours = query(path, "select distinct hour(ts) as h from levels.heatmap where source = 'measured' and as_of = (select d from day) order by 1")
    assert list(hours.h) == [6, 7, 8, 12, 13, 14]
    at_13 = query(path, "select sum(long_usd + short_usd) as usd from levels.heatmap where source = 'measured' and hour(ts) = 13 "
                  "and as_of = (select d from day)")
    assert at_13.usd[0] == 200000  # the 12:00 snapshot


def test_inferred_liquidations_only_for_positions_gone_after_the_price_reached_them(measured_run):
    path, _, prices = measured_run
    inferred = query(path, "select * from levels.inferred_liquidations where as_of = (select d from day)")
    assert list(inferred.address) == [address(1)] and inferred.inferred.all()  # address 4's read failed: not inferred
    assert inferred.usd[0] == 70000 and inferred.liq_price[0] == pytest.approx(prices["reached"])


def test_similarity_per_snapshot_and_no_calibration_without_enough_snapshots(measured_run):
    path, result, _ = measured_run
    similarity = query(path, "select * from levels.measured_similarity where as_of = (select d from day) order by snapshot_ts, preset, side")
    assert set(similarity.preset) == {"default"} and len(similarity) == 4  # no calibrated levels: nothing fitted before the day
    assert similarity.cosine.dropna().between(-1, 1).all() and (similarity.bins > 100).all()
    calibration = query(path, "select * from levels.calibration where symbol = 'BTC' and as_of = (select d from day)")
    assert calibration.status[0] == "not_enough_snapshots" and "0 snapshots" in calibration.note[0]
    levels = query(path, "select distinct preset from levels.objective where as_of = (select d from day)")
    assert "calibrated" not in set(levels.preset)
    checks = {e.asset_key.to_user_string(): e.passed for e in result.get_asset_check_evaluations()}
    assert checks["levels/measured"] and checks["levels/measured_similarity"] and checks["levels/liquidation_map"]
