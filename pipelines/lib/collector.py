"""`liqlevels collect`: subscribe to the venues' liquidation streams and land every message.

With `hyperliquid` among the venues it also lands Hyperliquid's public `trades` of the watched coins
(stream `trades`): each trade names its two `users`, which is how the position scan finds accounts
that are not on the leaderboard (`pipelines.lib.positions.scanner.trade_addresses`).

Binance `!forceOrder@arr`, Bybit `allLiquidation.<instrument>` and OKX `liquidation-orders`
(SWAP) are written as received to the landing folder in hourly files (`pipelines.lib.landing`),
flushed about every second by whole-file atomic replacement. A dropped connection is flushed,
reconnected with exponential backoff, and the outage is written as a gap record; a message that is
not JSON is kept as text so ingest can report it in `ops.rejects`. Optionally it also polls
Hyperliquid's `metaAndAssetCtxs` (the only source of Hyperliquid OI) into the landing folder.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.client import backoff
from websockets.exceptions import ConnectionClosed

from pipelines.lib.exchanges.live import make_client, ws_url
from pipelines.lib.landing import LandingWriter
from pipelines.lib.watchlist import Watchlist

log = logging.getLogger("liqlevels.collect")
STREAM_VENUES = ("binance", "bybit", "okx")


@dataclass
class StreamSpec:
    venue: str
    url: str
    subscribe: list[dict] = field(default_factory=list)
    ping: str | None = None  # application-level keepalive text (Bybit, OKX, Hyperliquid)
    ping_every: float = 20.0
    stream: str = "liquidations"  # the landing stream its messages go to


def stream_specs(watchlist: Watchlist, venues: tuple[str, ...] = STREAM_VENUES,
                 env: Mapping[str, str] | None = None) -> list[StreamSpec]:
    env = env if env is not None else os.environ
    specs = []
    listed = {venue: sorted({l.instrument for _, l in watchlist.listings() if l.venue == venue}) for venue in venues}
    if "binance" in venues and listed["binance"]:
        # The all-market stream; ingest keeps the watchlist's instruments. One event per message.
        specs.append(StreamSpec("binance", ws_url("binance", env) + "/ws/!forceOrder@arr"))
    if "bybit" in venues and listed["bybit"]:
        specs.append(StreamSpec("bybit", ws_url("bybit", env) + "/v5/public/linear",
                                [{"op": "subscribe", "args": [f"allLiquidation.{i}" for i in listed["bybit"]]}],
                                ping=json.dumps({"op": "ping"})))
    if "okx" in venues and listed["okx"]:
        specs.append(StreamSpec("okx", ws_url("okx", env) + "/ws/v5/public",
                                [{"op": "subscribe", "args": [{"channel": "liquidation-orders", "instType": "SWAP"}]}],
                                ping="ping", ping_every=25.0))
    if "hyperliquid" in venues and listed.get("hyperliquid"):
        # Hyperliquid has no liquidation stream; its trades carry both accounts (`users`) for the position scan.
        specs.append(StreamSpec("hyperliquid", ws_url("hyperliquid", env) + "/ws",
                                [{"method": "subscribe", "subscription": {"type": "trades", "coin": c}} for c in listed["hyperliquid"]],
                                ping=json.dumps({"method": "ping"}), ping_every=50.0, stream="trades"))
    return specs


def classify(venue: str, message: str | bytes, received_at: int) -> dict | None:
    """The landing record for a message, or None for control traffic (acks, pongs)."""
    text = message.decode(errors="replace") if isinstance(message, bytes) else message
    if text == "pong":
        return None
    try:
        payload = json.loads(text)
    except ValueError:
        return {"received_at": received_at, "text": text}
    if isinstance(payload, dict):
        if venue == "bybit" and ("success" in payload or payload.get("op") in ("pong", "ping")):
            if payload.get("success") is False:
                log.warning("bybit rejected a request: %s", payload.get("ret_msg"))
            return None
        if venue == "okx" and "event" in payload:
            if payload["event"] == "error":
                log.warning("okx rejected a request: %s %s", payload.get("code"), payload.get("msg"))
            return None
        if venue == "binance" and "result" in payload and "id" in payload:
            return None
        if venue == "hyperliquid" and payload.get("channel") in ("subscriptionResponse", "pong"):
            return None
    return {"received_at": received_at, "payload": payload}


@dataclass
class StreamStats:
    messages: int = 0
    connects: int = 0
    gaps: int = 0


async def collect_stream(spec: StreamSpec, writer: LandingWriter, stop: asyncio.Event, *, flush_every: float = 1.0,
                         reconnect_delays: Callable = backoff, clock: Callable[[], float] = time.time,
                         stats: StreamStats | None = None) -> StreamStats:
    """Land `spec`'s messages until `stop` is set; every outage becomes a gap record."""
    stats = stats or StreamStats()
    now_ms = lambda: int(clock() * 1000)  # noqa: E731
    down_since: int | None = None
    reason = ""

    async def flusher() -> None:
        while True:
            await asyncio.sleep(flush_every)
            writer.flush()

    flushing = asyncio.create_task(flusher())
    try:
        async for ws in connect(spec.url, reconnect_delays=reconnect_delays, open_timeout=10, ping_interval=20,
                                max_size=2**23):
            pinging = None
            try:
                for request in spec.subscribe:
                    await ws.send(json.dumps(request))
                stats.connects += 1
                if down_since is not None:
                    writer.add({"received_at": now_ms(), "gap": {"start": down_since, "end": now_ms(), "reason": reason}})
                    writer.flush()
                    stats.gaps += 1
                    down_since = None
                log.info("%s: connected to %s", spec.venue, spec.url)
                if spec.ping:
                    pinging = asyncio.create_task(_keepalive(ws, spec.ping, spec.ping_every))
                receiving = asyncio.create_task(_receive(ws, spec.venue, writer, stats, now_ms))
                stopping = asyncio.create_task(stop.wait())
                done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping in done:
                    receiving.cancel()
                    await ws.close()
                    return stats
                stopping.cancel()
                receiving.result()  # re-raise ConnectionClosed
                raise ConnectionClosed(None, None)  # the server ended the stream normally: reconnect too
            except ConnectionClosed as exc:
                writer.flush()
                down_since, reason = now_ms(), f"connection closed: {exc}"
                log.warning("%s: %s; reconnecting", spec.venue, reason)
                await asyncio.sleep(0.05)
            finally:
                if pinging is not None:
                    pinging.cancel()
    finally:
        flushing.cancel()
        writer.flush()
    return stats


