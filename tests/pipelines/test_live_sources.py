"""Exchange clients against a local server speaking each venue's documented format (real data)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer

from pipelines.lib.exchanges.http import ExchangeError, RateLimitStop, RequestBudget
from pipelines.lib.exchanges.live import HttpSettings, LiveSource, Loaded, Skipped, rest_url, ws_url
from pipelines.lib.exchanges.venues import BinanceWeightGuard
from pipelines.lib.watchlist import load_watchlist
from tests.conftest import WATCHLIST
from tests.pipelines.fake_exchanges import FUNDING_PAGE_CAP, PAGE_CAP, FakeExchanges, Market

DAY = dt.date.today() - dt.timedelta(days=1)  # inside Binance's 30-day OI window
BTC = load_watchlist(WATCHLIST).get("BTC")
FAST = HttpSettings(timeout=0.5, retries=3, backoff=0.01)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market.of(DAY)


@pytest.fixture
def fake(market):
    server = HTTPServer(threaded=True)
    server.start()
    yield FakeExchanges(server, market)
    server.clear()
    server.stop()


@pytest.fixture
def live(fake, tmp_path):
    source = LiveSource(tmp_path / "landing", env=fake.env(), settings=FAST)
    yield source
    source.close()


def expected(market: Market, table: str, venue: str) -> pd.DataFrame:
    frame = market.liquidations if table == "liquidations" else getattr(market, table)[venue]
    out = frame.copy()
    out["ts"] = pd.to_datetime(out["ts"], unit="ms")
    return out.sort_values("ts").reset_index(drop=True)


REST_CASES = [("binance", "klines"), ("binance", "open_interest"), ("binance", "funding"),
              ("bybit", "klines"), ("bybit", "open_interest"), ("bybit", "funding"),
              ("okx", "klines"), ("okx", "open_interest"), ("okx", "funding"), ("okx", "liquidations"),
              ("hyperliquid", "klines"), ("hyperliquid", "funding")]
COLUMNS = {"klines": ["open", "high", "low", "close", "volume", "quote_volume"], "open_interest": ["oi_base", "oi_usd"],
           "funding": ["rate"], "liquidations": ["price", "qty_base", "usd"]}


@pytest.mark.parametrize(("venue", "table"), REST_CASES)
def test_a_day_from_each_venue_equals_the_recorded_rows(live, fake, market, venue, table):
    loaded = live.load_day(table, BTC.listing(venue), "BTC", DAY)
    assert isinstance(loaded, Loaded), loaded
    rows, want = loaded.batch.rows, expected(market, table, venue)
    assert loaded.batch.rejects.empty and not loaded.problems
    assert len(want) > (FUNDING_PAGE_CAP if table == "funding" else PAGE_CAP)  # so the day took several pages
    assert rows["ts"].tolist() == want["ts"].tolist()
    for column in COLUMNS[table]:
        if column == "quote_volume" and venue == "hyperliquid":
            assert rows[column].isna().all()
            continue
        np.testing.assert_allclose(rows[column].to_numpy(float), want[column].to_numpy(float), rtol=1e-12, err_msg=column)
    if table == "liquidations":
        assert rows["side"].tolist() == want["side"].tolist()
        assert set(rows["side"]) == {"long", "short"}
    assert rows["ts"].is_monotonic_increasing and not rows.duplicated(["ts"] + COLUMNS[table][:1]).any()


def test_newest_first_venues_are_paged_backwards_until_the_day_start(live, fake):
    live.load_day("klines", BTC.listing("bybit"), "BTC", DAY)
    ends = [int(args["end"]) for path, args in fake.requests if path == "/v5/market/kline"]
    assert len(ends) == -(-24 // PAGE_CAP) and ends == sorted(ends, reverse=True)
    live.load_day("open_interest", BTC.listing("bybit"), "BTC", DAY)
    cursors = [args.get("cursor") for path, args in fake.requests if path == "/v5/market/open-interest"]
    assert cursors[0] is None and cursors[1:] == [str(PAGE_CAP * i) for i in range(1, len(cursors))]


def test_hyperliquid_funding_times_are_bucketed_to_the_hour(live):
    rows = live.load_day("funding", BTC.listing("hyperliquid"), "BTC", DAY).batch.rows
    assert (rows["ts"].dt.minute == 0).all() and (rows["ts"].dt.microsecond == 0).all() and len(rows) == 24


@pytest.mark.parametrize("fault", ["429", "500", "timeout", "truncated"])
def test_transient_faults_are_retried_and_no_row_is_lost_or_doubled(live, fake, market, fault):
    fake.faults.add("/fapi/v1/klines", fault)
    fake.faults.add("/v5/market/open-interest", fault)
    binance = live.load_day("klines", BTC.listing("binance"), "BTC", DAY).batch.rows
    bybit = live.load_day("open_interest", BTC.listing("bybit"), "BTC", DAY).batch.rows
    assert len(fake.faults.served) == 2
    assert binance["ts"].tolist() == expected(market, "klines", "binance")["ts"].tolist()
    assert bybit["ts"].tolist() == expected(market, "open_interest", "bybit")["ts"].tolist()
    assert fake.count("/fapi/v1/klines") == -(-24 // PAGE_CAP) + 1  # one page asked twice


def test_retry_after_is_honoured(live, fake):
    fake.faults.add("/fapi/v1/fundingRate", "429")
    import time

    started = time.monotonic()
    live.load_day("funding", BTC.listing("binance"), "BTC", DAY)
    assert time.monotonic() - started >= 0.95  # the server said Retry-After: 1


def test_a_binance_418_ban_stops_at_once(live, fake):
    fake.faults.add("/fapi/v1/klines", "418", "418", "418")
    with pytest.raises(RateLimitStop, match=r"binance /fapi/v1/klines: IP banned \(HTTP 418\); Retry-After 120 s"):
        live.load_day("klines", BTC.listing("binance"), "BTC", DAY)
    assert fake.count("/fapi/v1/klines") == 1
    # The other tables of the run do not knock on a banned venue's door again.
    with pytest.raises(RateLimitStop, match="not called: stopped earlier in this run"):
        live.load_day("funding", BTC.listing("binance"), "BTC", DAY)
    assert fake.count("/fapi/v1/fundingRate") == 0
    assert isinstance(live.load_day("funding", BTC.listing("okx"), "BTC", DAY), Loaded)  # other venues carry on
    # Landed stream files are local: a ban does not stop reading them.
    assert isinstance(live.load_day("liquidations", BTC.listing("binance"), "BTC", DAY), Skipped)


def test_bybit_retcode_10006_inside_http_200_stops(live, fake):
    fake.faults.add("/v5/market/funding/history", "retcode10006")
    with pytest.raises(RateLimitStop, match="bybit /v5/market/funding/history: retCode 10006"):
        live.load_day("funding", BTC.listing("bybit"), "BTC", DAY)
    assert fake.count("/v5/market/funding/history") == 1


def test_persistent_5xx_fails_naming_venue_and_endpoint(live, fake):
    fake.faults.add("/api/v5/public/funding-rate-history", *["500"] * 10)
    with pytest.raises(ExchangeError, match="okx /api/v5/public/funding-rate-history"):
        live.load_day("funding", BTC.listing("okx"), "BTC", DAY)


def test_a_renamed_field_becomes_rejects_naming_venue_endpoint_and_field(live, fake):
    fake.faults.add("/fapi/v1/fundingRate", "renamed")
    loaded = live.load_day("funding", BTC.listing("binance"), "BTC", DAY)
    assert loaded.problems == (("/fapi/v1/fundingRate", "fundingRate", "missing in the /fapi/v1/fundingRate payload"),)
    rejects = loaded.batch.rejects
    # The first page (2 rows) came renamed, the second was fine.
    assert len(rejects) == 2 and set(rejects["field"]) == {"fundingRate"} and len(loaded.batch.rows) == 1
    assert rejects["payload"].str.contains("funding_rate").all()


def test_binance_weight_header_pauses_before_the_limit():
    pauses = []
    guard = BinanceWeightGuard(limit=2400, sleep=pauses.append, clock=lambda: 1_000_000_050.0)

    class Response:
        def __init__(self, used):
            self.headers = {"X-MBX-USED-WEIGHT-1M": str(used)}

    guard(Response(100))
    assert pauses == []
    guard(Response(2200))
    assert pauses == [pytest.approx(30.5)]


def test_binance_oi_older_than_30_days_points_to_the_backfill(live):
    old = live.load_day("open_interest", BTC.listing("binance"), "BTC", DAY - dt.timedelta(days=40))
    assert isinstance(old, Skipped) and "liqlevels backfill" in old.reason


def test_base_urls_come_from_the_environment():
    env = {"LIQLEVELS_OKX_REST_URL": "http://127.0.0.1:9/", "LIQLEVELS_BYBIT_WS_URL": "ws://127.0.0.1:9"}
    assert rest_url("okx", env) == "http://127.0.0.1:9" and rest_url("binance", env) == "https://fapi.binance.com"
    assert ws_url("bybit", env) == "ws://127.0.0.1:9"
    with pytest.raises(ValueError, match="LIQLEVELS_OKX_REST_URL"):
        rest_url("okx", {"LIQLEVELS_OKX_REST_URL": "file:///etc/passwd"})


def test_coinglass_needs_its_key_and_serves_aggregated_oi_and_liquidation_history(fake, market, tmp_path, caplog):
    from pipelines.lib.watchlist import Listing
    from tests.pipelines.fake_exchanges import COINGLASS_KEY, serve_coinglass

    seen = serve_coinglass(fake.server, market)
    listing = Listing("coinglass", "BTC", 1.0)
    without = LiveSource(tmp_path, env={"LIQLEVELS_COINGLASS_REST_URL": fake.url}, settings=FAST)
    skipped = without.load_day("open_interest", listing, "BTC", DAY)
    assert isinstance(skipped, Skipped) and "COINGLASS_API_KEY is not set" in skipped.reason and seen == []
    assert without.load_day("klines", listing, "BTC", DAY) is None  # coinglass serves no candles

    wrong = LiveSource(tmp_path, env={"LIQLEVELS_COINGLASS_REST_URL": fake.url, "COINGLASS_API_KEY": "nope"}, settings=FAST)
    with pytest.raises(RateLimitStop, match="API key refused") as refused:
        wrong.load_day("open_interest", listing, "BTC", DAY)
    assert "nope" not in str(refused.value)

    with_key = LiveSource(tmp_path, env={"LIQLEVELS_COINGLASS_REST_URL": fake.url, "COINGLASS_API_KEY": COINGLASS_KEY}, settings=FAST)
    oi = with_key.load_day("open_interest", listing, "BTC", DAY).batch.rows
    want = expected(market, "open_interest", "binance")
    assert oi["ts"].tolist() == want["ts"].tolist() and np.allclose(oi["oi_usd"], want["oi_usd"], rtol=1e-12)
    history = with_key.load_day("liquidation_history", listing, "BTC", DAY).batch.rows
    assert np.allclose(history["long_usd"], want["oi_usd"] * 1e-4) and np.allclose(history["short_usd"], want["oi_usd"] * 2e-4)
    assert seen[-1]["Cg-Api-Key"] == COINGLASS_KEY
    assert COINGLASS_KEY not in caplog.text


def test_the_request_budget_waits_once_the_window_is_spent():
    now = [0.0]
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        now[0] += seconds

    budget = RequestBudget(limit=40, window=60.0, sleep=sleep, clock=lambda: now[0])
    for _ in range(2):
        budget.spend(20)  # Hyperliquid-like weights: two calls fill the window
    assert waits == []
    now[0] = 15.0
    budget.spend(20)
    assert waits == [45.0] and now[0] == 60.0  # until the first call leaves the 60 s window


def test_the_nightly_job_reads_live_sources_unless_told_otherwise(monkeypatch):
    from pipelines.defs.resources import resources

    monkeypatch.delenv("LIQLEVELS_SOURCE", raising=False)
    assert resources().resources["market_source"].mode == "live"
    monkeypatch.setenv("LIQLEVELS_SOURCE", "files")
    assert resources().resources["market_source"].mode == "files"


def test_a_late_stream_event_counts_for_its_own_day_exactly_once(tmp_path):
    from pipelines.lib.landing import LandingWriter

    midnight = int(dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    writer = LandingWriter(tmp_path, "liquidations", "bybit")
    for t, received in ((midnight - 700, midnight + 300), (midnight + 200, midnight + 400)):  # 23:59:59.3 landed after midnight
        writer.add({"received_at": received, "payload": {"topic": "allLiquidation.BTCUSDT", "data": [
            {"T": t, "s": "BTCUSDT", "S": "Sell", "v": "0.1", "p": "70000"}]}})
    writer.flush()
    source = LiveSource(tmp_path, env={})
    before = source.load_day("liquidations", BTC.listing("bybit"), "BTC", DAY).batch.rows
    after = source.load_day("liquidations", BTC.listing("bybit"), "BTC", DAY + dt.timedelta(days=1)).batch.rows
    assert before["ts"].tolist() == [pd.Timestamp(midnight - 700, unit="ms")]
    assert after["ts"].tolist() == [pd.Timestamp(midnight + 200, unit="ms")]
    assert before["side"].tolist() == ["short"]  # Bybit S=Sell: a short position was liquidated


def test_a_bybit_403_ip_block_stops_at_once(live, fake):
    fake.server.clear()  # replace the kline route with a 403 (Bybit's "access too frequent")
    fake.server.expect_request("/v5/market/kline").respond_with_data("access too frequent", status=403)
    with pytest.raises(RateLimitStop, match="bybit /v5/market/kline: IP blocked"):
        live.load_day("klines", BTC.listing("bybit"), "BTC", DAY)


@pytest.mark.parametrize(("venue", "item", "liquidated"), [
    ("binance", {"e": "forceOrder", "o": {"s": "BTCUSDT", "S": "SELL", "ap": "1", "z": "1", "T": 1}}, "long"),
    ("binance", {"e": "forceOrder", "o": {"s": "BTCUSDT", "S": "BUY", "ap": "1", "z": "1", "T": 1}}, "short"),
    ("bybit", {"T": 1, "s": "BTCUSDT", "S": "Buy", "v": "1", "p": "1"}, "long"),  # position side, not order side
    ("bybit", {"T": 1, "s": "BTCUSDT", "S": "Sell", "v": "1", "p": "1"}, "short"),
    ("okx", {"posSide": "short", "side": "buy", "bkPx": "1", "sz": "1", "ts": "1"}, "short"),
    ("okx", {"posSide": "net", "side": "sell", "bkPx": "1", "sz": "1", "ts": "1"}, "long"),  # one-way mode
    ("okx", {"posSide": "net", "side": "buy", "bkPx": "1", "sz": "1", "ts": "1"}, "short"),
])
def test_each_venue_liquidation_side_convention_maps_to_the_liquidated_position(venue, item, liquidated):
    from pipelines.lib.exchanges.venues import parse_binance_force_order, parse_bybit_liquidations, parse_okx_liquidation_details

    parsed = {"binance": lambda: parse_binance_force_order(item, "ws"), "bybit": lambda: parse_bybit_liquidations([item], "ws"),
              "okx": lambda: parse_okx_liquidation_details([item], 0.01, "ws")}[venue]()
    assert [r["side"] for r in parsed.records] == [liquidated] and not parsed.problems


def test_a_cursor_that_never_ends_fails_naming_the_venue(live, fake, monkeypatch):
    from pipelines.lib.exchanges import venues
    from pipelines.lib.normalize import SourceFormatError

    monkeypatch.setattr(venues, "MAX_PAGES", 3)
    fake.server.clear()
    fake.server.expect_request("/v5/market/open-interest").respond_with_json(
        {"retCode": 0, "retMsg": "OK", "result": {"list": [{"openInterest": "2", "timestamp": "1"}], "nextPageCursor": "again"},
         "retExtInfo": {}, "time": 1})
    fake.server.expect_request("/v5/market/kline").respond_with_json(
        {"retCode": 0, "retMsg": "OK", "result": {"list": []}, "retExtInfo": {}, "time": 1})
    with pytest.raises(SourceFormatError, match=r"bybit open_interest pages: field '<pagination>' .*after 3 pages"):
        live.load_day("open_interest", BTC.listing("bybit"), "BTC", DAY)
