"""Bar-by-bar reference of the behavioral pools, written the way the Pine original runs: on each
bar create the bar's pools by testing every one of the 100 cells, then sweep every standing pool
against the bar (new ones included). Shares only `compute_series` (the rolling inputs) with the
fast engine."""

import heapq

import numpy as np
import pandas as pd

from indicators.behavioral import POOL_COLUMNS, BehavioralParams, compute_series, empty_pools


def reference_pools(bars: pd.DataFrame, params: BehavioralParams = BehavioralParams(), *, venue="", symbol="") -> pd.DataFrame:
    n = len(bars)
    if n < 2:
        return empty_pools()
    ts = bars["ts"].to_numpy("datetime64[ns]")
    high, low = bars["high"].to_numpy(float).tolist(), bars["low"].to_numpy(float).tolist()
    s = compute_series(bars, params)
    first = 1 if params.create_on == "all" else max(1, n - params.lookback)
    pools: list[list] = []
    above: list[tuple[float, int]] = []  # min-heap: lowest buy-side pool is swept first
    below: list[tuple[float, int]] = []  # max-heap by price: highest sell-side pool first
    for t in range(1, n):
        if t >= first and not (np.isnan(s.weight[t]) or np.isnan(s.displacement[t])) and s.top[t] > s.bottom[t]:
            d, w = float(s.displacement[t]), float(s.weight[t])
            step = (s.top[t] - s.bottom[t]) / params.grid
            mids = [s.bottom[t] + step * (i + 0.5) for i in range(params.grid)]
            if high[t] >= high[t - 1]:
                for m in mids:
                    if abs(high[t] + d - m) <= step:
                        pools.append(["buy-side", ts[t], m, w, None])
                        heapq.heappush(above, (m, len(pools) - 1))
            if low[t] <= low[t - 1]:
                for m in mids:
                    if abs(low[t] - d - m) <= step:
                        pools.append(["sell-side", ts[t], m - d, w, None])
                        heapq.heappush(below, (-(m - d), len(pools) - 1))
        while above and high[t] > above[0][0]:
            pools[heapq.heappop(above)[1]][4] = ts[t]
        while below and low[t] < -below[0][0]:
            pools[heapq.heappop(below)[1]][4] = ts[t]
    if not pools:
        return empty_pools()
    out = pd.DataFrame(pools, columns=["side", "created_ts", "price", "weight", "swept_ts"])
    out.insert(0, "venue", venue)
    out.insert(1, "symbol", symbol)
    out["created_ts"] = pd.to_datetime(out["created_ts"]).astype("datetime64[ns]")
    out["swept_ts"] = pd.to_datetime(out["swept_ts"]).astype("datetime64[ns]")
    return out[POOL_COLUMNS]
