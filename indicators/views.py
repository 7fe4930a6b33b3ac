"""Coinglass-style views over level tables: heatmap, liquidation map, clusters, max pain, and
statistics of realized liquidations. Pure pandas/numpy.

Units: prices and USD as in the level tables; bins are absolute price widths derived from a
reference price (default 0.1 % of it); times naive UTC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TIERS = (10, 25, 50, 100)
STAT_WINDOWS_HOURS = (1, 4, 12, 24)


def bin_width(reference_price: float, bin_pct: float = 0.1) -> float:
    """Width of a price bin: `bin_pct` percent of the reference price (0.1 % by default)."""
    if reference_price <= 0 or bin_pct <= 0:
        raise ValueError("reference price and bin_pct must be > 0")
    return reference_price * bin_pct / 100.0


def _bins(prices: np.ndarray, width: float) -> np.ndarray:
    return np.floor(prices / width).astype(np.int64)


def heatmap(levels: pd.DataFrame, hours: pd.DatetimeIndex, width: float,
            bucket: pd.Timedelta = pd.Timedelta(hours=1)) -> pd.DataFrame:
    """USD of active long and short levels per time bucket (an hour by default; a picture uses the
    bars' own interval) and price bin.

    A level counts in the bucket starting at h when it was created before the bucket ends
    (created_ts < h + bucket: the creating bar has closed), is not filled before it ends and has not
    expired by then. It counts with its as-of notional. Columns: ts (bucket start), bin_low,
    bin_high, long_usd, short_usd.
    """
    columns = ["ts", "bin_low", "bin_high", "long_usd", "short_usd"]
    if levels.empty or len(hours) == 0:
        return pd.DataFrame(columns=columns)
    created = levels["created_ts"].to_numpy("datetime64[ns]")
    filled = levels["filled_ts"].to_numpy("datetime64[ns]")
    expires = levels["expires_ts"].to_numpy("datetime64[ns]")
    ends = (hours + bucket).to_numpy("datetime64[ns]")
    active = (created[None, :] < ends[:, None]) & (np.isnat(filled)[None, :] | (filled[None, :] >= ends[:, None])) \
        & (expires[None, :] > ends[:, None])
    hour_idx, level_idx = np.nonzero(active)
    frame = pd.DataFrame({
        "ts": hours.to_numpy("datetime64[ns]")[hour_idx],
        "bin": _bins(levels["liq_price"].to_numpy(float), width)[level_idx],
        "long_usd": np.where(levels["side"].to_numpy()[level_idx] == "long", levels["notional_usd"].to_numpy(float)[level_idx], 0.0),
        "short_usd": np.where(levels["side"].to_numpy()[level_idx] == "short", levels["notional_usd"].to_numpy(float)[level_idx], 0.0),
    })
    out = frame.groupby(["ts", "bin"], as_index=False)[["long_usd", "short_usd"]].sum()
    out.insert(1, "bin_low", out.pop("bin") * width)
    out.insert(2, "bin_high", out["bin_low"] + width)
    return out[columns]


def liquidation_map(levels: pd.DataFrame, close: float, width: float) -> pd.DataFrame:
    """Coinglass' liquidation map as of a close: per price bin the long and short USD, the
    cumulative long USD from the close down to the bin and short USD from the close up to it, and
    USD per leverage tier (both sides). Only active levels count."""
    columns = ["bin_low", "bin_high", "long_usd", "short_usd", "long_cum_usd", "short_cum_usd", *[f"usd_{t}x" for t in TIERS]]
    active = levels[levels["status"] == "active"]
    if active.empty:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame({
        "bin": _bins(active["liq_price"].to_numpy(float), width),
        "long_usd": np.where(active["side"] == "long", active["notional_usd"], 0.0),
        "short_usd": np.where(active["side"] == "short", active["notional_usd"], 0.0),
        **{f"usd_{t}x": np.where(active["leverage"] == t, active["notional_usd"], 0.0) for t in TIERS},
    })
    out = frame.groupby("bin").sum().sort_index().reset_index()
    out.insert(0, "bin_low", out.pop("bin") * width)
    out.insert(1, "bin_high", out["bin_low"] + width)
    below = out["bin_low"] < close
    long_cum = out["long_usd"].where(below, 0.0)[::-1].cumsum()[::-1]  # from the close downwards
    short_cum = out["short_usd"].where(~below, 0.0).cumsum()  # from the close upwards
    out["long_cum_usd"] = long_cum.where(below, 0.0)
    out["short_cum_usd"] = short_cum.where(~below, 0.0)
    return out[columns]


def clusters(objective: pd.DataFrame, pools: pd.DataFrame, gap: float, method: str = "objective") -> pd.DataFrame:
    """Neighbouring levels merged into zones, per side: objective long levels with sell-side pools
    (below price: where longs get stopped/liquidated), objective short levels with buy-side pools.
    Levels join a zone while the gap to the previous level is at most `gap` (price units).
    Columns: side, price_low, price_high, price_mid (USD-weighted, else weight-weighted), usd,
    weight, count, tiers, methods. `method` names the first family (`measured` for real positions)."""
    columns = ["side", "price_low", "price_high", "price_mid", "usd", "weight", "count", "tiers", "methods"]
    parts = [
        pd.DataFrame({"side": objective["side"].astype(str), "price": objective["liq_price"].astype(float),
                      "usd": objective["notional_usd"].astype(float), "weight": 0.0,
                      "tier": objective["leverage"].astype(str) + "x", "method": method}),
        pd.DataFrame({"side": np.where(pools["side"].astype(str) == "sell-side", "long", "short"), "price": pools["price"].astype(float),
                      "usd": 0.0, "weight": pools["weight"].astype(float), "tier": "", "method": "behavioral"}),
    ]
    levels = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else pd.DataFrame()
    if levels.empty:
        return pd.DataFrame(columns=columns)
    zones = []
    for side, group in levels.sort_values(["side", "price"], kind="stable").groupby("side", sort=True):
        zone_id = (group["price"].diff() > gap).cumsum()
        for _, zone in group.groupby(zone_id):
            mass = zone["usd"] if zone["usd"].sum() > 0 else zone["weight"]
            mid = float(np.average(zone["price"], weights=mass)) if mass.sum() > 0 else float(zone["price"].mean())
            mid = min(max(mid, zone["price"].min()), zone["price"].max())  # a weighted mean can round 1 ulp outside
            zones.append({
                "side": side, "price_low": zone["price"].min(), "price_high": zone["price"].max(), "price_mid": mid,
                "usd": zone["usd"].sum(), "weight": zone["weight"].sum(), "count": len(zone),
                "tiers": ",".join(sorted({t for t in zone["tier"] if t}, key=lambda t: int(t[:-1]))),
                "methods": ",".join(sorted(set(zone["method"]))),
            })
    return pd.DataFrame(zones, columns=columns)


def max_pain(zones: pd.DataFrame, close: float) -> dict:
    """Strongest long zone (USD) below the close and short zone above it, with their distance in %."""
    def strongest(side: str, where) -> tuple:
        candidates = zones[(zones["side"] == side) & where(zones["price_mid"]) & (zones["usd"] > 0)]
        if candidates.empty:
            return None, None, None
        best = candidates.loc[candidates["usd"].idxmax()]
        return float(best["price_mid"]), float(best["usd"]), (float(best["price_mid"]) / close - 1) * 100

    long_price, long_usd, long_pct = strongest("long", lambda p: p < close)
    short_price, short_usd, short_pct = strongest("short", lambda p: p > close)
    return {"close": close, "long_price": long_price, "long_usd": long_usd, "long_distance_pct": long_pct,
            "short_price": short_price, "short_usd": short_usd, "short_distance_pct": short_pct}


def liquidation_stats(events: pd.DataFrame, hours: pd.DatetimeIndex) -> pd.DataFrame:
    """Rolling 1/4/12/24 h totals of realized liquidations at the end of each hour, per venue and
    across venues ('all'). `events`: venue, ts, side, usd. Columns: ts (hour end), venue,
    window_hours, long_usd, short_usd, unknown_usd, count. Windows are [end − w, end)."""
    columns = ["ts", "venue", "window_hours", "long_usd", "short_usd", "unknown_usd", "count"]
    ends = (hours + pd.Timedelta(hours=1)).to_numpy("datetime64[ns]")
    parts = []
    for venue, group in [("all", events)] + list(events.groupby("venue")):
        group = group.sort_values("ts")
        ts = group["ts"].to_numpy("datetime64[ns]")
        usd = group["usd"].to_numpy(float)
        cumulative = {side: np.concatenate([[0.0], np.cumsum(np.where(group["side"].to_numpy() == side, usd, 0.0))])
                      for side in ("long", "short", "unknown")}
        upper = np.searchsorted(ts, ends, side="left")
        for window in STAT_WINDOWS_HOURS:
            lower = np.searchsorted(ts, ends - np.timedelta64(window, "h"), side="left")
            parts.append(pd.DataFrame({
                "ts": ends, "venue": venue, "window_hours": window,
                **{f"{side}_usd": cumulative[side][upper] - cumulative[side][lower] for side in ("long", "short", "unknown")},
                "count": upper - lower,
            }))
    return pd.concat(parts, ignore_index=True)[columns]


def largest_liquidations(events: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The `top` largest single liquidations (by USD), ranked 1..top."""
    out = events.sort_values(["usd", "ts"], ascending=[False, True]).head(top).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out