async def _receive(ws, venue: str, writer: LandingWriter, stats: StreamStats, now_ms) -> None:
    async for message in ws:
        record = classify(venue, message, now_ms())
        if record is not None:
            writer.add(record)
            stats.messages += 1


async def _keepalive(ws, text: str, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await ws.send(text)


def snapshot_hyperliquid(landing_root: Path, env: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time) -> int:
    """Poll `metaAndAssetCtxs` once and land it under open_interest/hyperliquid; returns coins seen."""
    client = make_client("hyperliquid", env if env is not None else os.environ)
    try:
        payload = client.asset_contexts()
    finally:
        client.http.close()
    writer = LandingWriter(landing_root, "open_interest", "hyperliquid")
    writer.add({"received_at": int(clock() * 1000), "payload": payload})
    writer.flush()
    universe = payload[0].get("universe", []) if isinstance(payload, list) and payload and isinstance(payload[0], dict) else []
    return len(universe)


async def _poll_hyperliquid(landing_root: Path, every: float, stop: asyncio.Event, env) -> None:
    while not stop.is_set():
        try:
            await asyncio.to_thread(snapshot_hyperliquid, landing_root, env)
        except Exception as exc:  # noqa: BLE001 - a failed poll is logged and retried next time
            log.warning("hyperliquid metaAndAssetCtxs poll failed: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass


async def collect(watchlist: Watchlist, landing_root: Path, stop: asyncio.Event, *, venues=STREAM_VENUES,
                  env: Mapping[str, str] | None = None, flush_every: float = 1.0, poll_hyperliquid_every: float = 0,
                  max_reconnect_delay: float = 60.0) -> dict[str, StreamStats]:
    """Run every venue's stream (and the optional Hyperliquid OI poll) until `stop` is set."""
    delays = functools.partial(backoff, initial_delay=1.0, min_delay=1.0, max_delay=max_reconnect_delay)
    stats = {spec.venue: StreamStats() for spec in stream_specs(watchlist, venues, env)}
    tasks = [asyncio.create_task(collect_stream(spec, LandingWriter(landing_root, spec.stream, spec.venue), stop,
                                                flush_every=flush_every, reconnect_delays=delays, stats=stats[spec.venue]))
             for spec in stream_specs(watchlist, venues, env)]
    if poll_hyperliquid_every > 0:
        tasks.append(asyncio.create_task(_poll_hyperliquid(landing_root, poll_hyperliquid_every, stop, env)))
    await asyncio.gather(*tasks)
    return stats
