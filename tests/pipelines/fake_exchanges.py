"""A local HTTP server that speaks Binance, Bybit, OKX and Hyperliquid in their documented formats.

It serves recorded real market data (the bundled group-m files for SOURCE_DAY, moved to any
target day) the way each venue pages it: oldest first with a start time (Binance, Hyperliquid),
newest first with an end/after cursor (Bybit, OKX), cursor tokens (Bybit OI), numbers as strings.
Pages are capped at PAGE_CAP rows whatever `limit` asks, so one day always needs several pages.
A fault script per path injects 429/418/5xx/timeouts/truncated bodies/renamed fields/retCode 10006.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field

import pandas as pd
from werkzeug import Request, Response

from tests.conftest import BUNDLED_DATA

SOURCE_DAY = dt.date(2026, 3, 4)  # bundled day with real OKX liquidations
PAGE_CAP = 7
FUNDING_PAGE_CAP = 2  # funding is 3 rows a day (24 on Hyperliquid): page it too
OKX_CT_VAL = 0.01


def ms(ts: pd.Series) -> pd.Series:
    return (ts.dt.tz_localize(None) if ts.dt.tz is not None else ts).astype("datetime64[ms]").astype("int64")


def s(x) -> str:
    return repr(float(x))


def _bundled(table: str, venue: str, day: dt.date) -> pd.DataFrame:
    frame = pd.read_parquet(BUNDLED_DATA / table / venue / "BTC.parquet")
    frame["ts"] = ms(frame["ts"])
    shift = int((pd.Timestamp(day) - pd.Timestamp(SOURCE_DAY)).total_seconds() * 1000)
    start = int(pd.Timestamp(SOURCE_DAY).timestamp() * 1000)
    frame = frame[(frame["ts"] >= start) & (frame["ts"] < start + 86_400_000)].copy()
    frame["ts"] += shift
    return frame.reset_index(drop=True)


@dataclass
class Market:
    """Real rows of one day for BTC, in the raw tables' conventions (what ingest must store)."""

    day: dt.date
    klines: dict[str, pd.DataFrame] = field(default_factory=dict)
    open_interest: dict[str, pd.DataFrame] = field(default_factory=dict)
    funding: dict[str, pd.DataFrame] = field(default_factory=dict)
    liquidations: pd.DataFrame | None = None

    @classmethod
    def of(cls, day: dt.date) -> Market:
        market = cls(day)
        for venue in ("binance", "bybit", "okx"):
            k = _bundled("klines", venue, day)
            k["quote_volume"] = k["volume"] * k["close"]
            k["taker_buy_volume"] = k["volume"] * 0.5 if venue == "binance" else float("nan")
            market.klines[venue] = k
        # Hyperliquid candles: Binance's, re-served in Hyperliquid's format (no quote volume there).
        market.klines["hyperliquid"] = market.klines["binance"].assign(quote_volume=float("nan"), taker_buy_volume=float("nan"))
        hl_oi = _bundled("open_interest", "hyperliquid", day)
        for venue, scale in (("binance", 4.0), ("bybit", 2.5), ("okx", 1.5)):
            oi = hl_oi[["ts"]].copy()
            opens = market.klines[venue].set_index("ts")["open"]
            oi["oi_usd"] = hl_oi["oi_usd"] * scale
            oi["oi_base"] = oi["oi_usd"] / oi["ts"].map(opens)
            if venue == "bybit":  # Bybit reports base only; USD = base x the hour's open
                oi["oi_usd"] = oi["oi_base"] * oi["ts"].map(opens)
            market.open_interest[venue] = oi.dropna().reset_index(drop=True)
        for venue in ("binance", "bybit", "okx", "hyperliquid"):
            market.funding[venue] = _bundled("funding", venue, day)
        market.liquidations = _bundled("liquidations", "okx", day)
        return market


class FaultScript:
    """Per path, the faults to serve (in order) before normal answers resume."""

    def __init__(self):
        self.pending: dict[str, list[str]] = {}
        self.served: list[tuple[str, str]] = []

    def add(self, path: str, *faults: str) -> None:
        self.pending.setdefault(path, []).extend(faults)

    def next(self, path: str) -> str | None:
        queue = self.pending.get(path) or []
        if queue:
            fault = queue.pop(0)
            self.served.append((path, fault))
            return fault
        return None


