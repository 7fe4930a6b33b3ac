"""Export assets end to end: files, manifest checksums, exact reruns, latest/, and a Pine script
that passes the offline Pine checks."""

import datetime as dt
import hashlib
import json
import shutil

import duckdb
import pandas as pd
import pytest

from pipelines.lib import exports as exports_lib
from pipelines.lib.exports import LEVEL_FILE_COLUMNS, day_dir, write_atomic, write_manifest
from pipelines.lib.paths import exports_root
from tests.conftest import LEVEL_DAY
from tests.pine.pine_static import problems
from tests.pipelines.dagster_helpers import run_range

DAYS = [LEVEL_DAY - dt.timedelta(days=1), LEVEL_DAY]


@pytest.fixture
def exported(bundled_warehouse, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(bundled_warehouse[0], path)
    result = run_range(path, ("exports",), DAYS[0], DAYS[-1])
    assert result.success
    return path, exports_root(), result


def digests(root) -> dict[str, str]:
    """Every published file's SHA-256 (not the dot-files the manifest keeps for itself: its lock and cache)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def test_the_manifest_hashes_only_the_files_changed_since_it_was_last_written(tmp_path, monkeypatch):
    """Every symbol's export rewrites its day's manifest: files unchanged since the last one keep their
    entries (a night of N symbols hashed N² files); a rewritten file, even of the same size, is hashed again."""
    day = dt.date(2026, 3, 5)
    folder = day_dir(tmp_path, day)
    for symbol in ("BTC", "ETH"):
        write_atomic(folder / symbol / "levels.csv", b"price,usd\n1,2\n")
    write_manifest(tmp_path, day)
    hashed, entry = [], exports_lib._file_entry
    monkeypatch.setattr(exports_lib, "_file_entry", lambda f, p: hashed.append(p.relative_to(f).as_posix()) or entry(f, p))
    write_atomic(folder / "ETH" / "levels.csv", b"price,usd\n3,4\n")  # same size, new content
    write_atomic(folder / "SOL" / "levels.csv", b"price,usd\n")
    manifest = json.loads(write_manifest(tmp_path, day).read_text())
    assert sorted(hashed) == ["ETH/levels.csv", "SOL/levels.csv"]
    (folder / ".manifest.cache.json").unlink()  # from scratch: the same manifest
    assert json.loads(write_manifest(tmp_path, day).read_text()) == manifest
    listed = {f["path"]: (f["sha256"], f["rows"]) for f in manifest["files"]}
    assert listed == {f"{s}/levels.csv": (hashlib.sha256((folder / s / "levels.csv").read_bytes()).hexdigest(), rows)
                      for s, rows in (("BTC", 1), ("ETH", 1), ("SOL", 0))}


def test_files_match_the_level_table_and_the_manifest(exported):
    path, root, _ = exported
    for day in DAYS:
        folder = root / day.isoformat()
        with duckdb.connect(str(path), read_only=True) as con:
            expected = con.execute("select count(*) from levels.objective where as_of = ? and symbol = 'BTC'", [day]).fetchall()[0][0]
            behavioral = con.execute("select count(*) from levels.behavioral where as_of = ? and symbol = 'BTC'", [day]).fetchall()[0][0]
            measured = con.execute("select count(*) from levels.clusters where as_of = ? and symbol = 'BTC' and source = 'measured'",
                                   [day]).fetchall()[0][0]
        csv = pd.read_csv(folder / "BTC" / "levels.csv")
        parquet = pd.read_parquet(folder / "BTC" / "levels.parquet")
        document = json.loads((folder / "BTC" / "levels.json").read_text())
        assert len(csv) == len(parquet) == len(document["levels"]) == expected + behavioral + measured
        assert (csv.method == "objective").sum() == expected > 0 and (csv.method == "behavioral").sum() == behavioral > 0
        assert (csv.method == "measured").sum() == measured > 0  # zones of the (synthetic) Hyperliquid scan
        assert list(csv.columns) == list(LEVEL_FILE_COLUMNS) == list(parquet.columns)
        assert set(csv["as_of"]) == {day.isoformat()} and csv["strength"].between(0, 1).all() and csv["strength"].max() == 1
        pd.testing.assert_series_equal(csv["price"], parquet["price"], check_exact=False, rtol=1e-9)
        manifest = json.loads((folder / "manifest.json").read_text())
        listed = {f["path"]: f for f in manifest["files"]}
        # the 30-day heatmap is drawn for the run's last day only
        assert set(listed) == {"BTC/levels.csv", "BTC/levels.parquet", "BTC/levels.json", "BTC/BTC_liquidation_levels.pine",
                               "BTC/heatmap.png", "BTC/liquidation_map.png", "BTC/measured_vs_estimated.png"} | (
                                   {"BTC/heatmap_30d.png"} if day == DAYS[-1] else set())
        assert all((folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in listed if name.endswith(".png"))
        for name, entry in listed.items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == entry["sha256"]
        assert listed["BTC/levels.csv"]["rows"] == expected + behavioral + measured


def test_rerun_replaces_files_exactly(exported):
    path, root, _ = exported
    before = digests(root)
    assert run_range(path, ("exports",), DAYS[0], DAYS[-1]).success
    assert digests(root) == before


def test_latest_is_the_newest_complete_day(exported):
    _, root, _ = exported
    latest = root / "latest" / "BTC"
    assert (latest / "AS_OF").read_text().strip() == LEVEL_DAY.isoformat()
    for name in ("levels.csv", "levels.parquet", "levels.json", "BTC_liquidation_levels.pine"):
        assert (latest / name).read_bytes() == (root / LEVEL_DAY.isoformat() / "BTC" / name).read_bytes()


def test_exported_pine_passes_offline_checks_and_draws_active_levels(exported):
    path, root, result = exported
    source = (root / LEVEL_DAY.isoformat() / "BTC" / "BTC_liquidation_levels.pine").read_text()
    assert problems(source) == []
    with duckdb.connect(str(path), read_only=True) as con:
        active = con.execute("select count(*) from levels.objective where as_of = ? and symbol = 'BTC' and status = 'active' "
                             "and preset = 'default' and venue = 'all'", [LEVEL_DAY]).fetchall()[0][0]
        active += con.execute("select count(*) from levels.behavioral where as_of = ? and symbol = 'BTC' and status = 'active' "
                              "and venue = 'binance'", [LEVEL_DAY]).fetchall()[0][0]
    assert f"// levels: {min(active, 500)} drawn" in source
    metadata = result.asset_materializations_for_node("exports__pine_scripts")[-1].metadata
    assert metadata["scripts"].value == 2 and metadata["example"].value.endswith("BTC_liquidation_levels.pine")


def test_level_files_tell_when_a_level_was_known_and_normalise_strength_per_venue(exported):
    _, root, _ = exported
    rows = pd.read_parquet(root / LEVEL_DAY.isoformat() / "BTC" / "levels.parquet")
    assert (rows["schema_version"] == 2).all()
    modelled = rows[rows.method != "measured"]
    assert ((modelled["known_ts"] - modelled["created_ts"]) == pd.Timedelta(hours=1)).all()  # the close of the hourly bar
    zones = rows[rows.method == "measured"]  # known when the scan ended (the synthetic scans take 10 minutes)
    assert len(zones) and ((zones["known_ts"] - zones["created_ts"]) == pd.Timedelta(minutes=10)).all()
    assert set(zones["venue"]) == {"hyperliquid"} and zones["leverage"].isna().all() and zones["strength"].max() == 1
    objective, pools = rows[rows.method == "objective"], rows[rows.method == "behavioral"]
    assert objective["expires_ts"].notna().all() and pools["expires_ts"].isna().all()
    assert (objective["initial_notional_usd"] >= objective["notional_usd"] - 1e-6).all()
    assert set(pools["status"]) <= {"active", "swept"} and set(objective["status"]) <= {"active", "filled", "expired"}
    pd.testing.assert_series_equal(pools["volume_usd"], pools["weight"] * pools["price"], check_names=False)
    # every (method, preset, venue) has a level at full strength: no venue's pools are drawn as 1 px lines
    assert (rows.groupby(["method", "preset", "venue"])["strength"].max() == 1).all()
    assert pools["venue"].nunique() >= 2


def test_pine_labels_pools_by_their_volume_and_filters_them_by_their_own_measure(exported):
    _, root, _ = exported
    source = (root / LEVEL_DAY.isoformat() / "BTC" / "BTC_liquidation_levels.pine").read_text()
    assert '"pool " + str.tostring(usdM, "#.##") + "M vol"' in source
    assert "bool sizeOk = tier == BEHAVIORAL ? usdM >= minPoolUsdM : usdM >= minUsdM" in source
    usd = [float(v) for v in source.split("var array<float> LV_USD_M = array.from(")[1].split(")")[0].replace("\n", " ").split(",")]
    codes = [int(v) for v in source.split("var array<int> LV_CODE = array.from(")[1].split(")")[0].replace("\n", " ").split(",")]
    pool_usd = [u for u, c in zip(usd, codes) if abs(c) == 1000]
    assert pool_usd and min(pool_usd) > 0  # no "pool 0.00M"


def test_pictures_draw_the_estimated_map_and_the_measured_one_apart(exported):
    """The liquidation-map picture reads only the estimated rows (mixed with the measured ones its
    cumulative curves zigzagged), and a Hyperliquid symbol-day with a scan gets its own side-by-side."""
    import numpy as np

    from pipelines.lib.pictures import PictureSettings, picture_job
    from pipelines.lib.watchlist import load_watchlist
    from tests.conftest import WATCHLIST

    path, root, _ = exported
    with duckdb.connect(str(path), read_only=True) as con:
        job = picture_job(con, load_watchlist(WATCHLIST).get("BTC"), LEVEL_DAY, PictureSettings(), last_of_run=True)
    rows = job["map"]
    assert set(rows["source"]) == {"estimated"} and job["max_pain"]["source"] == "estimated"
    below = rows[rows.bin_low < job["close"]].sort_values("bin_low")
    assert (np.diff(below["long_cum_usd"].to_numpy()) <= 1e-6).all()  # from the close downwards: never rises with price
    assert job["measured"] is not None and len(job["measured"]["measured"]) > 0
    assert (root / LEVEL_DAY.isoformat() / "BTC" / "measured_vs_estimated.png").read_bytes()[:4] == b"\x89PNG"
