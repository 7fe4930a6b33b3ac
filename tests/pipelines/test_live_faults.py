"""Payloads that are well-formed but wrong (real reproductions): other intervals than asked, an
inverse answer, a COIN-M stream event, a Bybit OI hour without a candle, and an API key echoed back.
Each is served by the local venue server in the venue's documented format."""

import copy
import datetime as dt
import json
import logging

import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from pipelines.lib.exchanges.http import PayloadShapeError, RateLimitStop
from pipelines.lib.exchanges.live import COINGLASS_KEY, HttpSettings, LiveSource, Loaded, day_window, stream_liquidations
from pipelines.lib.exchanges.payload import Fetched, check_spacing
from pipelines.lib.watchlist import load_watchlist
from tests.conftest import WATCHLIST
from tests.pipelines.fake_exchanges import FakeExchanges, Market

DAY = dt.date.today() - dt.timedelta(days=1)
BTC = load_watchlist(WATCHLIST).get("BTC")
FAST = HttpSettings(timeout=0.5, retries=2, backoff=0.01)
HOUR = 3_600_000


@pytest.fixture(scope="module")
def market() -> Market:
    return Market.of(DAY)


@pytest.fixture
def serve(market, tmp_path):
    """serve(edit) -> (LiveSource, FakeExchanges) for a copy of the market changed by `edit`."""
    servers, sources = [], []

    def start(edit=lambda m: None, env: dict | None = None):
        changed = copy.deepcopy(market)
        edit(changed)
        server = HTTPServer(threaded=True)
        server.start()
        fake = FakeExchanges(server, changed)
        source = LiveSource(tmp_path / "landing", env=fake.env() | (env or {}), settings=FAST)
        servers.append(server)
        sources.append(source)
        return source, fake

    yield start
    for source in sources:
        source.close()
    for server in servers:
        server.clear()
        server.stop()


def five_minute_oi(m: Market) -> None:
    oi = m.open_interest["okx"].head(12).copy()
    oi["ts"] = oi["ts"].iloc[0] + 300_000 * pd.RangeIndex(len(oi))
    m.open_interest["okx"] = oi


def four_hour_oi(m: Market) -> None:
    m.open_interest["binance"] = m.open_interest["binance"][m.open_interest["binance"]["ts"] % (4 * HOUR) == 0]


def one_minute_candles(m: Market) -> None:
    k = m.klines["okx"].head(30).copy()
    k["ts"] = k["ts"].iloc[0] + 60_000 * pd.RangeIndex(len(k))
    m.klines["okx"] = k


@pytest.mark.parametrize(("venue", "table", "edit", "spacing"), [
    ("okx", "open_interest", five_minute_oi, "5m"),
    ("binance", "open_interest", four_hour_oi, "4h"),
    ("okx", "klines", one_minute_candles, "1m"),
])
def test_bars_at_another_interval_than_asked_fail_the_load_naming_the_spacing(serve, venue, table, edit, spacing):
    live, _ = serve(edit)
    loaded = live.load_day(table, BTC.listing(venue), "BTC", DAY)
    assert isinstance(loaded, Loaded)
    reasons = {(field, reason) for _, field, reason in loaded.problems}
    assert ("ts", f"holds bars {spacing} apart, but 1h was asked for") in reasons


def test_missing_hours_are_not_mistaken_for_a_coarser_interval():
    fetched = Fetched("klines", "/x", records=[{"ts": t * HOUR, "interval": "1h"} for t in (0, 1, 3, 7, 8)])
    check_spacing(fetched)
    assert fetched.problems == []


def test_a_weekly_binance_kline_is_not_stored_as_hourly(serve):
    live, fake = serve()
    fake.binance_kline_ms = 7 * 24 * HOUR
    loaded = live.load_day("klines", BTC.listing("binance"), "BTC", DAY)
    assert ("/fapi/v1/klines", "[6] closeTime", "bar lasts 168 h, 1h was asked for") in loaded.problems


def test_an_inverse_bybit_answer_is_refused(serve):
    live, fake = serve()
    fake.bybit_category = "inverse"
    with pytest.raises(PayloadShapeError, match=r"bybit /v5/market/kline: field 'result.category' is 'inverse', but 'linear' was asked for"):
        live.load_day("klines", BTC.listing("bybit"), "BTC", DAY)


def test_bybit_oi_without_a_candle_nearby_is_a_reject_that_says_so(serve):
    def no_candles_after_noon(m: Market) -> None:
        k = m.klines["bybit"]
        m.klines["bybit"] = k[k["ts"] < k["ts"].min() + 12 * HOUR]

    live, _ = serve(no_candles_after_noon)
    loaded = live.load_day("open_interest", BTC.listing("bybit"), "BTC", DAY)
    reasons = set(loaded.batch.rejects["reason"])
    assert reasons == {"no bybit kline within an hour of this OI timestamp to value it in USD (Bybit reports OI in coins only)"}
    assert len(loaded.batch.rows) == 13  # 12 hours with a candle, and 12:00 valued by the 11:00 candle
    assert not loaded.problems


