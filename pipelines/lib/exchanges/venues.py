"""REST clients for Binance USDⓈ-M, Bybit v5, OKX v5 and Hyperliquid: one class per venue.

Each method fetches one (symbol, UTC day) for one raw table and maps the venue's payload to the
raw tables' conventions in one place: epoch-ms `ts`, base units and USD, the liquidated position
as `side`, oldest first. Pagination, newest-first pages (Bybit, OKX), numbers sent as strings and
each venue's liquidation side convention are handled here and nowhere else. Endpoint facts:
`../shared/reference/exchange_apis.md` (copied into the README's sources section).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pipelines.lib.exchanges.http import ExchangeError, PayloadShapeError, RateLimitStop, VenueHttp
from pipelines.lib.exchanges.payload import Fetched, RowReject, extract, has, number, pick, product
from pipelines.lib.normalize import INTERVAL_SECONDS
from pipelines.lib.watchlist import Listing

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

class UnsupportedInterval(ValueError):
    """The venue's endpoint does not serve this bar interval."""


# Each venue's own name of a bar interval, per endpoint kind; a missing entry is not served there.
VENUE_INTERVALS: dict[tuple[str, str], dict[str, str]] = {
    ("binance", "klines"): {"1m": "1m", "5m": "5m", "15m": "15m", "1h": "1h"},
    ("binance", "open_interest"): {"5m": "5m", "15m": "15m", "1h": "1h"},
    ("bybit", "klines"): {"1m": "1", "5m": "5", "15m": "15", "1h": "60"},
    ("bybit", "open_interest"): {"5m": "5min", "15m": "15min", "1h": "1h"},
    ("okx", "klines"): {"1m": "1m", "5m": "5m", "15m": "15m", "1h": "1H"},
    ("okx", "open_interest"): {"5m": "5m", "1h": "1H"},
    ("hyperliquid", "klines"): {"1m": "1m", "5m": "5m", "15m": "15m", "1h": "1h"},
    ("coinglass", "open_interest"): {"1m": "1m", "5m": "5m", "15m": "15m", "1h": "1h"},
    ("coinglass", "liquidation_history"): {"1m": "1m", "5m": "5m", "15m": "15m", "1h": "1h"},
}


def venue_interval(venue: str, table: str, interval: str) -> str:
    """`interval` in the venue's own spelling for `table`'s endpoint, or UnsupportedInterval naming what it serves."""
    served = VENUE_INTERVALS[(venue, table)]
    if interval not in served:
        raise UnsupportedInterval(f"{venue} serves {table} at {', '.join(served)} only, not {interval}")
    return served[interval]


def interval_ms(interval: str) -> int:
    return INTERVAL_SECONDS[interval] * 1000


@dataclass(frozen=True)
class Window:
    """A half-open UTC window [start_ms, end_ms) in epoch milliseconds."""

    start_ms: int
    end_ms: int

    def holds(self, ts_ms: int) -> bool:
        return self.start_ms <= ts_ms < self.end_ms


def _ms(value) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _inside(fetched: Fetched, window: Window) -> Fetched:
    """Keep the records of the window (pages overlap days); unparseable times stay for normalize."""
    fetched.records = [r for r in fetched.records if _ms(r["ts"]) is None or window.holds(_ms(r["ts"]))]
    return fetched


def _liquidated_position_from_order_side(side) -> str:
    """Binance `S` / OKX `side`: the liquidation ORDER's side; selling closes a long."""
    return {"SELL": "long", "BUY": "short", "sell": "long", "buy": "short"}.get(side, side)


MAX_PAGES = 1000


class RunawayPagination(RuntimeError):
    """A venue kept answering with new pages far past any real day (a cursor that never ends)."""


def _times(items, key) -> list[int]:
    return [t for t in (_ms(pick(i, key)) for i in items if has(i, key)) if t is not None] if isinstance(items, list) else []


def page_forwards(fetch: Callable[[int], list], time_key, window: Window, step_ms: int = 1) -> Iterator[list]:
    """Oldest-first pages: ask from `start`, then from just after the newest row, to the window end.

    Never relies on a page being full (servers cap pages below the requested limit); stops on an
    empty page, when the next slot (`step_ms` after the newest row) is past the window, or when a
    page does not move forward.
    """
    start = window.start_ms
    for _ in range(MAX_PAGES):
        items = fetch(start)
        yield items
        times = _times(items, time_key)
        if not times or max(times) + step_ms >= window.end_ms or max(times) + 1 <= start:
            return
        start = max(times) + 1
    raise RunawayPagination(f"did not finish after {MAX_PAGES} pages")


