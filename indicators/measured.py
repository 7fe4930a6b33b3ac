"""The measured liquidation map: real positions with their exchange-computed liquidation prices
(Hyperliquid `clearinghouseState`), binned like the estimated map, and how well an estimate matches it.

Units: prices and USD as stored (USD), bins are absolute price widths (`views.bin_width`, 0.1 % of
the day's first open: the heatmap's grid), leverage in x, distances in % of price.

Rules chosen where the sources are silent (README "Measured positions"):
- A position counts at its `liq_price` with its `position_usd` (the USD that would be liquidated);
  a position without a liquidation price (the venue computes none: the account's margin covers it
  at any price) is counted in the snapshot's totals but in no bin.
- Tier columns bucket the set leverage like the estimated map's tiers: ≤ 10x → 10x, ≤ 25x → 25x,
  ≤ 50x → 50x, above → 100x.
- Similarity is per side over the bins of that side's half of ±`window_pct` around the price (long
  liquidations below it, shorts above), every bin of the grid included (a bin one side leaves empty
  counts as 0): Spearman of the two USD profiles (average ranks for ties) and cosine similarity.
  A side where either profile is all zeros has no similarity (NaN).
- The leverage mix of the measured positions is their USD share per leverage, each position given
  to the nearest of the model's leverages in log space (3x goes to 5x, 7x to 5x or 10x by distance).
- A position seen in one snapshot and gone in the next after the price reached its liquidation price
  in between (low ≤ liq for longs, high ≥ liq for shorts) is an *inferred* liquidation: its USD at the
  last sighting, flagged inferred. Circular with the map (the map predicted it): never the only truth
  the measured map is scored against.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from indicators.quality import spearman
from indicators.views import TIERS

LEVERAGE_EDGES = (1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 25.0, 40.0, 50.0, 100.0, np.inf)
DISTANCE_EDGES_PCT = (0.0, 1.0, 2.0, 5.0, 10.0, 15.0, 25.0, 50.0, np.inf)
BIN_COLUMNS = ["bin_low", "bin_high", "long_usd", "short_usd", "long_count", "short_count", "long_cross_usd", "short_cross_usd",
               *[f"usd_{t}x" for t in TIERS]]


def tier_of(leverage: np.ndarray) -> np.ndarray:
    """The estimated map's tier (10/25/50/100) a set leverage is shown under."""
    leverage = np.asarray(leverage, float)
    return np.select([leverage <= 10, leverage <= 25, leverage <= 50], [10, 25, 50], 100)


def priced(positions: pd.DataFrame) -> pd.DataFrame:
    """Positions that have a liquidation price (the ones a map can place)."""
    return positions[positions["liq_price"].notna() & (positions["liq_price"] > 0)]


def measured_bins(positions: pd.DataFrame, width: float) -> pd.DataFrame:
    """USD and counts of long and short positions per liquidation-price bin of `width` USD, with the
    cross-margin share and USD per leverage tier. Columns: `BIN_COLUMNS`."""
    found = priced(positions)
    if found.empty:
        return pd.DataFrame(columns=BIN_COLUMNS)
    usd = found["position_usd"].to_numpy(float)
    long = (found["side"] == "long").to_numpy()
    cross = (found["margin_mode"] == "cross").to_numpy()
    tier = tier_of(found["leverage"].to_numpy(float))
    frame = pd.DataFrame({
        "bin": np.floor(found["liq_price"].to_numpy(float) / width).astype(np.int64),
        "long_usd": np.where(long, usd, 0.0), "short_usd": np.where(long, 0.0, usd),
        "long_count": long.astype(np.int64), "short_count": (~long).astype(np.int64),
        "long_cross_usd": np.where(long & cross, usd, 0.0), "short_cross_usd": np.where(~long & cross, usd, 0.0),
        **{f"usd_{t}x": np.where(tier == t, usd, 0.0) for t in TIERS},
    })
    out = frame.groupby("bin", sort=True).sum().reset_index()
    out.insert(0, "bin_low", out.pop("bin") * width)
    out.insert(1, "bin_high", out["bin_low"] + width)
    return out[BIN_COLUMNS]


def snapshot_totals(positions: pd.DataFrame) -> dict:
    """Counts and USD of one snapshot: positions, positions without a liquidation price, long/short and
    cross/isolated USD."""
    usd = positions["position_usd"].astype(float)
    return {"positions": len(positions), "positions_without_liq": int((~positions.index.isin(priced(positions).index)).sum()),
            "long_usd": float(usd[positions["side"] == "long"].sum()), "short_usd": float(usd[positions["side"] == "short"].sum()),
            "cross_usd": float(usd[positions["margin_mode"] == "cross"].sum()),
            "isolated_usd": float(usd[positions["margin_mode"] == "isolated"].sum())}


def as_levels(positions: pd.DataFrame) -> pd.DataFrame:
    """Positions as active level rows (side, liq_price, notional_usd, leverage tier, status), the shape
    `views.liquidation_map` and `views.clusters` take."""
    found = priced(positions)
    return pd.DataFrame({"side": found["side"].astype(str).to_numpy(), "liq_price": found["liq_price"].to_numpy(float),
                         "notional_usd": found["position_usd"].to_numpy(float),
                         "leverage": tier_of(found["leverage"].to_numpy(float)), "status": "active"})