def test_a_coin_m_force_order_is_rejected_not_stored_as_coins():
    coin_m = {"e": "forceOrder", "E": 1, "o": {"s": "BTCUSD_PERP", "ps": "BTCUSD", "S": "SELL", "q": "3", "p": "93526.1",
                                               "ap": "93526.1", "X": "FILLED", "z": "3", "T": day_window(DAY).start_ms + 5}}
    mine, orphans = stream_liquidations("binance", [{"payload": coin_m}], BTC.listing("binance"), day_window(DAY))
    assert mine.records == []
    assert [(f, r) for f, r, _ in orphans.problems] == [("o.ps", "a COIN-M forceOrder (quantity in contracts, not base): not a USDⓈ-M event")]


KEY = "cg-secret-key-91b2"


def echoing_coinglass(server: HTTPServer, status: int) -> None:
    """A Coinglass that echoes the key back: in a 401 body, or in a 200 whose fields were renamed."""
    def respond(request):
        key = request.headers.get("CG-API-KEY", "")
        if status == 401:
            return Response(json.dumps({"code": "401", "msg": f"invalid api key {key}"}), status=401)
        row = {"time": day_window(DAY).start_ms, "opn": 1.0, "echo": f"key={key}"}
        return Response(json.dumps({"code": "0", "msg": "", "data": [row]}), content_type="application/json")

    server.expect_request("/api/futures/open-interest/aggregated-history").respond_with_handler(respond)


@pytest.mark.parametrize("status", [401, 200])
def test_an_echoed_api_key_reaches_no_message_log_or_stored_reject(tmp_path, caplog, status):
    server = HTTPServer(threaded=True)
    server.start()
    echoing_coinglass(server, status)
    env = {COINGLASS_KEY: KEY, "LIQLEVELS_COINGLASS_REST_URL": server.url_for("").rstrip("/")}
    live = LiveSource(tmp_path, env=env, settings=FAST)
    caplog.set_level(logging.DEBUG)
    try:
        if status == 401:
            with pytest.raises(RateLimitStop) as raised:
                live.load_day("open_interest", BTC.listing("coinglass"), "BTC", DAY)
            text = str(raised.value)
            assert "invalid api key <redacted>" in text
        else:
            loaded = live.load_day("open_interest", BTC.listing("coinglass"), "BTC", DAY)
            text = loaded.batch.rejects.to_json()
            assert "open" in {f for _, f, _ in loaded.problems} and "key=<redacted>" in text
    finally:
        live.close()
        server.stop()
    assert KEY not in text and KEY not in caplog.text


@pytest.mark.parametrize(("venue", "table", "path", "param", "asked"), [
    ("binance", "klines", "/fapi/v1/klines", "interval", "5m"),
    ("binance", "open_interest", "/futures/data/openInterestHist", "period", "5m"),
    ("bybit", "klines", "/v5/market/kline", "interval", "5"),
    ("okx", "klines", "/api/v5/market/history-candles", "bar", "5m"),
    ("okx", "open_interest", "/api/v5/rubik/stat/contracts/open-interest-history", "period", "5m"),
])
def test_a_five_minute_symbol_asks_each_venue_for_five_minute_bars_in_its_own_spelling(serve, venue, table, path, param, asked):
    live, fake = serve()
    loaded = live.load_day(table, BTC.listing(venue), "BTC", DAY, "5m")
    assert {args[param] for p, args in fake.requests if p == path} == {asked}
    # the local server only has hourly bars: what came back is refused, not stored as 5m
    assert ("ts", "holds bars 1h apart, but 5m was asked for") in {(f, r) for _, f, r in loaded.problems}


def test_an_interval_a_venue_does_not_serve_is_skipped_saying_what_it_serves(serve):
    live, fake = serve()
    skipped = live.load_day("open_interest", BTC.listing("bybit"), "BTC", DAY, "1m")
    assert skipped.reason.startswith("bybit serves open_interest at 5m, 15m, 1h only, not 1m (BTC)")
    assert fake.count("/v5/market/open-interest") == 0


def test_a_configured_secret_in_a_file_row_is_redacted_when_the_reject_is_stored(tmp_path, monkeypatch):
    import duckdb

    from pipelines.lib.normalize import normalize
    from pipelines.lib.warehouse import Partition, connect, replace_rejects

    monkeypatch.setenv("EXCHANGE_API_KEY", "sk-live-4f9a8e7d")
    frame = pd.DataFrame({"ts": ["2026-03-04T00:00:00Z"], "rate": ["sk-live-4f9a8e7d"]})
    rejects = normalize("funding", frame, venue="okx", symbol="BTC", source="files:x.csv").rejects
    with connect(tmp_path / "w.duckdb") as con:
        replace_rejects(con, Partition("funding", "okx", "BTC", dt.date(2026, 3, 4)), rejects, "files:x.csv")
        stored = con.execute("select payload, reason from ops.rejects").fetchall()
    assert len(stored) == 1 and "<redacted>" in stored[0][0] and "<redacted>" in stored[0][1]
    assert "sk-live-4f9a8e7d" not in stored[0][0] + stored[0][1]