def page_backwards(fetch: Callable[[int], list], time_key, window: Window, first_cursor: int,
                   next_cursor: Callable[[int], int]) -> Iterator[list]:
    """Newest-first pages: move the cursor to the oldest row seen until the window start is reached."""
    cursor = first_cursor
    for _ in range(MAX_PAGES):
        items = fetch(cursor)
        yield items
        times = _times(items, time_key)
        if not times or min(times) <= window.start_ms or next_cursor(min(times)) >= cursor:
            return
        cursor = next_cursor(min(times))
    raise RunawayPagination(f"did not finish after {MAX_PAGES} pages")


def collect(table: str, endpoint: str, pages: Iterator[list], mapping: dict, window: Window,
            constants: dict | None = None) -> Fetched:
    out = Fetched(table, endpoint)
    for items in pages:
        out.extend(extract(table, endpoint, items, mapping, constants))
    return _inside(out, window)


class VenueClient:
    venue: str = ""

    def __init__(self, http: VenueHttp, clock: Callable[[], float] = time.time):
        self.http = http
        self.clock = clock


class BinanceClient(VenueClient):
    """Binance USDⓈ-M futures (`/fapi`, `/futures/data`). Oldest first; decimals as strings."""

    venue = "binance"
    OI_HISTORY_DAYS = 30  # openInterestHist serves the last ~30 days only; older days: the archive backfill

    def klines(self, listing: Listing, window: Window, interval: str) -> Fetched:
        endpoint = "/fapi/v1/klines"
        now_ms = int(self.clock() * 1000)
        asked, bar_ms = venue_interval(self.venue, "klines", interval), interval_ms(interval)

        def fetch(start: int) -> list:
            page = self.http.get(endpoint, {"symbol": listing.instrument, "interval": asked, "startTime": start,
                                            "endTime": window.end_ms - 1, "limit": 1500}, weight=10)
            # An unclosed candle (closeTime in the future) would be stored as if it were final. (A bar that lasts
            # longer than asked, a weekly kline, is kept for the closeTime check below, which refuses it.)
            def unclosed(row) -> bool:
                return (has(row, 6) and has(row, 0) and (_ms(row[6]) or 0) >= now_ms
                        and (_ms(row[6]) or 0) - (_ms(row[0]) or 0) + 1 == bar_ms)
            return [row for row in page if not unclosed(row)] if isinstance(page, list) else page

        out = collect("klines", endpoint, page_forwards(fetch, 0, window, bar_ms),
                      {"ts": 0, "open": 1, "high": 2, "low": 3, "close": 4, "volume": 5, "close_time": 6, "quote_volume": 7,
                       "taker_buy_volume": 9}, window, {"interval": interval})
        # Each kline says when it closes: a bar that does not last the asked interval (a weekly kline) is not stored.
        for record in out.records:
            opened, closed = _ms(record["ts"]), _ms(record["close_time"])
            if opened is not None and closed is not None and closed - opened + 1 != bar_ms:
                out.problems.append(("[6] closeTime", f"bar lasts {(closed - opened + 1) / HOUR_MS:g} h, {interval} was asked for",
                                     record))
        out.records = [{k: v for k, v in r.items() if k != "close_time"} for r in out.records]
        return out

    def oi_window_covers(self, window: Window) -> bool:
        return window.start_ms >= (self.clock() * 1000) - self.OI_HISTORY_DAYS * DAY_MS

    def open_interest(self, listing: Listing, window: Window, interval: str) -> Fetched:
        endpoint = "/futures/data/openInterestHist"
        asked = venue_interval(self.venue, "open_interest", interval)

        def fetch(start: int) -> list:
            return self.http.get(endpoint, {"symbol": listing.instrument, "period": asked, "startTime": start,
                                            "endTime": window.end_ms - 1, "limit": 500})

        return collect("open_interest", endpoint, page_forwards(fetch, "timestamp", window, interval_ms(interval)),
                       {"ts": "timestamp", "oi_base": "sumOpenInterest", "oi_usd": "sumOpenInterestValue"}, window,
                       {"interval": interval})

    def funding(self, listing: Listing, window: Window) -> Fetched:
        endpoint = "/fapi/v1/fundingRate"

        def fetch(start: int) -> list:
            return self.http.get(endpoint, {"symbol": listing.instrument, "startTime": start,
                                            "endTime": window.end_ms - 1, "limit": 1000})

        return collect("funding", endpoint, page_forwards(fetch, "fundingTime", window),
                       {"ts": "fundingTime", "rate": "fundingRate"}, window)


