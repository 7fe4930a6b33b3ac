"""The Parquet lake as the system of record: the same Dagster runs give the same tables as the DuckDB
file, partitions are replaced whole (never seen half-written), and an S3-compatible store (moto's server
on loopback) holds the same content as a local folder."""

import datetime as dt
import multiprocessing
import os
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.lib import lake as lake_module
from pipelines.lib.lake import Lake, LakeError, table_hashes
from pipelines.lib.warehouse import Partition, connect, ensure_catalog, replace_as_of, replace_notes, replace_partition, upsert_partition
from tests.conftest import LEVEL_DAY
from tests.pipelines.dagster_helpers import materialize_day, run_range

REJECTS = ["table_name", "venue", "symbol", "day", "source", "field", "reason", "payload"]


def _klines(day: dt.date, n: int = 288, close: float = 1.5, symbol: str = "BTC") -> pd.DataFrame:
    return pd.DataFrame({"venue": "binance", "symbol": symbol, "interval": "5m",
                         "ts": pd.date_range(day.isoformat(), periods=n, freq="5min"),
                         "open": 1.0, "high": 2.0, "low": 0.5, "close": close, "volume": 10.0,
                         "quote_volume": None, "taker_buy_volume": None})


def _writes(con) -> None:
    """A sequence of the warehouse's own writes: replace, a shorter slice kept, an upsert, notes, levels."""
    day = dt.date(2026, 1, 1)
    part = Partition("klines", "binance", "BTC", day, "5m")
    replace_partition(con, part, _klines(day))
    replace_partition(con, Partition("klines", "binance", "BTC", day + dt.timedelta(days=1), "5m"), _klines(day + dt.timedelta(days=1)))
    assert replace_partition(con, part, _klines(day, 10))[0].stored == 288  # kept, as in the DuckDB file
    upsert_partition(con, part, _klines(day, 20, close=3.0), pd.DataFrame(columns=REJECTS), "api")
    replace_notes(con, "levels/objective", "BTC", day, [("error", "boom")])
    replace_notes(con, "levels/objective", "BTC", day, [("warning", "no OI")])
    replace_as_of(con, "levels.max_pain", day, "BTC", pd.DataFrame([{
        "as_of": day, "symbol": "BTC", "close": 1.5, "long_price": 1.0, "long_usd": 5.0, "long_distance_pct": -1.0,
        "short_price": 2.0, "short_usd": 6.0, "short_distance_pct": 1.0, "source": "estimated"}]))


def test_writes_give_the_duckdb_files_tables(tmp_path, monkeypatch):
    monkeypatch.delenv("LIQLEVELS_LAKE", raising=False)
    with connect(tmp_path / "file.duckdb") as con:
        _writes(con)
        expected = table_hashes(con)
        klines = con.execute("select * from raw.klines order by ts").fetch_df()
    lake = Lake(str(tmp_path / "lake"))
    with lake.connect() as con:
        _writes(con)
        stored = con.execute("select * from raw.klines order by ts").fetch_df()
    pd.testing.assert_frame_equal(stored, klines)
    assert table_hashes_of(lake) == expected
    assert (tmp_path / "lake/raw.klines/venue=binance/symbol=BTC/date=2026-01-01/part.parquet").is_file()
    # the asset name's '/' is encoded: one directory per value, nothing outside the table's folder
    assert (tmp_path / "lake/ops.asset_notes/asset=levels%2Fobjective/symbol=BTC/day=2026-01-01/part.parquet").is_file()
    assert not list((tmp_path / "lake/.tmp").iterdir())  # every staged file was moved into place


