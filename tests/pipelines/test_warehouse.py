import datetime as dt

import duckdb
import pandas as pd
import pytest

from pipelines.lib import warehouse
from pipelines.lib.warehouse import Partition, connect, migrate, replace_partition


def test_schema_is_created_with_version(warehouse_file):
    with connect(warehouse_file) as con:
        schemas = {r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()}
        tables = {
            f"{s}.{t}"
            for s, t in con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        }
        versions = con.execute("select version from ops.schema_version").fetchall()
    assert {"raw", "levels", "ops"} <= schemas
    assert {"raw.klines", "raw.open_interest", "raw.funding", "raw.liquidations", "ops.rejects"} <= tables
    assert versions == [(number,) for number, _, _ in warehouse.MIGRATIONS]
    assert "levels.objective" in tables


def test_migrate_twice_is_a_noop(warehouse_file):
    with connect(warehouse_file) as con:
        con.execute("insert into raw.funding values ('okx', 'BTC', '2026-01-01 00:00:00', 0.0001)")
        assert migrate(con) == warehouse.SCHEMA_VERSION
        assert con.execute("select count(*) from ops.schema_version").fetchall() == [(len(warehouse.MIGRATIONS),)]
        assert con.execute("select count(*) from raw.funding").fetchall() == [(1,)]


def test_new_migration_applies_once_and_keeps_data(warehouse_file, monkeypatch):
    with connect(warehouse_file) as con:
        con.execute("insert into raw.funding values ('okx', 'BTC', '2026-01-01 00:00:00', 0.0001)")
    extra = (warehouse.SCHEMA_VERSION + 1, "add a note column", ["alter table raw.funding add column note varchar"])
    monkeypatch.setattr(warehouse, "MIGRATIONS", warehouse.MIGRATIONS + [extra])
    with connect(warehouse_file) as con:
        assert migrate(con) == extra[0]
        columns = [r[0] for r in con.execute("describe raw.funding").fetchall()]
        rows = con.execute("select venue, rate from raw.funding").fetchall()
        versions = [r[0] for r in con.execute("select version from ops.schema_version order by 1").fetchall()]
    assert "note" in columns
    assert rows == [("okx", 0.0001)]
    assert versions == list(range(1, extra[0] + 1))


def test_failed_migration_rolls_back(warehouse_file, monkeypatch):
    connect(warehouse_file).close()
    broken = (warehouse.SCHEMA_VERSION + 1, "broken", ["create table ops.half_done (x int)", "select * from no_such_table"])
    monkeypatch.setattr(warehouse, "MIGRATIONS", warehouse.MIGRATIONS + [broken])
    with pytest.raises(duckdb.CatalogException):
        connect(warehouse_file)
    monkeypatch.undo()
    with duckdb.connect(str(warehouse_file)) as con:
        assert warehouse.current_version(con) == warehouse.SCHEMA_VERSION
        assert con.execute("select count(*) from information_schema.tables where table_name = 'half_done'").fetchall() == [(0,)]


def _funding(day: dt.date, rates: list[float]) -> pd.DataFrame:
    ts = [pd.Timestamp(day) + pd.Timedelta(hours=8 * i) for i in range(len(rates))]
    return pd.DataFrame({"venue": "okx", "symbol": "BTC", "ts": ts, "rate": rates})


def test_replace_partition_replaces_only_its_slice(warehouse_file):
    d1, d2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    with connect(warehouse_file) as con:
        replace_partition(con, Partition("funding", "okx", "BTC", d1), _funding(d1, [0.1, 0.2, 0.3]))
        replace_partition(con, Partition("funding", "okx", "BTC", d2), _funding(d2, [0.4]))
        kept = replace_partition(con, Partition("funding", "okx", "BTC", d1), _funding(d1, [0.5]))
        assert [r[1] for r in con.execute("select ts, rate from raw.funding order by ts").fetchall()] == [0.1, 0.2, 0.3, 0.4]
        assert [(k.day, k.stored, k.offered) for k in kept] == [(d1, 3, 1)]  # a shorter slice keeps the fuller stored day
        assert replace_partition(con, Partition("funding", "okx", "BTC", d1), _funding(d1, [0.5]), allow_shorter=True) == []
        rows = con.execute("select ts, rate from raw.funding order by ts").fetchall()
    assert [r[1] for r in rows] == [0.5, 0.4]


def test_rows_outside_the_day_are_refused_and_nothing_changes(warehouse_file):
    d1 = dt.date(2026, 1, 1)
    with connect(warehouse_file) as con:
        replace_partition(con, Partition("funding", "okx", "BTC", d1), _funding(d1, [0.1]))
        with pytest.raises(ValueError, match="outside the day"):
            replace_partition(con, Partition("funding", "okx", "BTC", d1), _funding(dt.date(2026, 1, 2), [0.9]))
        assert con.execute("select rate from raw.funding").fetchall() == [(0.1,)]


def test_upsert_adds_and_corrects_by_key_and_never_drops_what_the_batch_omits(warehouse_file):
    from pipelines.lib.warehouse import REJECT_COLUMNS, upsert_partition

    d1 = dt.date(2026, 1, 1)
    part = Partition("funding", "okx", "BTC", d1)
    reject = pd.DataFrame([{"table_name": "funding", "venue": "okx", "symbol": "BTC", "day": d1, "source": "okx:api",
                            "field": "fundingRate", "reason": "missing", "payload": "{}"}], columns=REJECT_COLUMNS)
    with connect(warehouse_file) as con:
        upsert_partition(con, part, _funding(d1, [0.1, 0.2, 0.3]), reject, "okx:api")
        upsert_partition(con, part, _funding(d1, [0.1, 0.2, 0.3]), reject, "okx:api")  # the same answer again
        assert con.execute("select rate from raw.funding order by ts").fetchall() == [(0.1,), (0.2,), (0.3,)]
        assert con.execute("select count(*) from ops.rejects").fetchall() == [(1,)]
        upsert_partition(con, part, _funding(d1, [0.15]), reject.iloc[0:0], "okx:api")  # a later, shorter answer
        assert con.execute("select rate from raw.funding order by ts").fetchall() == [(0.15,), (0.2,), (0.3,)]
        assert con.execute("select count(*) from ops.rejects").fetchall() == [(0,)]
        with pytest.raises(ValueError, match="another venue"):
            upsert_partition(con, part, _funding(d1, [0.9]).assign(venue="bybit"), reject.iloc[0:0], "okx:api")
        assert con.execute("select count(*) from raw.funding").fetchall() == [(3,)]
