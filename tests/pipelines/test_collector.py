"""The liquidation stream collector against a local websockets server, then ingest of what it landed."""

import asyncio
import datetime as dt
import json
import time

import pytest
from websockets.asyncio.server import serve

from pipelines.lib import landing
from pipelines.lib.collector import collect
from pipelines.lib.exchanges.live import LiveSource
from pipelines.lib.landing import LandingWriter
from pipelines.lib.watchlist import load_watchlist
from tests.conftest import WATCHLIST

WATCH = load_watchlist(WATCHLIST)
BTC = WATCH.get("BTC")


def binance_event(symbol: str, side: str, qty: str, price: str, t: int) -> str:
    # Binance docs example shape; `S` is the liquidation ORDER side.
    return json.dumps({"e": "forceOrder", "E": t + 3, "o": {"s": symbol, "S": side, "o": "LIMIT", "f": "IOC", "q": qty,
                       "p": price, "ap": price, "X": "FILLED", "l": qty, "z": qty, "T": t}})


class FakeStreams:
    """Binance drops the first connection mid-stream (after a malformed message); Bybit and OKX
    expect a subscription and answer pings."""

    def __init__(self, now_ms: int):
        self.t = now_ms
        self.binance_connections = 0
        self.subscriptions: dict[str, list] = {}

    async def handler(self, ws):
        path = ws.request.path
        if path == "/ws/!forceOrder@arr":
            self.binance_connections += 1
            if self.binance_connections == 1:
                await ws.send(binance_event("BTCUSDT", "SELL", "0.014", "66000.1", self.t))
                await ws.send(binance_event("ETHUSDT", "BUY", "1.5", "2500.5", self.t + 1))
                await ws.send('{"e":"forceOrder","o":{"s":"BTCUSDT"')  # cut off: not JSON
                await ws.send(binance_event("BTCUSDT", "BUY", "0.2", "66100.0", self.t + 2))
                await asyncio.sleep(0.2)
                ws.transport.abort()  # dropped without a close frame
                return
            await ws.send(binance_event("BTCUSDT", "SELL", "0.5", "65900.0", self.t + 3))
            await ws.wait_closed()
        elif path == "/v5/public/linear":
            self.subscriptions["bybit"] = json.loads(await ws.recv())["args"]
            await ws.send(json.dumps({"success": True, "ret_msg": "", "op": "subscribe", "conn_id": "c1"}))
            await ws.send(json.dumps({"topic": "allLiquidation.BTCUSDT", "type": "snapshot", "ts": self.t + 10, "data": [
                {"T": self.t + 9, "s": "BTCUSDT", "S": "Buy", "v": "0.003", "p": "65800.5"},
                {"T": self.t + 9, "s": "BTCUSDT", "S": "Sell", "v": "0.25", "p": "66300"}]}))
            async for message in ws:
                if json.loads(message).get("op") == "ping":
                    await ws.send(json.dumps({"success": True, "ret_msg": "pong", "op": "ping"}))
        elif path == "/ws":  # Hyperliquid: trades of a coin, each naming its buyer and seller
            for _ in range(3):
                request = json.loads(await ws.recv())
                self.subscriptions.setdefault("hyperliquid", []).append(request["subscription"])
                await ws.send(json.dumps({"channel": "subscriptionResponse", "data": request}))
            await ws.send(json.dumps({"channel": "trades", "data": [
                {"coin": "BTC", "side": "B", "px": "66000.0", "sz": "0.1", "time": self.t, "hash": "0x1", "tid": 1,
                 "users": ["0x" + "a" * 40, "0x" + "B" * 40]},
                {"coin": "BTC", "side": "A", "px": "66001.0", "sz": "0.2", "time": self.t + 1, "hash": "0x2", "tid": 2,
                 "users": ["0x" + "a" * 40, "not-an-address"]}]}))
            async for message in ws:
                if json.loads(message).get("method") == "ping":
                    await ws.send(json.dumps({"channel": "pong"}))
        elif path == "/ws/v5/public":
            self.subscriptions["okx"] = json.loads(await ws.recv())["args"]
            await ws.send(json.dumps({"event": "subscribe", "arg": {"channel": "liquidation-orders", "instType": "SWAP"}}))
            await ws.send(json.dumps({"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [
                {"instId": "BTC-USDT-SWAP", "instFamily": "BTC-USDT", "instType": "SWAP", "uly": "BTC-USDT", "details": [
                    {"bkLoss": "0", "bkPx": "66050.2", "ccy": "", "posSide": "short", "side": "buy", "sz": "12", "ts": str(self.t + 20)}]},
                {"instId": "ETH-USDT-SWAP", "details": [
                    {"bkLoss": "0", "bkPx": "2400", "ccy": "", "posSide": "long", "side": "sell", "sz": "3", "ts": str(self.t + 21)}]}]}))
            async for message in ws:
                if message == "ping":
                    await ws.send("pong")


