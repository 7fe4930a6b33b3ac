"""Bar-by-bar reference of the objective engine, written the way a Pine script runs.

On each bar, in order: expire levels whose age reached the expiry, fill levels the bar's range
trades through (long: low ≤ price, short: high ≥ price; highest long / lowest short first), shrink
the active notional when OI falls, then create the bar's new levels at its close. It shares only
`compute_activity` (activity/baseline series) and the liquidation-price formulas with the fast
engine; the event rules, sides, sizes, fills, expiry and shrink are re-implemented here with
scalars and heaps.
"""

from __future__ import annotations

import bisect
import heapq
import math

import numpy as np
import pandas as pd

from indicators.objective import LEVEL_COLUMNS, ObjectiveParams, compute_activity, empty_levels, level_price


def reference_levels(bars: pd.DataFrame, params: ObjectiveParams, *, venue="all", symbol="", tiers=None, as_of_end=None) -> pd.DataFrame:
    ts_all = bars["ts"].to_numpy(dtype="datetime64[ns]")
    if as_of_end is not None:
        keep = ts_all < np.datetime64(as_of_end, "ns")
        bars, ts_all = bars[keep], ts_all[keep]
    n = len(bars)
    if n == 0:
        return empty_levels()
    end = np.datetime64(as_of_end, "ns") if as_of_end is not None else ts_all[-1] + (ts_all[-1] - ts_all[-2] if n > 1 else np.timedelta64(1, "h"))
    act = compute_activity(bars, params)
    highs, lows = bars["high"].to_numpy(float), bars["low"].to_numpy(float)
    opens, closes = bars["open"].to_numpy(float), bars["close"].to_numpy(float)
    expiry = np.timedelta64(int(params.expiry_hours * 3600 * 1e9), "ns")
    k_small, k_medium, k_large = (t * params.sensitivity for t in params.thresholds)

    levels: list[dict] = []
    long_heap: list[tuple[float, int]] = []  # (-price, level number): highest long first
    short_heap: list[tuple[float, int]] = []  # (price, level number): lowest short first
    shrink_product = 1.0
    products: list[float] = []  # running product of the shrink factors through each bar
    for j in range(n):
        ts = ts_all[j]
        # fills (a level popped after its expiry was expired, not filled)
        while long_heap and -long_heap[0][0] >= lows[j]:
            _, m = heapq.heappop(long_heap)
            _close(levels[m], ts, j, shrink_product)
        while short_heap and short_heap[0][0] <= highs[j]:
            _, m = heapq.heappop(short_heap)
            _close(levels[m], ts, j, shrink_product)
        shrink_product *= act.shrink[j]
        products.append(shrink_product)
        # events
        a, b = act.activity[j], act.baseline[j]
        if params.every_bar:  # oi_volume: every bar with volume; the score only classifies the size
            if not act.notional[j] > 0:
                continue
            score = a / b if not (math.isnan(b) or b <= 0) else 0.0
        else:
            if math.isnan(a) or math.isnan(b) or b <= 0 or not act.notional[j] > 0:
                continue
            score = a / b
            if not score > k_small:
                continue
        size_class = "large" if score >= k_large else "medium" if score >= k_medium else "small"
        if params.sides == "both":
            sides = ["long", "short"]
        else:
            d = act.delta[j]
            if math.isnan(d) or d == 0:
                sides = ["long"] if closes[j] >= opens[j] else ["short"]
            else:
                sides = ["long"] if d > 0 else ["short"]
        for side in sides:
            for leverage, share in zip(params.leverages, params.tier_shares):
                priced = level_price(side, np.float64(act.base[j]), leverage, params, venue, tiers)
                if priced is None or share == 0:
                    continue
                price, model = float(priced[0]), priced[1]
                level = {
                    "venue": venue, "symbol": symbol, "side": side, "leverage": leverage, "created_ts": ts,
                    "base_price": act.base[j], "liq_price": price,
                    "initial_notional_usd": act.notional[j] * share if params.leverage_weights else act.notional[j] / len(params.leverages),
                    "size_class": size_class, "expires_ts": ts + expiry, "liq_model": model,
                    "_shrink_at_creation": shrink_product, "_closed": None,
                }
                levels.append(level)
                heapq.heappush(long_heap if side == "long" else short_heap, (-price if side == "long" else price, len(levels) - 1))

    ts_list = list(ts_all)
    rows = []
    for level in levels:
        closed = level.pop("_closed")
        at_creation = level.pop("_shrink_at_creation")
        if closed is not None and closed[0] < level["expires_ts"]:
            fill_ts, product_before = closed
            level.update(filled_ts=fill_ts, status="filled",
                         notional_usd=level["initial_notional_usd"] * product_before / at_creation)
        else:
            last_live = bisect.bisect_left(ts_list, level["expires_ts"]) - 1
            product = products[last_live]
            level.update(filled_ts=np.datetime64("NaT", "ns"),
                         status="expired" if level["expires_ts"] <= end else "active",
                         notional_usd=level["initial_notional_usd"] * product / at_creation)
        rows.append(level)
    if not rows:
        return empty_levels()
    out = pd.DataFrame(rows)[LEVEL_COLUMNS]
    for c in ("created_ts", "filled_ts", "expires_ts"):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    return out


def _close(level: dict, ts, j: int, product_before_bar: float) -> None:
    level["_closed"] = (ts, product_before_bar)