class BinanceWeightGuard:
    """Pause until the next minute when `X-MBX-USED-WEIGHT-1M` nears the IP's per-minute weight."""

    def __init__(self, limit: int = 2400, threshold: float = 0.9, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time):
        self.limit, self.threshold, self._sleep, self._clock = limit, threshold, sleep, clock
        self.last_used: int | None = None
        self.pauses: list[float] = []

    def __call__(self, response) -> None:
        used = _ms(response.headers.get("X-MBX-USED-WEIGHT-1M"))
        if used is None:
            return
        self.last_used = used
        if used >= self.threshold * self.limit:
            pause = 60.0 - (self._clock() % 60.0) + 0.5
            self.pauses.append(pause)
            self._sleep(pause)


class BybitClient(VenueClient):
    """Bybit v5, category linear. Pages newest first; every value in `result.list` is a string."""

    venue = "bybit"

    @staticmethod
    def check(payload, endpoint: str) -> None:
        """Bybit reports errors inside HTTP 200: `retCode` must be 0."""
        code = payload.get("retCode") if isinstance(payload, dict) else None
        if code == 0:
            return
        if code is None:
            raise PayloadShapeError("bybit", endpoint, "retCode", "missing from the response envelope")
        message = payload.get("retMsg", "")
        if code == 10006:
            raise RateLimitStop("bybit", endpoint, f"retCode 10006 rate limit ({message}): stopping, not retrying")
        raise ExchangeError("bybit", endpoint, f"retCode {code}: {message}")

    def _result(self, endpoint: str, params: dict) -> dict:
        result = self.http.get(endpoint, params).get("result")
        if not isinstance(result, dict) or not isinstance(result.get("list"), list):
            raise PayloadShapeError(self.venue, endpoint, "result.list", "missing or not a list")
        # Bybit echoes what it answered for: an `inverse` answer has base and quote volume swapped, another
        # symbol's rows are not ours. Refuse the answer rather than store it under what we asked for.
        for name in ("category", "symbol"):
            echoed = result.get(name)
            if echoed not in (None, "") and name in params and echoed != params[name]:
                raise PayloadShapeError(self.venue, endpoint, f"result.{name}",
                                        f"is {echoed!r}, but {params[name]!r} was asked for")
        for item in result["list"]:
            if isinstance(item, dict) and item.get("symbol") not in (None, "") and item["symbol"] != params.get("symbol"):
                raise PayloadShapeError(self.venue, endpoint, "result.list[].symbol",
                                        f"is {item['symbol']!r}, but {params.get('symbol')!r} was asked for")
        return result

    def _newest_first(self, endpoint: str, params: dict, end_param: str, window: Window, time_key) -> Iterator[list]:
        # `end`/`endTime` are inclusive: the next page ends just before the oldest row seen.
        fetch = lambda end: self._result(endpoint, params | {end_param: end})["list"]  # noqa: E731
        return page_backwards(fetch, time_key, window, window.end_ms - 1, lambda oldest: oldest - 1)

    def klines(self, listing: Listing, window: Window, interval: str) -> Fetched:
        endpoint = "/v5/market/kline"
        params = {"category": "linear", "symbol": listing.instrument, "interval": venue_interval(self.venue, "klines", interval),
                  "start": window.start_ms, "limit": 1000}
        # Linear contracts: `volume` is in base units, `turnover` in USDT.
        return collect("klines", endpoint, self._newest_first(endpoint, params, "end", window, 0),
                       {"ts": 0, "open": 1, "high": 2, "low": 3, "close": 4, "volume": 5, "quote_volume": 6},
                       window, {"interval": interval})

    def funding(self, listing: Listing, window: Window) -> Fetched:
        endpoint = "/v5/market/funding/history"
        # startTime alone is an error on this endpoint: send both bounds, then move endTime back.
        params = {"category": "linear", "symbol": listing.instrument, "startTime": window.start_ms, "limit": 200}
        return collect("funding", endpoint, self._newest_first(endpoint, params, "endTime", window, "fundingRateTimestamp"),
                       {"ts": "fundingRateTimestamp", "rate": "fundingRate"}, window)

    def open_interest(self, listing: Listing, window: Window, interval: str) -> Fetched:
        """OI in base units, valued in USD at the open of the bar's candle (Bybit reports no USD).

        Bybit's `openInterest` counts both sides (exchange_apis.md §2); `singleOpenInterest`, one side,
        is the convention of the other venues. Rows from before 2026-06-11 lack it: half the two-sided figure.
        """
        endpoint = "/v5/market/open-interest"
        asked = venue_interval(self.venue, "open_interest", interval)
        hourly_open = {_ms(r["ts"]): r["open"] for r in self.klines(listing, window, interval).records}

        def one_side(item):
            single = item.get("singleOpenInterest") if isinstance(item, dict) else None
            if single not in (None, ""):
                return single
            both = number(pick(item, "openInterest"))
            return both / 2.0 if isinstance(both, float) else both

        def usd(item):
            ts = _ms(pick(item, "timestamp"))
            price = hourly_open.get(ts)
            if price is None and ts is not None and hourly_open:
                # No candle at that hour: the nearest one within an hour values it (its open), else a reject saying so.
                nearest = min(hourly_open, key=lambda t: abs(t - ts))
                price = hourly_open[nearest] if abs(nearest - ts) <= HOUR_MS else None
            if price is None:
                raise RowReject("oi_usd", "no bybit kline within an hour of this OI timestamp to value it in USD "
                                          "(Bybit reports OI in coins only)")
            return product(one_side(item), price)

        def pages() -> Iterator[list]:
            cursor = ""
            for _ in range(MAX_PAGES):
                params = {"category": "linear", "symbol": listing.instrument, "intervalTime": asked,
                          "startTime": window.start_ms, "endTime": window.end_ms - 1, "limit": 200}
                result = self._result(endpoint, params | ({"cursor": cursor} if cursor else {}))
                yield result["list"]
                cursor = result.get("nextPageCursor") or ""
                if not cursor or not result["list"]:
                    return
            raise RunawayPagination(f"nextPageCursor still set after {MAX_PAGES} pages")

        return collect("open_interest", endpoint, pages(), {"ts": "timestamp", "oi_base": one_side, "oi_usd": usd},
                       window, {"interval": interval})


