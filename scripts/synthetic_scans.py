"""Write the demo's SYNTHETIC Hyperliquid position scans (data/positions/hyperliquid/, the scan-file layout).

The bundle has no real scans (a scan reads tens of thousands of accounts; none was recorded), so the
demo shows the measured views on positions simulated over the real bundled candles. They are NOT
market data: nothing measured from them says anything about the real market. What the simulation does:
- every hour, new positions open at the hour's close on the bundled Binance candles, their number
  following the hour's volume; side 50/50; size lognormal (median 20k USD); set leverage drawn from
  3/5/10/20/40x with shares 0.15/0.30/0.30/0.15/0.10 (capped at the coin's Hyperliquid maximum);
  78 % cross margin (liquidation price as isolated at 1.5-3x less leverage: the rest of the account
  backs it), 22 % isolated (Hyperliquid's formula, maintenance = half the initial margin at max leverage);
- a position closes after an exponential lifetime (mean 3 days), or is liquidated when a later
  candle reaches its liquidation price (it then vanishes from the following scans);
- every 6 hours a full scan reads every account (some hold no position; 3 % of reads fail), written
  with its start and end (10 minutes later).

Run: .venv/bin/python scripts/synthetic_scans.py [--start 2026-02-20 --end 2026-03-05 --every-hours 6 --seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.lib.positions.scan_files import SCAN_COLUMNS, scan_path, write_scan  # noqa: E402

COINS = {"BTC": 40, "ETH": 25, "SOL": 20}  # Hyperliquid's largest leverage per coin
LEVERAGES = np.array([3, 5, 10, 20, 40])
SHARES = np.array([0.15, 0.30, 0.30, 0.15, 0.10])


def liq_price(side: np.ndarray, entry: np.ndarray, leverage: np.ndarray, max_leverage: int) -> np.ndarray:
    """Hyperliquid isolated liquidation price: price − side × margin_available / size / (1 − l × side),
    l = 1 / (2 × max leverage), margin_available = margin − maintenance (docs, trading/liquidations)."""
    sign = np.where(side == "long", 1.0, -1.0)
    l = 1.0 / (2 * max_leverage)
    margin_per_coin = entry / leverage
    available = margin_per_coin - entry * l
    return entry - sign * available / (1 - l * sign)


def simulate(start: dt.date, end: dt.date, every_hours: int, seed: int, out: Path) -> int:
    rng = np.random.default_rng(seed)
    warmup = pd.Timestamp(start) - pd.Timedelta(days=7)
    finish = pd.Timestamp(end) + pd.Timedelta(days=1)
    accounts = [f"0x{rng.integers(0, 2**63):016x}{rng.integers(0, 2**63):016x}{rng.integers(0, 2**31):08x}" for _ in range(900)]
    open_positions: list[dict] = []
    bars = {}
    for coin in COINS:
        frame = pd.read_parquet(ROOT / "data" / "klines" / "binance" / f"{coin}.parquet")
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None)
        bars[coin] = frame[(frame["ts"] >= warmup) & (frame["ts"] < finish)].set_index("ts")
    hours = pd.date_range(warmup, finish, freq="1h", inclusive="left")
    scans = 0
    for hour in hours:
        for coin, max_leverage in COINS.items():
            if hour not in bars[coin].index:
                continue
            bar = bars[coin].loc[hour]
            # the hour's candle first: positions it reaches are liquidated, others may close
            kept = []
            for p in open_positions:
                if p["coin"] != coin:
                    kept.append(p)
                    continue
                hit = bar["low"] <= p["liq_price"] if p["side"] == "long" else bar["high"] >= p["liq_price"]
                if not hit and rng.random() > 1 / 72:
                    kept.append(p)
            open_positions = kept
            volume = bars[coin]["volume"]
            n = rng.poisson(2.0 * bar["volume"] / volume.median())
            side = rng.choice(["long", "short"], n)
            leverage = np.minimum(rng.choice(LEVERAGES, n, p=SHARES), max_leverage).astype(float)
            cross = rng.random(n) < 0.78
            backing = np.where(cross, rng.uniform(1.5, 3.0, n), 1.0)
            entry = float(bar["close"]) * (1 + rng.normal(0, 0.001, n))
            usd = rng.lognormal(np.log(20_000), 1.0, n)
            liq = liq_price(side, entry, np.maximum(leverage / backing, 1.01), max_leverage)
            for i in range(n):
                if liq[i] <= 0:
                    continue
                open_positions.append({"address": accounts[rng.integers(0, len(accounts))], "coin": coin, "side": side[i],
                                       "size_base": usd[i] / entry[i], "entry_price": entry[i], "liq_price": liq[i],
                                       "leverage": leverage[i], "margin_mode": "cross" if cross[i] else "isolated",
                                       "margin_used": usd[i] / leverage[i]})
        if hour < pd.Timestamp(start) or hour.hour % every_hours:
            continue
        scan_start = (hour + pd.Timedelta(minutes=59)).to_pydatetime()  # the hour's positions are all open by then
        failed = set(a for a in accounts if rng.random() < 0.03)
        rows, seen = [], {}
        for p in open_positions:
            if p["address"] in failed:
                continue
            key = (p["address"], p["coin"])
            if key in seen:  # one position per account and coin: merge as the venue nets them (same side kept)
                continue
            seen[key] = True
            price = float(bars[p["coin"]]["close"].asof(hour))
            rows.append({"address": p["address"], "status": "ok", "coin": p["coin"], "side": p["side"],
                         "size_base": f"{p['size_base']:.6f}", "entry_price": f"{p['entry_price']:.2f}",
                         "liq_price": f"{p['liq_price']:.2f}", "leverage": f"{p['leverage']:g}", "margin_mode": p["margin_mode"],
                         "position_usd": f"{p['size_base'] * price:.2f}", "margin_used": f"{p['margin_used']:.2f}",
                         "account_value": f"{p['margin_used'] * 2:.2f}"})
        holding = {r["address"] for r in rows}
        rows += [{"address": a, "status": "ok", "coin": ""} for a in accounts if a not in holding and a not in failed]
        rows += [{"address": a, "status": "failed", "coin": ""} for a in sorted(failed)]
        frame = pd.DataFrame(rows).reindex(columns=SCAN_COLUMNS).astype(object).fillna("")
        frame["scan_start"] = scan_start.strftime("%Y-%m-%dT%H:%M:%SZ")
        frame["scan_end"] = (scan_start + dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        frame["kind"] = "full"
        write_scan(scan_path(out, "hyperliquid", scan_start, "full"), frame.astype(str))
        scans += 1
    return scans


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 2, 20))
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 3, 5))
    parser.add_argument("--every-hours", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "data")
    args = parser.parse_args()
    folder = args.out / "positions" / "hyperliquid"
    if folder.exists():
        shutil.rmtree(folder)
    scans = simulate(args.start, args.end, args.every_hours, args.seed, args.out)
    (folder / "README.md").write_text(
        "# SYNTHETIC position scans (demo only)\n\nSimulated by `scripts/synthetic_scans.py` over the real bundled candles; "
        "not market data. Layout: `pipelines/lib/positions/scan_files.py`.\n")
    print(f"{scans} synthetic scans in {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