def test_a_symbols_connection_reads_only_that_symbols_partitions(tmp_path):
    """A step of BTC's run reads BTC's files (and the rows of no one symbol), never ETH's: an unreadable
    ETH file breaks a whole-table read but not BTC's; a symbol with no rows yet reads as empty, and
    rows it writes through that connection are seen by it at once."""
    day = dt.date(2026, 1, 1)
    lake = Lake(str(tmp_path / "lake"))
    with lake.connect() as con:
        for symbol in ("BTC", "ETH"):
            replace_partition(con, Partition("klines", "binance", symbol, day, "5m"), _klines(day, symbol=symbol))
        replace_notes(con, "levels/objective", "*", day, [("warning", "venue-wide")])
    (tmp_path / "lake/raw.klines/venue=binance/symbol=ETH/date=2026-01-01/part.parquet").write_bytes(b"not parquet")
    with lake.connect(["BTC"]) as con:
        assert con.execute("select symbol, count(*) from raw.klines group by 1").fetchall() == [("BTC", 288)]
        assert con.execute("select symbol from ops.asset_notes").fetchall() == [("*",)]
    with lake.connect() as con, pytest.raises(duckdb.Error, match="ETH"):
        con.execute("select count(*) from raw.klines").fetchall()
    with lake.connect(["SOL"]) as con:
        assert con.execute("select count(*) from raw.klines").fetchone() == (0,)
        assert con.execute("select count(*) from levels.objective").fetchone() == (0,)
        replace_partition(con, Partition("klines", "binance", "SOL", day, "5m"), _klines(day, 12, symbol="SOL"))
        assert con.execute("select symbol, count(*) from raw.klines group by 1").fetchall() == [("SOL", 12)]
    # the markers that keep an empty symbol's view readable hold no rows
    marker = tmp_path / "lake/raw.klines/venue=__schema__/symbol=SOL/date=__schema__/part.parquet"
    assert duckdb.connect().execute(f"select count(*) from read_parquet('{marker}')").fetchall() == [(0,)]


def table_hashes_of(lake: Lake) -> dict:
    with lake.connect() as con:
        return table_hashes(con)


def test_a_run_on_the_lake_equals_the_run_on_the_duckdb_file(tmp_path, monkeypatch):
    """Real Dagster runs (ingest, levels and their checks over 20 bundled days): identical tables."""
    start, end = LEVEL_DAY - dt.timedelta(days=19), LEVEL_DAY
    monkeypatch.delenv("LIQLEVELS_LAKE", raising=False)
    began = time.monotonic()
    assert run_range(tmp_path / "file.duckdb", ("ingest", "levels"), start, end).success
    file_seconds = time.monotonic() - began
    with connect(tmp_path / "file.duckdb") as con:
        expected = table_hashes(con)
    monkeypatch.setenv("LIQLEVELS_LAKE", str(tmp_path / "lake"))
    began = time.monotonic()
    assert run_range(tmp_path / "unused.duckdb", ("ingest", "levels"), start, end).success
    lake_seconds = time.monotonic() - began
    found = table_hashes_of(Lake(str(tmp_path / "lake")))
    assert {t: n for t, (n, _) in found.items()} == {t: n for t, (n, _) in expected.items()}
    assert found == expected
    assert expected["levels.objective"][0] > 0 and expected["raw.klines"][0] > 0
    assert not (tmp_path / "unused.duckdb").exists()  # steps on a lake never open the DuckDB file
    print(f"file {file_seconds:.1f} s, lake {lake_seconds:.1f} s")