def run_collector(tmp_path, monkeypatch, streams: FakeStreams, until, venues=("binance", "bybit", "okx")) -> dict:
    async def main():
        async with serve(streams.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            env = {f"LIQLEVELS_{v.upper()}_WS_URL": f"ws://127.0.0.1:{port}" for v in ("binance", "bybit", "okx", "hyperliquid")}
            stop = asyncio.Event()
            task = asyncio.create_task(collect(WATCH, tmp_path / "landing", stop, env=env, flush_every=0.05,
                                               max_reconnect_delay=0.2, venues=venues))
            deadline = time.monotonic() + 15
            while not until() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stop.set()
            return await asyncio.wait_for(task, 10)

    return asyncio.run(main())


def test_collector_lands_every_message_survives_a_drop_and_ingest_reads_them(tmp_path, monkeypatch):
    now = int(time.time() * 1000)
    streams = FakeStreams(now)
    root = tmp_path / "landing"
    day = dt.datetime.fromtimestamp(now / 1000, dt.UTC).date()

    def landed(venue):
        return [r for r in landing.read_day(root, "liquidations", venue, day)]

    def done():
        return (len(landed("binance")) >= 6 and len(landed("bybit")) >= 1 and len(landed("okx")) >= 1)

    stats = run_collector(tmp_path, monkeypatch, streams, done)

    assert stats["binance"].connects == 2 and stats["binance"].gaps == 1
    assert streams.subscriptions["bybit"] == ["allLiquidation.BTCUSDT", "allLiquidation.ETHUSDT", "allLiquidation.SOLUSDT"]
    assert streams.subscriptions["okx"] == [{"channel": "liquidation-orders", "instType": "SWAP"}]
    binance = landed("binance")
    assert sum("payload" in r for r in binance) == 4 and sum("text" in r for r in binance) == 1
    gap = [r["gap"] for r in binance if "gap" in r][0]
    assert gap["start"] <= gap["end"] and "connection closed" in gap["reason"]
    assert not list(root.rglob("*.tmp"))  # only whole files

    source = LiveSource(root, env={})
    rows = source.load_day("liquidations", BTC.listing("binance"), "BTC", day).batch.rows
    # Three BTCUSDT events (ETHUSDT belongs to ETH); SELL order = a long was liquidated.
    assert rows[["side", "price", "qty_base"]].values.tolist() == [["long", 66000.1, 0.014], ["short", 66100.0, 0.2],
                                                                   ["long", 65900.0, 0.5]]
    assert rows["usd"].round(4).tolist() == [round(0.014 * 66000.1, 4), 13220.0, 32950.0]
    bybit = source.load_day("liquidations", BTC.listing("bybit"), "BTC", day).batch.rows
    # Bybit `S` is the POSITION side: Buy = a long was liquidated.
    assert bybit[["side", "price", "qty_base"]].values.tolist() == [["long", 65800.5, 0.003], ["short", 66300.0, 0.25]]
    orphans = source.stream_orphans("binance", day)
    assert [p[0] for p in orphans.problems] == ["payload"]


def test_landing_files_are_replaced_whole_and_a_restart_appends(tmp_path):
    t = int(dt.datetime(2026, 3, 4, 10, 30, tzinfo=dt.UTC).timestamp() * 1000)
    first = LandingWriter(tmp_path, "liquidations", "okx")
    first.add({"received_at": t, "payload": {"n": 1}})
    assert first.flush() == 1
    second = LandingWriter(tmp_path, "liquidations", "okx")  # a restarted collector, same hour
    second.add({"received_at": t + 1, "payload": {"n": 2}})
    second.add({"received_at": t + 3_600_000, "payload": {"n": 3}})
    second.flush()
    hour = tmp_path / "liquidations" / "okx" / "2026-03-04" / "10.jsonl"
    assert [json.loads(line)["payload"]["n"] for line in hour.read_text().splitlines()] == [1, 2]
    assert [r["payload"]["n"] for r in landing.read_day(tmp_path, "liquidations", "okx", dt.date(2026, 3, 4))] == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["10.jsonl", "11.jsonl"]


def test_a_landing_name_outside_the_layout_is_refused(tmp_path):
    with pytest.raises(ValueError):
        landing.hour_path(tmp_path, "liquidations", "../etc", 0)


def test_liqlevels_collect_runs_as_a_process_and_flushes_on_sigterm(tmp_path):
    import os
    import signal
    import sys

    now = int(time.time() * 1000)
    streams = FakeStreams(now)
    root = tmp_path / "landing"

    async def main():
        async with serve(streams.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            env = os.environ | {f"LIQLEVELS_{v.upper()}_WS_URL": f"ws://127.0.0.1:{port}" for v in ("binance", "bybit", "okx")}
            env |= {"LIQLEVELS_LANDING": str(root)}
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pipelines.cli", "collect", "--venues", "bybit", "okx", "--flush-seconds", "30",
                env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            deadline = time.monotonic() + 30
            while ("okx" not in streams.subscriptions or "bybit" not in streams.subscriptions) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # the data messages follow the subscription acks
            process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(process.communicate(), 30)
            return process.returncode, output.decode()

    code, output = asyncio.run(main())
    assert code == 0, output
    assert "bybit: 1 messages, 1 connections, 0 gaps" in output and "okx: 1 messages" in output
    day = dt.datetime.fromtimestamp(now / 1000, dt.UTC).date()
    # --flush-seconds 30: nothing was flushed by the timer, everything by the SIGTERM shutdown.
    assert len(list(landing.read_day(root, "liquidations", "bybit", day))) == 1
    assert len(list(landing.read_day(root, "liquidations", "okx", day))) == 1


def test_hyperliquid_trades_land_and_name_the_accounts_the_position_scan_reads(tmp_path, monkeypatch):
    from pipelines.lib.positions.scanner import trade_addresses

    now = int(time.time() * 1000)
    streams = FakeStreams(now)
    root = tmp_path / "landing"
    day = dt.datetime.fromtimestamp(now / 1000, dt.UTC).date()
    stats = run_collector(tmp_path, monkeypatch, streams, lambda: bool(list(landing.read_day(root, "trades", "hyperliquid", day))),
                          venues=("hyperliquid",))
    assert streams.subscriptions["hyperliquid"] == [{"type": "trades", "coin": c} for c in ("BTC", "ETH", "SOL")]
    landed = list(landing.read_day(root, "trades", "hyperliquid", day))
    assert len(landed) == 1 and landed[0]["payload"]["channel"] == "trades"  # the acks are not landed
    assert stats["hyperliquid"].messages == 1
    assert trade_addresses(root, [day]) == ["0x" + "a" * 40, "0x" + "b" * 40]  # lower case, the bad one left out