class CodeEnvelopeClient(VenueClient):
    """Venues that answer `{"code": "0", "msg": "", "data": [...]}` (OKX, Coinglass), errors inside HTTP 200."""

    STOP_CODES: dict[str, str] = {}  # body codes that mean "stop calling us"

    @classmethod
    def check(cls, payload, endpoint: str) -> None:
        code = payload.get("code") if isinstance(payload, dict) else None
        if code in ("0", 0):
            return
        if code is None:
            raise PayloadShapeError(cls.venue, endpoint, "code", "missing from the response envelope")
        message = payload.get("msg", "")
        if str(code) in cls.STOP_CODES:
            raise RateLimitStop(cls.venue, endpoint, f"code {code} ({message}): {cls.STOP_CODES[str(code)]}")
        raise ExchangeError(cls.venue, endpoint, f"code {code}: {message}")

    def _data(self, endpoint: str, params: dict) -> list:
        data = self.http.get(endpoint, params).get("data")
        if not isinstance(data, list):
            raise PayloadShapeError(self.venue, endpoint, "data", "missing or not a list")
        return data


class OkxClient(CodeEnvelopeClient):
    """OKX v5. Pages newest first; all values strings; the envelope `code` is the string "0"."""

    venue = "okx"

    def _older_than(self, endpoint: str, params: dict, window: Window, time_key) -> Iterator[list]:
        # `after` = records older than this ts (exclusive).
        fetch = lambda after: self._data(endpoint, params | {"after": after})  # noqa: E731
        return page_backwards(fetch, time_key, window, window.end_ms, lambda oldest: oldest)

    def klines(self, listing: Listing, window: Window, interval: str) -> Fetched:
        endpoint = "/api/v5/market/history-candles"
        bar = venue_interval(self.venue, "klines", interval)
        pages = self._older_than(endpoint, {"instId": listing.instrument, "bar": bar, "limit": 100}, window, 0)
        # [ts, o, h, l, c, vol (contracts), volCcy (base), volCcyQuote, confirm]
        out = collect("klines", endpoint, pages, {"ts": 0, "open": 1, "high": 2, "low": 3, "close": 4, "volume": 6,
                                                  "quote_volume": 7, "confirm": 8}, window, {"interval": interval})
        # confirm "0": the candle is still open, its values are not final.
        out.records = [{k: v for k, v in r.items() if k != "confirm"} for r in out.records if str(r["confirm"]) != "0"]
        return out

    def open_interest(self, listing: Listing, window: Window, interval: str) -> Fetched:
        endpoint = "/api/v5/rubik/stat/contracts/open-interest-history"
        params = {"instId": listing.instrument, "period": venue_interval(self.venue, "open_interest", interval),
                  "begin": window.start_ms, "limit": 100}
        fetch = lambda end: self._data(endpoint, params | {"end": end})  # noqa: E731
        pages = page_backwards(fetch, 0, window, window.end_ms - 1, lambda oldest: oldest - 1)
        # Rows [ts, oi (contracts), oiCcy (base), oiUsd].
        return collect("open_interest", endpoint, pages, {"ts": 0, "oi_base": 2, "oi_usd": 3}, window,
                       {"interval": interval})

    def funding(self, listing: Listing, window: Window) -> Fetched:
        endpoint = "/api/v5/public/funding-rate-history"
        pages = self._older_than(endpoint, {"instId": listing.instrument, "limit": 400}, window, "fundingTime")
        return collect("funding", endpoint, pages, {"ts": "fundingTime", "rate": "fundingRate"}, window)

    def liquidations(self, listing: Listing, window: Window) -> Fetched:
        """Filled liquidation orders (a recent window only): contracts × ctVal = base, × bkPx = USD."""
        endpoint = "/api/v5/public/liquidation-orders"
        params = {"instType": "SWAP", "uly": listing.instrument.removesuffix("-SWAP"), "state": "filled", "limit": 100}
        out = Fetched("liquidations", endpoint)

        def fetch(after: int) -> list:
            details = []
            for group in self._data(endpoint, params | {"after": after}):
                if not isinstance(group, dict) or not isinstance(group.get("details"), list):
                    out.problems.append(("details", f"missing in the {endpoint} payload", group))
                elif group.get("instId", listing.instrument) == listing.instrument:
                    details.extend(group["details"])
            return details

        for details in page_backwards(fetch, "ts", window, window.end_ms, lambda oldest: oldest):
            out.extend(parse_okx_liquidation_details(details, listing.contract_size, endpoint))
        return _inside(out, window)