def test_a_symbols_run_never_opens_another_symbols_files(tmp_path, monkeypatch):
    """On a lake, BTC's run reads BTC's partitions only (its steps' connections are scoped to the run's
    symbols): an unreadable ETH file does not touch BTC's night; ETH's own run trips over it."""
    monkeypatch.setenv("LIQLEVELS_LAKE", str(tmp_path / "lake"))
    assert materialize_day(tmp_path / "unused.duckdb", LEVEL_DAY, ("ingest",), symbols=["BTC", "ETH"]).success
    broken = sorted((tmp_path / "lake/raw.klines").glob("venue=*/symbol=ETH/date=*/part.parquet"))[-1]
    broken.write_bytes(b"not parquet")
    assert materialize_day(tmp_path / "unused.duckdb", LEVEL_DAY, ("ingest", "levels"), symbols=["BTC"]).success
    with Lake(str(tmp_path / "lake")).connect(["BTC"]) as con:
        assert con.execute("select count(*) from levels.objective where symbol = 'BTC'").fetchall()[0][0] > 0
    failed = materialize_day(tmp_path / "unused.duckdb", LEVEL_DAY, ("ingest", "levels"), symbols=["ETH"], raise_on_error=False)
    assert not failed.success
    causes = [e.event_specific_data.error.cause for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert any(str(broken) in cause.message for cause in causes if cause)


def test_the_catalog_file_holds_views_over_the_lake(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQLEVELS_LAKE", str(tmp_path / "lake"))
    with connect(tmp_path / "catalog.duckdb") as con:
        _writes(con)  # on a lake, connect() is in memory and takes no lock on the file
    assert not (tmp_path / "catalog.duckdb").exists()
    assert ensure_catalog(tmp_path / "catalog.duckdb") is None
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as con:  # a user's notebook
        kinds = dict(con.execute("select table_name, table_type from information_schema.tables "
                                 "where table_schema = 'raw'").fetchall())
        assert set(kinds.values()) == {"VIEW"}
        assert con.execute("select count(*) from raw.klines").fetchall() == [(288 * 2,)]
    monkeypatch.delenv("LIQLEVELS_LAKE")
    with connect(tmp_path / "tables.duckdb"):
        pass
    monkeypatch.setenv("LIQLEVELS_LAKE", str(tmp_path / "lake"))
    with pytest.raises(LakeError, match="tables.duckdb holds tables .*catalog of views"):
        ensure_catalog(tmp_path / "tables.duckdb")


def test_bad_lake_urls_and_versions_are_refused(tmp_path, monkeypatch):
    for url in ("gs://bucket/x", str(tmp_path / "it's"), str(tmp_path / "a*")):
        with pytest.raises(LakeError, match="LIQLEVELS_LAKE"):
            Lake(url)
    Lake(str(tmp_path / "lake")).ensure()
    (tmp_path / "lake/_lake.json").write_text('{"schema_version": 1}')
    with pytest.raises(LakeError, match="schema version 1"):
        Lake(str(tmp_path / "lake")).ensure()


def test_a_failed_write_leaves_every_partition_whole(tmp_path, monkeypatch):
    lake = Lake(str(tmp_path / "lake"))
    days = [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]
    with lake.connect() as con:
        for day in days:
            replace_partition(con, Partition("klines", "binance", "BTC", day, "5m"), _klines(day))
        published = []
        real = lake._publish

        def publish_once(staged, target):
            if published:
                raise OSError("disk gone")  # the writer dies after its first partition
            published.append(target)
            real(staged, target)

        monkeypatch.setattr(lake, "_publish", publish_once)
        two_days = pd.concat([_klines(d, close=9.0) for d in days])
        with pytest.raises(OSError):
            replace_partition(con, Partition("klines", "binance", "BTC", days[0], "5m", days=2), two_days)
        per_day = con.execute("select cast(ts as date), count(*), min(close), max(close) from raw.klines group by 1 order by 1").fetchall()
        # each day is all old or all new, never a mix inside one partition
        assert [(n, lo == hi) for _, n, lo, hi in per_day] == [(288, True), (288, True)]
        monkeypatch.setattr(lake, "_publish", real)
        replace_partition(con, Partition("klines", "binance", "BTC", days[0], "5m", days=2), two_days)  # the rerun
        assert con.execute("select count(*), min(close), max(close) from raw.klines").fetchall() == [(576, 9.0, 9.0)]
    # the dead writer's staged second partition stays out of sight, then `liqlevels lake clean` removes it
    left = list((tmp_path / "lake/.tmp").glob("*.parquet"))
    assert len(left) == 1 and lake.clean_staging(3600) == 0
    assert lake.clean_staging(0) == 1 and not list((tmp_path / "lake/.tmp").glob("*.parquet"))


def _writer(root: str, close: float, rounds: int) -> None:
    lake = Lake(root)
    day = dt.date(2026, 1, 1)
    with lake.connect() as con:
        for _ in range(rounds):
            replace_partition(con, Partition("klines", "binance", "BTC", day, "5m"), _klines(day, close=close), allow_shorter=True)


def _started(target, arguments: list[tuple]) -> list:
    """One spawned process per argument tuple, started."""
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=target, args=args) for args in arguments]
    for w in writers:
        w.start()
    return writers