class FakeExchanges:
    def __init__(self, server, market: Market, timeout_sleep: float = 1.0):
        self.server, self.market, self.faults = server, market, FaultScript()
        self.timeout_sleep = timeout_sleep
        self.requests: list[tuple[str, dict]] = []
        self.binance_kline_ms = 3_600_000  # what each kline's closeTime says it lasts (a weekly kline: 7 days)
        self.bybit_category = "linear"  # what Bybit echoes back
        routes = {
            "/fapi/v1/klines": self.binance_klines,
            "/futures/data/openInterestHist": self.binance_oi,
            "/fapi/v1/fundingRate": self.binance_funding,
            "/v5/market/kline": self.bybit_klines,
            "/v5/market/open-interest": self.bybit_oi,
            "/v5/market/funding/history": self.bybit_funding,
            "/api/v5/market/history-candles": self.okx_klines,
            "/api/v5/rubik/stat/contracts/open-interest-history": self.okx_oi,
            "/api/v5/public/funding-rate-history": self.okx_funding,
            "/api/v5/public/liquidation-orders": self.okx_liquidations,
            "/info": self.hyperliquid,
        }
        for path, handler in routes.items():
            method = "POST" if path == "/info" else "GET"
            server.expect_request(path, method=method).respond_with_handler(self._wrap(path, handler))

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def env(self) -> dict[str, str]:
        return {f"LIQLEVELS_{v.upper()}_REST_URL": self.url for v in ("binance", "bybit", "okx", "hyperliquid")}

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    # -- plumbing -------------------------------------------------------------------------------
    def _wrap(self, path, handler):
        def respond(request: Request) -> Response:
            args = request.get_json() if request.method == "POST" else dict(request.args)
            self.requests.append((path, args))
            fault = self.faults.next(path)
            if fault == "429":
                return Response('{"code":-1003,"msg":"Too many requests"}', status=429, headers={"Retry-After": "1"})
            if fault == "418":
                return Response('{"code":-1003,"msg":"Way too many requests; IP banned"}', status=418, headers={"Retry-After": "120"})
            if fault == "500":
                return Response("upstream error", status=502)
            if fault == "timeout":
                time.sleep(self.timeout_sleep)
            body = handler(args)
            text = json.dumps(body)
            if fault == "truncated":
                text = text[: len(text) // 2]
            if fault == "renamed":
                text = text.replace('"fundingRate"', '"funding_rate"').replace('"sumOpenInterestValue"', '"sumOpenInterestVal"')
            if fault == "retcode10006":
                text = json.dumps({"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": 1})
            return Response(text, status=200, content_type="application/json", headers={"X-MBX-USED-WEIGHT-1M": "12"})
        return respond

    @staticmethod
    def _window(frame: pd.DataFrame, lo, hi) -> pd.DataFrame:
        lo = int(lo) if lo not in (None, "") else -1
        hi = int(hi) if hi not in (None, "") else 1 << 62
        return frame[(frame["ts"] >= lo) & (frame["ts"] <= hi)]

    @staticmethod
    def _oldest_first(frame: pd.DataFrame, cap: int = PAGE_CAP) -> pd.DataFrame:
        return frame.sort_values("ts").head(cap)

    @staticmethod
    def _newest_first(frame: pd.DataFrame, cap: int = PAGE_CAP) -> pd.DataFrame:
        return frame.sort_values("ts", ascending=False).head(cap)

    # -- Binance USDⓈ-M: oldest first, [openTime, "o", ...] arrays, decimals as strings ----------------
    def binance_klines(self, a):
        page = self._oldest_first(self._window(self.market.klines["binance"], a.get("startTime"), a.get("endTime")))
        return [[int(r.ts), s(r.open), s(r.high), s(r.low), s(r.close), s(r.volume), int(r.ts) + self.binance_kline_ms - 1,
                 s(r.quote_volume), 1000, s(r.taker_buy_volume), s(r.taker_buy_volume * r.close), "0"] for r in page.itertuples()]

    def binance_oi(self, a):
        page = self._oldest_first(self._window(self.market.open_interest["binance"], a.get("startTime"), a.get("endTime")))
        return [{"symbol": "BTCUSDT", "sumOpenInterest": s(r.oi_base), "sumOpenInterestValue": s(r.oi_usd),
                 "CMCCirculatingSupply": "19800000.0", "timestamp": int(r.ts)} for r in page.itertuples()]

    def binance_funding(self, a):
        page = self._oldest_first(self._window(self.market.funding["binance"], a.get("startTime"), a.get("endTime")), FUNDING_PAGE_CAP)
        return [{"symbol": "BTCUSDT", "fundingRate": s(r.rate), "fundingTime": int(r.ts), "markPrice": ""} for r in page.itertuples()]

    # -- Bybit v5: newest first, everything a string, retCode envelope -------------------------------
    @staticmethod
    def _bybit(result: dict) -> dict:
        return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1772668800000}

    def bybit_klines(self, a):
        page = self._newest_first(self._window(self.market.klines["bybit"], a.get("start"), a.get("end")))
        rows = [[str(int(r.ts)), s(r.open), s(r.high), s(r.low), s(r.close), s(r.volume), s(r.quote_volume)] for r in page.itertuples()]
        return self._bybit({"category": self.bybit_category, "symbol": a["symbol"], "list": rows})

    def bybit_oi(self, a):
        frame = self._window(self.market.open_interest["bybit"], a.get("startTime"), a.get("endTime")).sort_values("ts", ascending=False)
        offset = int(a.get("cursor") or 0)
        page = frame.iloc[offset: offset + PAGE_CAP]
        items = []
        for i, r in enumerate(page.itertuples()):
            item = {"openInterest": s(r.oi_base * 2), "timestamp": str(int(r.ts))}
            if (offset + i) % 2 == 0:  # newer captures carry the one-sided figure, older ones do not
                item["singleOpenInterest"] = s(r.oi_base)
            items.append(item)
        cursor = str(offset + PAGE_CAP) if offset + PAGE_CAP < len(frame) else ""
        return self._bybit({"category": "linear", "symbol": a["symbol"], "list": items, "nextPageCursor": cursor})

    def bybit_funding(self, a):
        page = self._newest_first(self._window(self.market.funding["bybit"], a.get("startTime"), a.get("endTime")), FUNDING_PAGE_CAP)
        return self._bybit({"category": "linear", "list": [
            {"symbol": a["symbol"], "fundingRate": s(r.rate), "fundingRateTimestamp": str(int(r.ts))} for r in page.itertuples()]})

    # -- OKX v5: newest first, `after` = older than (exclusive), all strings, code "0" ----------------
    @staticmethod
    def _okx(data: list) -> dict:
        return {"code": "0", "msg": "", "data": data}

    def _older_than(self, frame, a, cap: int = PAGE_CAP):
        after = int(a["after"]) - 1 if a.get("after") else None
        return self._newest_first(self._window(frame, None, after), cap)

    def okx_klines(self, a):
        page = self._older_than(self.market.klines["okx"], a)
        return self._okx([[str(int(r.ts)), s(r.open), s(r.high), s(r.low), s(r.close), s(r.volume / OKX_CT_VAL), s(r.volume),
                           s(r.quote_volume), "1"] for r in page.itertuples()])

    def okx_oi(self, a):
        page = self._newest_first(self._window(self.market.open_interest["okx"], a.get("begin"), a.get("end")))
        return self._okx([[str(int(r.ts)), s(r.oi_base / OKX_CT_VAL), s(r.oi_base), s(r.oi_usd)] for r in page.itertuples()])

    def okx_funding(self, a):
        page = self._older_than(self.market.funding["okx"], a, FUNDING_PAGE_CAP)
        return self._okx([{"instType": "SWAP", "instId": a["instId"], "formulaType": "withRate", "fundingRate": s(r.rate),
                           "realizedRate": s(r.rate), "fundingTime": str(int(r.ts)), "method": "current_period"} for r in page.itertuples()])

    def okx_liquidations(self, a):
        assert a["uly"] == "BTC-USDT" and a["instType"] == "SWAP" and a["state"] == "filled"
        page = self._older_than(self.market.liquidations, a)
        details = [okx_detail(r) for r in page.itertuples()]
        return self._okx([{"instId": "BTC-USDT-SWAP", "instType": "SWAP", "instFamily": "BTC-USDT", "uly": "BTC-USDT",
                           "totalLoss": "0", "details": details},
                          {"instId": "BTC-USDT-250328", "instType": "SWAP", "details": [okx_detail(r) for r in page.head(1).itertuples()]}])

    # -- Hyperliquid: POST /info, oldest first, decimals as strings, times as ints ---------------------
    def hyperliquid(self, body):
        if body["type"] == "candleSnapshot":
            req = body["req"]
            page = self._oldest_first(self._window(self.market.klines["hyperliquid"], req["startTime"], req["endTime"]))
            return [{"t": int(r.ts), "T": int(r.ts) + 3_599_999, "s": req["coin"], "i": req["interval"], "o": s(r.open),
                     "c": s(r.close), "h": s(r.high), "l": s(r.low), "v": s(r.volume), "n": 1234} for r in page.itertuples()]
        if body["type"] == "fundingHistory":
            frame = self.market.funding["hyperliquid"].assign(ts=lambda f: f["ts"] + 48)  # stamped a few ms late
            page = self._oldest_first(self._window(frame, body["startTime"], body.get("endTime")))
            return [{"coin": body["coin"], "fundingRate": s(r.rate), "premium": "0.0001", "time": int(r.ts)} for r in page.itertuples()]
        if body["type"] == "metaAndAssetCtxs":
            return hyperliquid_snapshot({"BTC": (12345.5, 70000.0), "ETH": (1.0, 2000.0)})
        raise AssertionError(body)


