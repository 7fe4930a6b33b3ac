"""Side from taker flow, calibrated to OI (`taker_side`).

Source: the E7 script's "side from taker delta sign" (anchors_indicators.md §3.1) and liqmap's OI
calibration (each side separately, since OI counts one long and one short per contract). Same
events and ΔOI sizes as `objective:oi_jumps`, but:

- **side**: `share` gives longs 2b and shorts 2(1 − b) of the bar's ΔOI, b = taker buy volume /
  volume; `sign` gives all of it to longs when taker buying dominates, to shorts otherwise. A bar
  without taker volume keeps both sides (b = 0.5), so without taker data the side rule is neutral;
- **calibration**: a side can never hold more notional than OI. Walking the bars in order, levels
  leave the side's standing book when price fills them or they expire; a bar's new levels are
  scaled down so that the side's standing notional does not exceed the bar's OI (USD). A bar
  without OI is not capped.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from indicators.models import Model, ModelInputs, equal_tiers, register, tier_rows
from indicators.models._events import EXPIRY_H, anchors, objective_events
from indicators.quality import _first_touch


@numba.njit(cache=True)
def calibrate(start_bar, end_bar, sizes, oi, n_bars):
    """Scaled sizes of one side's levels (sorted by `start_bar`, standing on [start, end)) so that the
    standing notional at each bar never exceeds `oi` there (NaN: no cap)."""
    leaving = np.zeros(n_bars + 1)
    out = np.empty_like(sizes)
    standing = 0.0
    m = 0
    count = sizes.shape[0]
    for t in range(n_bars):
        standing -= leaving[t]
        first = m
        new = 0.0
        while m < count and start_bar[m] == t:
            new += sizes[m]
            m += 1
        if m == first:
            continue
        factor = 1.0
        if not np.isnan(oi[t]) and standing + new > oi[t]:
            factor = max(oi[t] - standing, 0.0) / new
        for j in range(first, m):
            out[j] = sizes[j] * factor
            standing += out[j]
            leaving[min(end_bar[j], n_bars)] += out[j]
    return out


def calibrated_sizes(inputs: ModelInputs, rows: pd.DataFrame) -> np.ndarray:
    """`rows` sizes scaled so that each side's standing book stays within OI (see the module docstring)."""
    bars = inputs.bars
    ts = bars["ts"].to_numpy("datetime64[ns]")
    start = np.searchsorted(ts, rows["created_ts"].to_numpy("datetime64[ns]") - np.timedelta64(inputs.bar))  # the event bar
    expiry = np.searchsorted(ts, rows["expires_ts"].to_numpy("datetime64[ns]"), side="left")
    out = rows["size"].to_numpy(float).copy()
    oi = bars["oi_usd"].to_numpy(float)
    for side, values, sign in (("long", bars["low"].to_numpy(float), 1.0), ("short", -bars["high"].to_numpy(float), -1.0)):
        chosen = np.flatnonzero((rows["side"] == side).to_numpy())
        order = chosen[np.argsort(start[chosen], kind="stable")]
        fill = _first_touch(values, start[order] + 1, sign * rows["price"].to_numpy(float)[order])
        end = np.where(fill >= 0, np.minimum(fill, expiry[order]), expiry[order])
        out[order] = calibrate(start[order], end, out[order], oi, len(ts))
    return out


def taker_levels(inputs: ModelInputs, side_rule: str = "share", calibrate_to_oi: bool = True):
    idx, _, usd = objective_events(inputs.bars)
    bars = inputs.bars
    volume = bars["volume"].to_numpy(float)[idx]
    taker = bars["taker_buy_volume"].to_numpy(float)[idx] if "taker_buy_volume" in bars else np.full(len(idx), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.where(np.isfinite(taker) & (volume > 0), taker / volume, 0.5)
    if side_rule == "sign":
        long_share = np.where(b > 0.5, 1.0, np.where(b < 0.5, 0.0, 1.0))
        short_share = np.where(b < 0.5, 1.0, np.where(b > 0.5, 0.0, 1.0))
    else:
        long_share, short_share = 2 * b, 2 * (1 - b)
    rows = tier_rows(inputs, idx, anchors(inputs, idx, "close"), usd * long_share, usd * short_share, equal_tiers(), EXPIRY_H)
    if calibrate_to_oi and len(rows):
        rows["size"] = calibrated_sizes(inputs, rows)
        rows = rows[rows["size"] > 0].reset_index(drop=True)
    return rows


register(Model(name="taker_side", doc=__doc__, levels=taker_levels, defaults={"side_rule": "share", "calibrate_to_oi": True},
               grid={"side_rule": ("share", "sign"), "calibrate_to_oi": (True, False)}))