def distributions(positions: pd.DataFrame, price: float) -> pd.DataFrame:
    """USD and counts per side over buckets of set leverage (x) and of distance to liquidation (% of
    `price`). Columns: kind (leverage | distance_pct), side, bucket_low, bucket_high, usd, positions."""
    parts = []
    found = priced(positions)
    for kind, frame, values, edges in (
            ("leverage", positions, positions["leverage"].to_numpy(float), LEVERAGE_EDGES),
            ("distance_pct", found, np.abs(found["liq_price"].to_numpy(float) / price - 1) * 100, DISTANCE_EDGES_PCT)):
        bucket = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
        for side in ("long", "short"):
            mine = (frame["side"] == side).to_numpy()
            usd = np.bincount(bucket[mine], weights=frame["position_usd"].to_numpy(float)[mine], minlength=len(edges) - 1)
            count = np.bincount(bucket[mine], minlength=len(edges) - 1)
            parts.append(pd.DataFrame({"kind": kind, "side": side, "bucket_low": edges[:-1], "bucket_high": edges[1:],
                                       "usd": usd, "positions": count}))
    return pd.concat(parts, ignore_index=True)


def side_profiles(levels: pd.DataFrame, price: float, width: float, window_pct: float = 15.0) -> dict[str, np.ndarray]:
    """USD per bin of each side's half-window: long bins from price × (1 − w) up to the price, short bins
    from the price up to price × (1 + w). `levels`: side, liq_price, notional_usd."""
    low, mid, high = (int(np.floor(p / width)) for p in (price * (1 - window_pct / 100), price, price * (1 + window_pct / 100)))
    spans = {"long": (low, mid), "short": (mid, high + 1)}
    out = {}
    for side, (first, stop) in spans.items():
        mine = levels[levels["side"] == side]
        bins = np.floor(mine["liq_price"].to_numpy(float) / width).astype(np.int64) - first
        keep = (bins >= 0) & (bins < stop - first)
        out[side] = np.bincount(bins[keep], weights=mine["notional_usd"].to_numpy(float)[keep], minlength=stop - first)
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norm) if norm > 0 else float("nan")


def similarity(estimated: pd.DataFrame, measured: pd.DataFrame, price: float, width: float, window_pct: float = 15.0) -> pd.DataFrame:
    """Per side: bins compared, Spearman and cosine of the estimated vs measured USD profiles, and each
    profile's USD in the window. Both frames: side, liq_price, notional_usd (active levels / positions)."""
    est, meas = side_profiles(estimated, price, width, window_pct), side_profiles(measured, price, width, window_pct)
    rows = []
    for side in ("long", "short"):
        a, b = est[side], meas[side]
        usable = a.any() and b.any()
        rows.append({"side": side, "bins": len(a), "spearman": spearman(a, b) if usable else float("nan"),
                     "cosine": cosine(a, b) if usable else float("nan"),
                     "estimated_usd": float(a.sum()), "measured_usd": float(b.sum())})
    return pd.DataFrame(rows)


def leverage_mix(positions: pd.DataFrame, leverages: tuple[int, ...]) -> tuple[float, ...]:
    """USD share of the positions per model leverage (nearest in log space); equal shares without positions."""
    if positions.empty:
        return tuple(1.0 / len(leverages) for _ in leverages)
    logs = np.log(np.asarray(leverages, float))
    nearest = np.abs(np.log(np.maximum(positions["leverage"].to_numpy(float), 1.0))[:, None] - logs[None, :]).argmin(axis=1)
    usd = np.bincount(nearest, weights=positions["position_usd"].to_numpy(float), minlength=len(leverages))
    total = usd.sum()
    return tuple(float(u / total) for u in usd) if total > 0 else tuple(1.0 / len(leverages) for _ in leverages)


def inferred_liquidations(before: pd.DataFrame, after: pd.DataFrame, low: float, high: float) -> pd.DataFrame:
    """Positions of snapshot `before` missing from `after` (same address, symbol and side) whose liquidation
    price the market reached between the two (`low`/`high`: the extremes of the bars in between).
    Columns: address, symbol, side, liq_price, usd, inferred (always True)."""
    columns = ["address", "symbol", "side", "liq_price", "usd", "inferred"]
    found = priced(before)
    if found.empty:
        return pd.DataFrame(columns=columns)
    key = ["address", "symbol", "side"]
    still = found.merge(after[key].drop_duplicates(), on=key, how="left", indicator=True)["_merge"].eq("both").to_numpy()
    liq = found["liq_price"].to_numpy(float)
    reached = np.where(found["side"].to_numpy() == "long", low <= liq, high >= liq)
    gone = found[~still & reached]
    return pd.DataFrame({"address": gone["address"].to_numpy(), "symbol": gone["symbol"].to_numpy(), "side": gone["side"].to_numpy(),
                         "liq_price": gone["liq_price"].to_numpy(float), "usd": gone["position_usd"].to_numpy(float),
                         "inferred": True}, columns=columns)