def okx_detail(r) -> dict:
    return {"side": "sell" if r.side == "long" else "buy", "posSide": r.side, "bkPx": s(r.price),
            "sz": s(r.qty_base / OKX_CT_VAL), "bkLoss": "0", "ccy": "", "ts": str(int(r.ts))}


def hyperliquid_snapshot(coins: dict[str, tuple[float, float]]) -> list:
    """A `metaAndAssetCtxs` answer: [meta, ctxs], ctxs positional to meta.universe (SOL first, unlisted)."""
    universe = [{"name": "SOL", "szDecimals": 2, "maxLeverage": 20, "marginTableId": 20}] + [
        {"name": c, "szDecimals": 5, "maxLeverage": 40, "marginTableId": 56} for c in coins]
    ctx = lambda oi, px: {"funding": "0.0000125", "openInterest": s(oi), "prevDayPx": s(px), "dayNtlVlm": "1.0",  # noqa: E731
                          "premium": None, "oraclePx": s(px), "markPx": s(px), "midPx": None, "impactPxs": None, "dayBaseVlm": "1.0"}
    return [{"universe": universe, "marginTables": []}, [ctx(1.0, 150.0)] + [ctx(*v) for v in coins.values()]]


COINGLASS_KEY = "cg-test-key-7f3a"


