"""One nightly partition with every venue pointed at a local server: `dg.materialize` fills the raw tables."""

import datetime as dt
import json

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource
from pytest_httpserver import HTTPServer

from pipelines.defs.resources import ExportsResource, MarketSourceResource, WatchlistResource
from pipelines.lib.landing import LandingWriter
from tests.conftest import WATCHLIST
from tests.pipelines.dagster_helpers import assets_in_group
from tests.pipelines.fake_exchanges import FakeExchanges, Market, hyperliquid_snapshot, okx_detail

DAY = dt.date.today() - dt.timedelta(days=1)
DAY_MS = int(dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
HOUR = 3_600_000


@pytest.fixture
def market() -> Market:
    return Market.of(DAY)


@pytest.fixture
def fake(market, monkeypatch):
    server = HTTPServer(threaded=True)
    server.start()
    fake = FakeExchanges(server, market)
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    yield fake
    server.clear()
    server.stop()


def land_streams(root, market: Market) -> None:
    """What `liqlevels collect` and the Hyperliquid poll would have landed during DAY."""
    binance = LandingWriter(root, "liquidations", "binance")
    for i, (side, qty, price) in enumerate([("SELL", "0.5", "70000.5"), ("BUY", "0.25", "71000"), ("SELL", "1.0", "69000")]):
        t = DAY_MS + (i * 7 + 1) * HOUR
        binance.add({"received_at": t + 40, "payload": {"e": "forceOrder", "E": t + 5, "o": {
            "s": "BTCUSDT", "S": side, "o": "LIMIT", "f": "IOC", "q": qty, "p": price, "ap": price, "X": "FILLED",
            "l": qty, "z": qty, "T": t}}})
    binance.add({"received_at": DAY_MS + 9 * HOUR, "text": "{\"e\":\"forceOrder\",\"o\":"})
    binance.add({"received_at": DAY_MS + 10 * HOUR, "gap": {"start": DAY_MS + 9 * HOUR, "end": DAY_MS + 10 * HOUR,
                                                            "reason": "connection closed: 1006"}})
    binance.flush()
    bybit = LandingWriter(root, "liquidations", "bybit")
    bybit.add({"received_at": DAY_MS + 5 * HOUR, "payload": {"topic": "allLiquidation.BTCUSDT", "type": "snapshot", "ts": DAY_MS + 5 * HOUR,
               "data": [{"T": DAY_MS + 5 * HOUR - 100, "s": "BTCUSDT", "S": "Buy", "v": "0.75", "p": "68000"},
                        {"T": DAY_MS + 5 * HOUR - 90, "s": "ETHUSDT", "S": "Sell", "v": "2", "p": "2000"}]}})
    bybit.flush()
    # The OKX stream saw one event that the REST endpoint also returns: it must be stored once.
    first = next(market.liquidations.itertuples())
    okx = LandingWriter(root, "liquidations", "okx")
    okx.add({"received_at": int(first.ts) + 30, "payload": {"arg": {"channel": "liquidation-orders", "instType": "SWAP"},
             "data": [{"instId": "BTC-USDT-SWAP", "details": [okx_detail(first)]}]}})
    okx.flush()
    hyperliquid = LandingWriter(root, "open_interest", "hyperliquid")
    for hour in range(24):
        for minute in (1, 6, 11):  # a 5-minute poll; the first snapshot of each hour counts
            oi = 10_000.0 + hour + minute / 100
            hyperliquid.add({"received_at": DAY_MS + hour * HOUR + minute * 60_000,
                             "payload": hyperliquid_snapshot({"BTC": (oi, 70_000.0), "ETH": (5.0, 2000.0)})})
    hyperliquid.flush()


def resources(tmp_path) -> dict:
    return {
        "duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
        "watchlist": WatchlistResource(path=str(WATCHLIST), symbols=["BTC"]),
        "market_source": MarketSourceResource(mode="live", files_root=str(tmp_path / "none"), landing_root=str(tmp_path / "landing"),
                                              http_timeout_seconds=0.5, http_retries=3, http_backoff_seconds=0.01),
        "exports": ExportsResource(root=str(tmp_path / "exports")),
    }


def materialize(tmp_path, raise_on_error=True):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("symbols", ["BTC"])
    return dg.materialize(assets_in_group("ingest"), resources=resources(tmp_path), partition_key=f"{DAY}|BTC",
                          instance=instance, raise_on_error=raise_on_error)


def snapshot(tmp_path) -> dict:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        return {t: sorted(con.execute(f"select * from {t}").fetchall(), key=repr) for t in
                ("raw.klines", "raw.open_interest", "raw.funding", "raw.liquidations", "ops.stream_gaps")}


def counts(tmp_path, table: str) -> dict:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        return dict(con.execute(f"select venue, count(*) from {table} group by venue").fetchall())


def test_one_nightly_partition_fills_every_venue_and_reruns_identically(tmp_path, fake, market):
    land_streams(tmp_path / "landing", market)
    assert materialize(tmp_path).success

    assert counts(tmp_path, "raw.klines") == {"binance": 24, "bybit": 24, "okx": 24, "hyperliquid": 24}
    oi_hours = len(market.open_interest["binance"])
    assert counts(tmp_path, "raw.open_interest") == {"binance": oi_hours, "bybit": len(market.open_interest["bybit"]),
                                                      "okx": len(market.open_interest["okx"]), "hyperliquid": 24}
    assert counts(tmp_path, "raw.funding") == {"binance": 3, "bybit": 3, "okx": 3, "hyperliquid": 24}
    assert counts(tmp_path, "raw.liquidations") == {"binance": 3, "bybit": 1, "okx": len(market.liquidations)}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        hl = con.execute("select ts, oi_base, oi_usd from raw.open_interest where venue = 'hyperliquid' order by ts").fetchall()
        assert [row[1] for row in hl] == [10_000.0 + h + 0.01 for h in range(24)]  # first snapshot of each hour
        assert hl[0][0] == dt.datetime.combine(DAY, dt.time()) and hl[0][2] == pytest.approx(10_000.01 * 70_000.0)
        sides = con.execute("select side, price, usd from raw.liquidations where venue = 'binance' order by ts").fetchall()
        assert sides == [("long", 70000.5, 35000.25), ("short", 71000.0, 17750.0), ("long", 69000.0, 69000.0)]
        assert con.execute("select count(*) from ops.stream_gaps where venue = 'binance'").fetchall() == [(1,)]
        orphan = con.execute("select venue, symbol, field from ops.rejects").fetchall()
        assert orphan == [("binance", "*", "payload")]  # the cut-off message, kept, owned by no symbol

    before = snapshot(tmp_path)
    assert materialize(tmp_path).success
    assert snapshot(tmp_path) == before

    # Weeks later OKX's REST window has moved past the day: a rerun sees only the stream's event
    # and must keep the REST-only events stored the first time.
    market.liquidations = market.liquidations.iloc[0:0]
    assert materialize(tmp_path).success
    assert snapshot(tmp_path) == before


def failure_messages(result) -> str:
    return " | ".join(e.step_failure_data.error.message for e in result.get_step_failure_events())


def test_a_ban_and_a_renamed_field_fail_loudly_and_lose_nothing_stored(tmp_path, fake, market):
    land_streams(tmp_path / "landing", market)
    assert materialize(tmp_path).success
    before = snapshot(tmp_path)

    fake.faults.add("/fapi/v1/klines", "418")
    fake.faults.add("/api/v5/public/funding-rate-history", "renamed")
    result = materialize(tmp_path, raise_on_error=False)
    assert not result.success
    message = failure_messages(result)
    assert "binance /fapi/v1/klines: IP banned (HTTP 418); Retry-After 120 s" in message
    assert "okx /api/v5/public/funding-rate-history: field 'fundingRate'" in message
    assert fake.count("/fapi/v1/klines") == 4 + 1  # first run's pages, then one banned call and no retry
    assert snapshot(tmp_path) == before  # stored rows survive both
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        rejects = con.execute("select venue, field, payload from ops.rejects where table_name = 'funding'").fetchall()
    assert {(v, f) for v, f, _ in rejects} == {("okx", "fundingRate")} and "funding_rate" in rejects[0][2]
    assert json.loads(rejects[0][2])["instId"] == "BTC-USDT-SWAP"


def test_the_hyperliquid_poll_lands_a_snapshot_the_nightly_ingest_can_read(tmp_path, fake):
    from pipelines.defs.ingest.snapshots import hyperliquid_oi_snapshot
    from pipelines.lib import landing
    from pipelines.lib.exchanges.live import day_window, hourly_snapshots

    result = dg.materialize([hyperliquid_oi_snapshot], resources=resources(tmp_path), instance=dg.DagsterInstance.ephemeral())
    assert result.success
    today = dt.datetime.now(dt.UTC).date()
    records = list(landing.read_day(tmp_path / "landing", "open_interest", "hyperliquid", today, margin_hours=0))
    assert len(records) == 1
    rows = hourly_snapshots(records, "BTC", day_window(today)).records
    assert len(rows) == 1 and float(rows[0]["oi_base"]) == 12345.5 and rows[0]["oi_usd"] == 12345.5 * 70_000.0