def test_two_writers_of_the_same_partition_leave_one_whole_result(tmp_path):
    root = str(tmp_path / "lake")
    Lake(root).ensure()
    writers = _started(_writer, [(root, close, 15) for close in (1.0, 2.0)])
    lake = Lake(root)
    seen = set()
    with lake.connect() as con:
        while any(w.is_alive() for w in writers):  # a reader during the writes: always one whole version
            rows = con.execute("select count(*), min(close), max(close) from raw.klines").fetchall()[0]
            seen.add(rows)
        for w in writers:
            w.join()
            assert w.exitcode == 0
        final = con.execute("select count(*), min(close), max(close) from raw.klines").fetchall()[0]
    assert final in {(288, 1.0, 1.0), (288, 2.0, 2.0)}
    assert seen <= {(0, None, None), (288, 1.0, 1.0), (288, 2.0, 2.0)}


def _scan_writer(root: str, first: int, rounds: int) -> None:
    """`rounds` scans (snapshots first, first+2, …) of one venue-day, each its own write, as a symbol's run stores them."""
    from pipelines.lib.warehouse import replace_in_transaction

    lake = Lake(root)
    with lake.connect() as con:
        for i in range(first, first + 2 * rounds, 2):
            ts = dt.datetime(2026, 1, 1) + dt.timedelta(minutes=i)
            row = pd.DataFrame([{"venue": "hyperliquid", "snapshot_ts": ts, "scan_end": ts, "kind": "hot", "addresses_read": 1,
                                 "addresses_failed": 0, "positions": 0, "source": f"scan {i}"}])
            replace_in_transaction(con, [("delete from raw.position_scans where venue = ? and snapshot_ts = ?", ["hyperliquid", ts])],
                                   [("raw.position_scans", row)])


def test_two_writers_adding_different_rows_to_one_partition_keep_both(tmp_path):
    """Two symbols' runs store rows of the same venue-day partition at once (a Hyperliquid scan): on a local
    lake each write locks the partition from reading it to moving the new file in, so no row is lost."""
    root = str(tmp_path / "lake")
    Lake(root).ensure()
    writers = _started(_scan_writer, [(root, first, 25) for first in (0, 1)])
    for w in writers:
        w.join()
        assert w.exitcode == 0
    with Lake(root).connect() as con:
        minutes = [r[0] for r in con.execute("select minute(snapshot_ts) from raw.position_scans order by 1").fetchall()]
    assert minutes == list(range(50))  # both writers' 25 scans, in one partition file
    assert len(list((tmp_path / "lake" / "raw.position_scans").rglob("part.parquet"))) == 2  # the day's and the schema's


@pytest.fixture
def s3_lake(monkeypatch):
    """moto's S3 server on loopback, a bucket, and the environment an S3 lake reads."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "LIQLEVELS_LAKE_S3_ENDPOINT": endpoint}.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="liqlevels")
    yield "s3://liqlevels/lake"
    server.stop()


def test_an_s3_lake_holds_what_a_local_lake_holds(tmp_path, s3_lake):
    local, remote = Lake(str(tmp_path / "lake")), Lake(s3_lake)
    for lake in (local, remote):
        with lake.connect() as con:
            _writes(con)
    assert table_hashes_of(remote) == table_hashes_of(local)
    assert remote.fs.exists("liqlevels/lake/raw.klines/venue=binance/symbol=BTC/date=2026-01-01/part.parquet")
    assert not [f for f in remote.fs.find("liqlevels/lake") if not f.endswith((".parquet", "_lake.json"))]


def test_import_moves_a_duckdb_warehouse_into_an_empty_lake(tmp_path, monkeypatch, capsys):
    from pipelines.cli import main

    monkeypatch.delenv("LIQLEVELS_LAKE", raising=False)
    with connect(tmp_path / "old.duckdb") as con:
        _writes(con)
        expected = table_hashes(con)
    monkeypatch.setenv("LIQLEVELS_LAKE", str(tmp_path / "lake"))
    assert main(["lake", "import", str(tmp_path / "old.duckdb")]) == 0
    assert table_hashes_of(Lake(str(tmp_path / "lake"))) == expected
    assert main(["lake", "hash"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(lake_module.digest(expected))
    assert main(["lake", "import", str(tmp_path / "old.duckdb")]) == 2  # nothing merged into a lake with rows
    assert "already holds rows" in capsys.readouterr().err