def serve_coinglass(server, market: Market) -> list[dict]:
    """Coinglass v4 aggregated OI OHLC and liquidation history (numbers, as live); 401 without the key."""
    seen: list[dict] = []
    oi = market.open_interest["binance"]
    history = oi.assign(long_usd=oi["oi_usd"] * 1e-4, short_usd=oi["oi_usd"] * 2e-4)

    def responder(rows: pd.DataFrame, row):
        def respond(request: Request) -> Response:
            seen.append(dict(request.headers))
            if request.headers.get("CG-API-KEY") != COINGLASS_KEY:
                return Response('{"code":"401","msg":"API key missing"}', status=401)
            a = request.args
            frame = rows[(rows["ts"] >= int(a["start_time"])) & (rows["ts"] <= int(a["end_time"]))]
            page = frame.sort_values("ts").head(PAGE_CAP)
            return Response(json.dumps({"code": "0", "msg": "success", "data": [row(r) for r in page.itertuples()]}),
                            content_type="application/json")
        return respond

    server.expect_request("/api/futures/open-interest/aggregated-history").respond_with_handler(responder(oi, lambda x: {
        "time": int(x.ts), "open": x.oi_usd, "high": x.oi_usd * 1.01, "low": x.oi_usd * 0.99, "close": x.oi_usd * 1.001}))
    server.expect_request("/api/futures/liquidation/aggregated-history").respond_with_handler(responder(history, lambda x: {
        "time": int(x.ts), "aggregated_long_liquidation_usd": x.long_usd, "aggregated_short_liquidation_usd": x.short_usd}))
    return seen
