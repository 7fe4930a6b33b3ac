"""Convert the group-m real-data sample (Unlicense) into the files-source layout.

The sample's quirks are handled here and only here:
- OKX `size_usd` is contracts × price; USD = size_usd × contract_size (OKX ctVal, from the
  watchlist). OKX `side` is the order side: `sell` closes (liquidates) a long, `buy` a short.
- OKX candle volume `v` is in contracts: base volume = v × contract_size (ctVal 0.01 BTC, 0.1 ETH).
- Hyperliquid liquidation `side` is always `S` (uninformative), so it maps to `unknown`;
  its `size_usd` is already USD.
- `liquidation_volume.parquet` is Hyperliquid's daily liquidated USD by side (long_usd,
  short_usd): it becomes `liquidation_history` bars of interval 1d at the day's 00:00 UTC.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from pipelines.lib.watchlist import Watchlist

OKX_ORDER_SIDE_TO_POSITION = {"sell": "long", "buy": "short"}


def okx_liquidations(raw: pd.DataFrame, contract_size: float) -> pd.DataFrame:
    """group-m OKX liquidation rows (one coin) → files-source liquidation rows."""
    usd = raw["size_usd"].astype(float) * contract_size
    return pd.DataFrame(
        {
            "ts": raw["timestamp"],
            "side": raw["side"].map(OKX_ORDER_SIDE_TO_POSITION).fillna("invalid:" + raw["side"].astype(str)),
            "price": raw["price"],
            "qty_base": usd / raw["price"].astype(float),
            "usd": usd,
        }
    )


def hyperliquid_liquidations(raw: pd.DataFrame) -> pd.DataFrame:
    usd = raw["size_usd"].astype(float)
    return pd.DataFrame(
        {"ts": raw["timestamp"], "side": "unknown", "price": raw["price"], "qty_base": usd / raw["price"].astype(float), "usd": usd}
    )


def hyperliquid_liquidation_history(raw: pd.DataFrame) -> pd.DataFrame:
    """group-m daily Hyperliquid liquidation volume (one coin) → files-source liquidation_history rows."""
    return pd.DataFrame({"ts": raw["timestamp"], "interval": "1d", "long_usd": raw["long_usd"].astype(float),
                         "short_usd": raw["short_usd"].astype(float)})


def convert(src: Path, dst: Path, watchlist: Watchlist, start: dt.date, end: dt.date) -> dict[str, int]:
    """Write the files-source layout for the watchlist's symbols; klines/OI/funding in [start, end].

    Returns rows written per table.
    """
    lo = pd.Timestamp(start, tz="UTC")
    hi = pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
    candles = pd.read_parquet(src / "candles.parquet")
    oi = pd.read_parquet(src / "open_interest.parquet")
    funding = pd.read_parquet(src / "funding_rates.parquet")
    liqs = pd.read_parquet(src / "liquidations.parquet")
    volume = pd.read_parquet(src / "liquidation_volume.parquet")
    counts = {"klines": 0, "open_interest": 0, "funding": 0, "liquidations": 0, "liquidation_history": 0}

    def write(table: str, venue: str, symbol: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        path = dst / table / venue / f"{symbol}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.sort_values("ts").reset_index(drop=True).to_parquet(path, index=False, compression="zstd")
        counts[table] += len(frame)

    in_range = lambda d: d[(d["timestamp"] >= lo) & (d["timestamp"] < hi)]  # noqa: E731
    for spec, listing in watchlist.listings():
        venue, symbol = listing.venue, spec.symbol
        sel = lambda d: d[(d["venue"] == venue) & (d["coin"] == symbol)]  # noqa: E731
        if venue in ("binance", "bybit", "okx"):
            c = in_range(sel(candles))
            write("klines", venue, symbol, pd.DataFrame({
                "ts": c["timestamp"], "interval": "1h", "open": c["o"], "high": c["h"], "low": c["l"],
                # OKX candles count volume in contracts (`vol`): × ctVal gives base units like the others.
                "close": c["c"], "volume": c["v"] * (listing.contract_size if venue == "okx" else 1.0),
            }))
        if venue == "hyperliquid":
            o = in_range(sel(oi))
            write("open_interest", venue, symbol, pd.DataFrame({"ts": o["timestamp"], "interval": "1h", "oi_usd": o["oi_usd"]}))
        f = in_range(sel(funding))
        write("funding", venue, symbol, pd.DataFrame({"ts": f["timestamp"], "rate": f["funding_rate"]}))
        liq = sel(liqs)
        if venue == "okx":
            write("liquidations", venue, symbol, okx_liquidations(liq, listing.contract_size))
        elif venue == "hyperliquid":
            write("liquidations", venue, symbol, hyperliquid_liquidations(liq))
            write("liquidation_history", venue, symbol, hyperliquid_liquidation_history(in_range(volume[volume["coin"] == symbol])))
    return counts