def okx_liquidated_side(detail: dict):
    """`posSide` names the liquidated position; in net mode ("net") the order `side` tells it."""
    pos = detail.get("posSide")
    if pos in ("long", "short"):
        return pos
    return _liquidated_position_from_order_side(pick(detail, "side"))


def parse_okx_liquidation_details(details: list, contract_size: float, endpoint: str) -> Fetched:
    return extract("liquidations", endpoint, details, {
        "ts": "ts",
        "side": okx_liquidated_side,
        "price": "bkPx",
        "qty_base": lambda d: product(pick(d, "sz"), contract_size),
        "usd": lambda d: product(pick(d, "sz"), contract_size, pick(d, "bkPx")),
    })


def parse_binance_force_order(event: dict, endpoint: str) -> Fetched:
    """A `forceOrder` stream event: `o.S` is the order side (SELL = a long was liquidated)."""
    order = event.get("o") if isinstance(event, dict) else None
    return extract("liquidations", endpoint, [order] if isinstance(order, dict) else [event], {
        "ts": "T",
        "side": lambda o: _liquidated_position_from_order_side(pick(o, "S")),
        "price": "ap",
        "qty_base": "z",
        "usd": lambda o: product(pick(o, "z"), pick(o, "ap")),
    })


def parse_bybit_liquidations(items: list, endpoint: str) -> Fetched:
    """`allLiquidation` items: `S` is the POSITION side (Buy = a long was liquidated), opposite to Binance."""
    return extract("liquidations", endpoint, items, {
        "ts": "T",
        "side": lambda i: {"Buy": "long", "Sell": "short"}.get(pick(i, "S"), pick(i, "S")),
        "price": "p",
        "qty_base": "v",
        "usd": lambda i: product(pick(i, "v"), pick(i, "p")),
    })


