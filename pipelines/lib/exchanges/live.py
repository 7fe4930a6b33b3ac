"""The live source: one UTC day of one raw table for one (venue, symbol), from REST or landing files.

Same contract as the files source (typed rows + rejects, ready for `replace_partition`), so the
ingest assets do not care where rows came from. Base URLs come from environment variables
(`LIQLEVELS_<VENUE>_REST_URL`), for proxies, testnets and tests.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipelines.lib import landing
from pipelines.lib.exchanges.http import PayloadShapeError, RateLimitStop, RequestBudget, VenueHttp
from pipelines.lib.exchanges.payload import Fetched, check_spacing, to_normalized
from pipelines.lib.exchanges.venues import (
    DAY_MS,
    HOUR_MS,
    BinanceClient,
    BinanceWeightGuard,
    BybitClient,
    CoinglassClient,
    HyperliquidClient,
    OkxClient,
    RunawayPagination,
    UnsupportedInterval,
    VenueClient,
    Window,
    interval_ms,
    parse_binance_force_order,
    parse_bybit_liquidations,
    parse_hyperliquid_snapshot,
    parse_okx_liquidation_details,
)
from pipelines.lib.normalize import Normalized
from pipelines.lib.secrets import configured_secrets
from pipelines.lib.watchlist import DEFAULT_INTERVAL, Listing

REST_URLS = {
    "binance": "https://fapi.binance.com",
    "bybit": "https://api.bybit.com",
    "okx": "https://www.okx.com",
    "hyperliquid": "https://api.hyperliquid.xyz",
    "coinglass": "https://open-api-v4.coinglass.com",
}
WS_URLS = {
    "binance": "wss://fstream.binance.com",
    "bybit": "wss://stream.bybit.com",
    "okx": "wss://ws.okx.com:8443",
    "hyperliquid": "wss://api.hyperliquid.xyz",
}
# (weight, seconds) per IP, from each venue's documented limits; we stay a little under them.
BUDGETS = {"binance": (2000, 60.0), "bybit": (500, 5.0), "okx": (10, 2.0), "hyperliquid": (1000, 60.0),
           "coinglass": (25, 60.0)}


def _url(env: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if not value.startswith(schemes):
        raise ValueError(f"{name}={value!r}: expected a URL starting with {' or '.join(schemes)}")
    return value.rstrip("/")


def rest_url(venue: str, env: Mapping[str, str] = os.environ) -> str:
    return _url(env, f"LIQLEVELS_{venue.upper()}_REST_URL", REST_URLS[venue], ("http://", "https://"))


def ws_url(venue: str, env: Mapping[str, str] = os.environ) -> str:
    return _url(env, f"LIQLEVELS_{venue.upper()}_WS_URL", WS_URLS[venue], ("ws://", "wss://"))


COINGLASS_KEY = "COINGLASS_API_KEY"

# (venue, table) pairs a venue can serve; anything else is not asked for at all.
SERVES = {
    "binance": {"klines", "open_interest", "funding", "liquidations"},
    "bybit": {"klines", "open_interest", "funding", "liquidations"},
    "okx": {"klines", "open_interest", "funding", "liquidations"},
    "hyperliquid": {"klines", "open_interest", "funding", "liquidations"},
    "coinglass": {"open_interest", "liquidation_history"},
}


@dataclass(frozen=True)
class HttpSettings:
    timeout: float = 30.0
    retries: int = 5
    backoff: float = 0.5


def make_client(venue: str, env: Mapping[str, str] = os.environ, settings: HttpSettings = HttpSettings(),
                sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> VenueClient:
    classes = {"binance": BinanceClient, "bybit": BybitClient, "okx": OkxClient, "hyperliquid": HyperliquidClient,
               "coinglass": CoinglassClient}
    limit, window = BUDGETS[venue]
    kwargs = dict(timeout=(min(5.0, settings.timeout), settings.timeout), retries=settings.retries,
                  backoff=settings.backoff, budget=RequestBudget(limit, window, sleep=sleep), secrets=configured_secrets(env))
    if venue == "binance":
        kwargs["on_response"] = BinanceWeightGuard(sleep=sleep, clock=clock)
    if venue == "bybit":
        kwargs |= {"check": BybitClient.check, "hard_stop_statuses": {403: "IP blocked (HTTP 403 'access too frequent', wait >= 10 min)"}}
    if venue == "okx":
        kwargs["check"] = OkxClient.check
    if venue == "coinglass":
        kwargs |= {"check": CoinglassClient.check, "headers": {"CG-API-KEY": env.get(COINGLASS_KEY, "")},
                   "hard_stop_statuses": {401: "API key refused (HTTP 401): check COINGLASS_API_KEY"}}
    return classes[venue](VenueHttp(venue, rest_url(venue, env), **kwargs), clock=clock)


@dataclass(frozen=True)
class Loaded:
    """One (table, venue, symbol, day) as typed rows and rejects; `problems` are shape errors."""

    batch: Normalized
    source: str
    problems: tuple[tuple[str, str, str], ...] = ()  # (endpoint, field, reason)
    note: str | None = None  # something the day lacks (an empty file), recorded as a warning


@dataclass(frozen=True)
class Skipped:
    reason: str


def day_window(day: dt.date) -> Window:
    start = int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    return Window(start, start + DAY_MS)


def dedupe_records(fetched: Fetched, key: tuple[str, ...]) -> int:
    """Drop records equal on `key` (the same event from REST and the stream); returns how many."""
    seen, kept = set(), []
    for record in fetched.records:
        marker = tuple(str(record.get(k)) for k in key)
        if marker not in seen:
            seen.add(marker)
            kept.append(record)
    dropped = len(fetched.records) - len(kept)
    fetched.records = kept
    return dropped


def stream_liquidations(venue: str, records, listing: Listing | None, window: Window) -> tuple[Fetched, Fetched]:
    """Liquidation events of `listing` (None: no instrument) from landing records, and the records
    no symbol could own.

    Returns (this instrument's events, unattributable problems: non-JSON text, unknown shapes).
    """
    endpoint = f"landing liquidations/{venue}"
    instrument = listing.instrument if listing is not None else None
    mine, orphans = Fetched("liquidations", endpoint), Fetched("liquidations", endpoint)
    for record in records:
        if "gap" in record:
            continue
        if "payload" not in record:
            orphans.problems.append(("payload", "message is not JSON", record))
            continue
        payload = record["payload"]
        if venue == "binance":
            event = payload.get("data", payload) if isinstance(payload, dict) else payload
            order = event.get("o") if isinstance(event, dict) else None
            if not isinstance(order, dict) or "s" not in order:
                orphans.problems.append(("o.s", "not a forceOrder event with a symbol", record))
            elif "ps" in order:
                # COIN-M events (dstream) carry the pair `ps` and count quantity in USD contracts, not base units.
                orphans.problems.append(("o.ps", "a COIN-M forceOrder (quantity in contracts, not base): not a USDⓈ-M event", record))
            elif order["s"] == instrument:
                mine.extend(parse_binance_force_order(event, endpoint))
        elif venue == "bybit":
            items = payload.get("data") if isinstance(payload, dict) else None
            if not isinstance(items, list):
                orphans.problems.append(("data", "not an allLiquidation message with a data list", record))
                continue
            for item in items:
                if not isinstance(item, dict) or "s" not in item:
                    orphans.problems.append(("s", "liquidation item without a symbol", record))
                elif item["s"] == instrument:
                    mine.extend(parse_bybit_liquidations([item], endpoint))
        elif venue == "okx":
            groups = payload.get("data") if isinstance(payload, dict) else None
            if not isinstance(groups, list):
                orphans.problems.append(("data", "not a liquidation-orders message with a data list", record))
                continue
            for group in groups:
                if not isinstance(group, dict) or "instId" not in group or not isinstance(group.get("details"), list):
                    orphans.problems.append(("instId/details", "liquidation group without instId or details", record))
                elif group["instId"] == instrument:
                    mine.extend(parse_okx_liquidation_details(group["details"], listing.contract_size, endpoint))
    mine.records = [r for r in mine.records if not isinstance(r["ts"], (int, float, str)) or _in(r["ts"], window)]
    return mine, orphans


def _in(ts, window: Window) -> bool:
    try:
        return window.holds(int(float(ts)))
    except (TypeError, ValueError):
        return True  # normalize turns it into a reject


def hourly_snapshots(records, coin: str, window: Window, interval: str = DEFAULT_INTERVAL) -> Fetched:
    """Hyperliquid OI snapshots → one row per bar of `interval`: the first snapshot received in it."""
    endpoint = "landing open_interest/hyperliquid (metaAndAssetCtxs)"
    out = Fetched("open_interest", endpoint)
    firsts: dict[int, dict] = {}
    bar_ms = interval_ms(interval)
    for record in records:
        parsed = parse_hyperliquid_snapshot(record, coin, endpoint, interval)
        out.problems.extend(parsed.problems)
        for row in parsed.records:
            received = int(row["ts"])
            if not window.holds(received):
                continue
            hour = received - received % bar_ms
            if hour not in firsts or received < int(firsts[hour]["ts"]):
                firsts[hour] = row
    out.records = [row | {"ts": hour} for hour, row in sorted(firsts.items())]
    return out


class LiveSource:
    """Fetches days from the venues' REST APIs and the landing folder."""

    def __init__(self, landing_root: Path, env: Mapping[str, str] = os.environ, settings: HttpSettings = HttpSettings(),
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time):
        self.landing_root = Path(landing_root)
        self.env, self.settings, self.sleep, self.clock = env, settings, sleep, clock
        self._clients: dict[str, VenueClient] = {}
        self._landed: dict[tuple, list[dict]] = {}
        self._stopped: dict[str, RateLimitStop] = {}  # venue -> the ban that stopped it, for the rest of the run
        self.merged_duplicates = 0

    def client(self, venue: str) -> VenueClient:
        """The venue's REST client; refused for the rest of the run once the venue has banned us."""
        if venue in self._stopped:
            first = self._stopped[venue]
            raise RateLimitStop(venue, first.endpoint, f"not called: stopped earlier in this run ({first})", first.retry_after, first)
        if venue not in self._clients:
            self._clients[venue] = make_client(venue, self.env, self.settings, self.sleep, self.clock)
        return self._clients[venue]

    def close(self) -> None:
        for client in self._clients.values():
            client.http.close()

    def landed(self, stream: str, venue: str, day: dt.date, margin_hours: int) -> list[dict]:
        """The landing records of a day, read once per run (every symbol of a venue shares its files)."""
        key = (stream, venue, day, margin_hours)
        if key not in self._landed:
            self._landed[key] = list(landing.read_day(self.landing_root, stream, venue, day, margin_hours))
        return self._landed[key]

    def load_day(self, table: str, listing: Listing, symbol: str, day: dt.date, interval: str = DEFAULT_INTERVAL) -> Loaded | Skipped | None:
        """One day of `table` for (venue, symbol) at bars of `interval`; None when the venue has no such data at all."""
        window = day_window(day)
        venue = listing.venue
        if table not in SERVES[venue]:
            return None
        if venue == "coinglass" and not self.env.get(COINGLASS_KEY):
            return Skipped(f"{COINGLASS_KEY} is not set: the coinglass source is skipped")
        try:
            fetched = self._fetch(table, listing, window, day, interval)
        except UnsupportedInterval as exc:
            return Skipped(f"{exc} ({symbol}): store {table} at {interval} another way (files, `liqlevels backfill`)")
        except RateLimitStop as exc:
            self._stopped.setdefault(venue, exc.first)
            raise
        except RunawayPagination as exc:
            raise PayloadShapeError(venue, f"{table} pages", "<pagination>", str(exc)) from exc
        if isinstance(fetched, Skipped):
            return fetched
        check_spacing(fetched)
        if not fetched.records and not fetched.problems and not fetched.row_rejects:
            # An empty answer must not replace rows already stored (e.g. by a backfill).
            return Skipped(f"{venue} returned no {table} rows for {symbol} on {day} ({fetched.endpoint})")
        source = f"{venue}:{fetched.endpoint}"
        batch = to_normalized(fetched, venue, symbol, source, day)
        return Loaded(batch, source, tuple(dict.fromkeys((fetched.endpoint, f, r) for f, r, _ in fetched.problems)))

    def stream_orphans(self, venue: str, day: dt.date) -> Fetched:
        """Landing messages of `day` that belong to no symbol (not JSON, unknown shape)."""
        return stream_liquidations(venue, self.landed("liquidations", venue, day, 0), None, day_window(day))[1]

    def _fetch(self, table: str, listing: Listing, window: Window, day: dt.date, interval: str) -> Fetched | Skipped:
        venue = listing.venue
        if table == "liquidations":
            return self._liquidations(listing, window, day)
        if table == "open_interest" and venue == "hyperliquid":
            records = self.landed("open_interest", "hyperliquid", day, 0)
            if not records:
                return Skipped(f"hyperliquid has no OI history endpoint and no snapshots were polled on {day} "
                               f"(landing {self.landing_root}/open_interest/hyperliquid/{day}); keep the "
                               "hyperliquid_oi_poll_schedule running (dg dev) or `liqlevels collect --hyperliquid-oi-seconds 300`")
            return hourly_snapshots(records, listing.instrument, window, interval)
        client = self.client(venue)
        if table == "open_interest" and isinstance(client, BinanceClient) and not client.oi_window_covers(window):
            return Skipped(f"binance openInterestHist only serves the last {BinanceClient.OI_HISTORY_DAYS} days; "
                           f"{day} is older: load it with `liqlevels backfill --venue binance`")
        if table in ("klines", "open_interest", "liquidation_history"):
            return getattr(client, table)(listing, window, interval)
        return getattr(client, table)(listing, window)

    def _liquidations(self, listing: Listing, window: Window, day: dt.date) -> Fetched | Skipped:
        venue = listing.venue
        if venue == "hyperliquid":
            return Skipped("hyperliquid publishes no market-wide liquidation feed (only per-user fills)")
        records = self.landed("liquidations", venue, day, 1)
        fetched, _ = stream_liquidations(venue, records, listing, window)
        if venue == "okx":
            fetched.extend(self.client("okx").liquidations(listing, window))
            fetched.endpoint = "/api/v5/public/liquidation-orders + landing liquidations/okx"
        elif not records:
            return Skipped(f"no {venue} liquidation stream files for {day} under {self.landing_root}; "
                           "run `liqlevels collect` to capture them")
        self.merged_duplicates += dedupe_records(fetched, ("ts", "side", "price", "qty_base"))
        return fetched