class HyperliquidClient(VenueClient):
    """Hyperliquid `POST /info`. Oldest first; decimals as strings; no OI history (snapshots instead)."""

    venue = "hyperliquid"

    def _info(self, body: dict) -> list:
        return self.http.post("/info", body, weight=20)

    def klines(self, listing: Listing, window: Window, interval: str) -> Fetched:
        req = {"coin": listing.instrument, "interval": venue_interval(self.venue, "klines", interval), "endTime": window.end_ms - 1}
        fetch = lambda start: self._info({"type": "candleSnapshot", "req": req | {"startTime": start}})  # noqa: E731
        return collect("klines", "/info candleSnapshot", page_forwards(fetch, "t", window, interval_ms(interval)),
                       {"ts": "t", "open": "o", "high": "h", "low": "l", "close": "c", "volume": "v"}, window,
                       {"interval": interval})

    def funding(self, listing: Listing, window: Window) -> Fetched:
        body = {"type": "fundingHistory", "coin": listing.instrument, "endTime": window.end_ms - 1}
        fetch = lambda start: self._info(body | {"startTime": start})  # noqa: E731
        # Hourly funding stamped a few ms after the hour (1683849600048): bucket to the hour.
        return collect("funding", "/info fundingHistory", page_forwards(fetch, "time", window),
                       {"ts": lambda i: _hour(pick(i, "time")), "rate": "fundingRate"}, window)

    def asset_contexts(self) -> list:
        """The `metaAndAssetCtxs` snapshot: `[meta, ctxs]`, ctxs positional to `meta.universe`."""
        return self._info({"type": "metaAndAssetCtxs"})


def _hour(value):
    ms = _ms(value)
    return ms - ms % HOUR_MS if ms is not None else value


def parse_hyperliquid_snapshot(message, coin: str, endpoint: str, interval: str) -> Fetched:
    """One `metaAndAssetCtxs` snapshot → one OI row for `coin` (its time: when it was received).

    `openInterest` is in coins; valued at the snapshot's `markPx`.
    """
    received = message.get("received_at") if isinstance(message, dict) else None
    payload = message.get("payload") if isinstance(message, dict) else None
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], dict)
            and isinstance(payload[0].get("universe"), list) and isinstance(payload[1], list)):
        return Fetched("open_interest", endpoint, problems=[("[meta, ctxs]", "snapshot is not [meta, ctxs]", message)])
    names = [u.get("name") if isinstance(u, dict) else None for u in payload[0]["universe"]]
    if coin not in names:
        return Fetched("open_interest", endpoint)
    index = names.index(coin)
    if index >= len(payload[1]):
        return Fetched("open_interest", endpoint, problems=[("ctxs", f"no context at position {index} for {coin}", message)])
    ctx = payload[1][index]
    return extract("open_interest", endpoint, [ctx], {
        "ts": lambda _: received,
        "oi_base": "openInterest",
        "oi_usd": lambda c: product(pick(c, "openInterest"), pick(c, "markPx")),
    }, {"interval": interval})


class CoinglassClient(CodeEnvelopeClient):
    """Coinglass v4 (paid key in the `CG-API-KEY` header). Aggregated over exchanges; oldest first.

    The key only ever travels in that header: error messages carry the endpoint and body, never it.
    """

    venue = "coinglass"
    EXCHANGES = "Binance,OKX,Bybit"
    STOP_CODES = {"429": "plan rate limit, stopping"}

    def _bars(self, endpoint: str, table: str, params: dict, window: Window, mapping: dict, interval: str) -> Fetched:
        asked = venue_interval(self.venue, table, interval)
        fetch = lambda start: self._data(endpoint, params | {"interval": asked, "start_time": start,  # noqa: E731
                                                             "end_time": window.end_ms - 1, "limit": 1000})
        return collect(table, endpoint, page_forwards(fetch, "time", window, interval_ms(interval)), mapping, window,
                       {"interval": interval})

    def open_interest(self, listing: Listing, window: Window, interval: str) -> Fetched:
        """Aggregated OI OHLC in USD; the bar's `open` is the OI at its start time (our `ts` convention)."""
        return self._bars("/api/futures/open-interest/aggregated-history", "open_interest",
                          {"symbol": listing.instrument, "unit": "usd"}, window, {"ts": "time", "oi_usd": "open"}, interval)

    def liquidation_history(self, listing: Listing, window: Window, interval: str) -> Fetched:
        return self._bars("/api/futures/liquidation/aggregated-history", "liquidation_history",
                          {"symbol": listing.instrument, "exchange_list": self.EXCHANGES}, window,
                          {"ts": "time", "long_usd": "aggregated_long_liquidation_usd",
                           "short_usd": "aggregated_short_liquidation_usd"}, interval)
