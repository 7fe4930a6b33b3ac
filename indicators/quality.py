"""Level quality scorecard: do levels standing before a window predict the liquidations in it?

For each window (default 30 minutes; never finer than the bars) a level counts when it was known
before the window started (`created_ts` ≤ window start) and price had not touched it since —
touches recomputed from the bars, never taken from the level's own `filled_ts`. The window's
predicted long (short) USD is the size of the standing long (short) levels inside the window's
traded range [low, high]; it is compared with the realized long (short) liquidation USD.

Metrics (NaN where undefined, e.g. a constant series):
- Spearman rank correlation per side and pooled (long and short windows stacked);
- top-decile capture: share of realized USD in the 10 % of windows with the highest prediction
  (ties share the cut-off proportionally, so a constant prediction captures exactly 0.10);
- partial rank correlation of prediction and realized after removing what the window's own move
  away from the open explains (its range);
- 95 % intervals by resampling whole days (percentile bootstrap, seeded).

Baselines scored next to every model: `range_only` (each window predicted by its own move away
from the open), `fixed_bands` (levels at each day's open × (1 ∓ 1/L)), and `placebo` (equal-size
levels at every bar's close with the objective engine's leverage geometry, no OI information,
expiring after `PLACEBO_EXPIRY`).
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from indicators._crossing import first_at_or_below, push_until

SIDES = ("long", "short")
# The placebo's age limit: fixed, so the baseline does not move when a model's own expiry is tuned.
PLACEBO_EXPIRY = pd.Timedelta(days=30)


def window_length(window: str | pd.Timedelta) -> pd.Timedelta:
    """A window such as "30min", "1h" or "1d" as a Timedelta (a day written "1d" like the bar intervals)."""
    if isinstance(window, pd.Timedelta):
        return window
    text = str(window)
    return pd.Timedelta(text[:-1] + "D" if text.endswith("d") and text[:-1].isdigit() else text)


def make_windows(bars: pd.DataFrame, events: pd.DataFrame, window: str = "30min") -> pd.DataFrame:
    """Windows of `window` from bars (ts = bar open) and realized events (ts, side, usd).

    Columns: start, day, open, high, low, long_usd, short_usd. Raises when the bars are coarser
    than the window (their range cannot be split).
    """
    step = window_length(window)
    ts = pd.to_datetime(bars["ts"])
    bar_step = ts.diff().median() if len(ts) > 1 else step
    if bar_step > step:
        raise ValueError(f"window {window} is finer than the bars ({bar_step}); use a window of at least the bar interval")
    grouped = bars.assign(start=ts.dt.floor(step)).groupby("start")
    windows = pd.DataFrame({"open": grouped["open"].first(), "high": grouped["high"].max(), "low": grouped["low"].min()})
    realized = events.assign(start=pd.to_datetime(events["ts"]).dt.floor(step))
    for side in SIDES:
        windows[f"{side}_usd"] = realized[realized["side"] == side].groupby("start")["usd"].sum().reindex(windows.index, fill_value=0.0)
    windows = windows.reset_index()
    windows["day"] = windows["start"].dt.date
    return windows[["start", "day", "open", "high", "low", "long_usd", "short_usd"]]


@numba.njit(cache=True)
def _first_touch(values, starts, prices):
    """For levels sorted by start: first window j >= start with values[j] <= price, else -1."""
    n = values.shape[0]
    stack = np.empty(n, dtype=np.int64)
    size, next_push = 0, n - 1
    out = np.full(starts.shape[0], -1, dtype=np.int64)
    for m in range(starts.shape[0] - 1, -1, -1):
        if starts[m] < n:
            size, next_push = push_until(values, stack, size, next_push, starts[m])
            out[m] = first_at_or_below(values, stack, size, prices[m])
    return out


def predictions(levels: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """Predicted long/short size per window from `levels` (created_ts, side, price, size[, expires_ts][,
    half_life_h]).

    A level counts once, in the first window whose range reaches it (if that window starts before it
    expires), with its size; with `half_life_h` (hours, per level) the size is first decayed to that
    window's start: size × 2^(−(window start − created_ts) / half-life).
    """
    out = {"long_pred": np.zeros(len(windows)), "short_pred": np.zeros(len(windows))}
    if levels.empty or windows.empty:
        return pd.DataFrame(out)
    starts = windows["start"].to_numpy("datetime64[ns]")
    lows, highs = windows["low"].to_numpy(float), windows["high"].to_numpy(float)
    for side in SIDES:
        chosen = levels[levels["side"] == side]
        first = np.searchsorted(starts, chosen["created_ts"].to_numpy("datetime64[ns]"), side="left")
        order = np.argsort(first, kind="stable")
        prices = chosen["price"].to_numpy(float)[order]
        if side == "long":
            touch = _first_touch(lows, first[order], prices)
        else:
            touch = _first_touch(-highs, first[order], -prices)
        sizes = chosen["size"].to_numpy(float)[order]
        valid = touch >= 0
        if "expires_ts" in chosen:
            expires = chosen["expires_ts"].to_numpy("datetime64[ns]")[order]
            valid &= ~(starts[np.maximum(touch, 0)] >= expires)
        inside = valid & (prices >= lows[np.maximum(touch, 0)]) & (prices <= highs[np.maximum(touch, 0)])
        if "half_life_h" in chosen:
            created = chosen["created_ts"].to_numpy("datetime64[ns]")[order]
            age_h = (starts[np.maximum(touch, 0)] - created) / np.timedelta64(1, "h")
            sizes = sizes * np.exp2(-np.maximum(age_h, 0.0) / chosen["half_life_h"].to_numpy(float)[order])
        np.add.at(out[f"{side}_pred"], touch[inside], sizes[inside])
    return pd.DataFrame(out)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    return _average_ranks(np.ascontiguousarray(values, dtype=np.float64))


@numba.njit(cache=True)
def _ranks_in_order(values, order):
    """`_average_ranks(values)` given its stable ascending `order`."""
    n = values.shape[0]
    ranks = np.empty(n)
    i = 0
    while i < n:
        j = i
        while j + 1 < n and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


@numba.njit(cache=True)
def _average_ranks(values):
    return _ranks_in_order(values, np.argsort(values, kind="mergesort"))


@numba.njit(cache=True)
def _pearson(a, b):
    da, db = a - a.mean(), b - b.mean()
    sa, sb = np.sqrt((da * da).sum()), np.sqrt((db * db).sum())
    if sa == 0.0 or sb == 0.0:
        return np.nan
    return min(1.0, max(-1.0, (da * db).sum() / (sa * sb)))


@numba.njit(cache=True)
def _rank_correlations(x, y, z):
    """(ρ(x, y), ρ(x, z), ρ(y, z)) from one ranking of each series."""
    rx, ry, rz = _average_ranks(x), _average_ranks(y), _average_ranks(z)
    return _pearson(rx, ry), _pearson(rx, rz), _pearson(ry, rz)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either side is constant."""
    if len(x) < 3:
        return float("nan")
    return float(_pearson(average_ranks(x), average_ranks(y)))


@numba.njit(cache=True)
def _partial(rxy: float, rxz: float, ryz: float) -> float:
    denominator = np.sqrt((1 - rxz**2) * (1 - ryz**2))
    # x or y ranked (almost) exactly like z leaves nothing to correlate: undefined, not 0
    # (clipped: the three coefficients come from one rank matrix, so only rounding can leave [-1, 1])
    if not denominator > 1e-6:
        return np.nan
    value = (rxy - rxz * ryz) / denominator
    return value if np.isnan(value) else min(1.0, max(-1.0, value))


def partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Rank correlation of x and y with z's (rank) influence removed from both."""
    if len(x) < 3:
        return float("nan")
    as_float = (np.ascontiguousarray(v, dtype=np.float64) for v in (x, y, z))
    return _partial(*_rank_correlations(*as_float))


def top_decile_capture(prediction: np.ndarray, realized: np.ndarray, fraction: float = 0.10) -> float:
    """Share of realized USD in the `fraction` of windows with the highest prediction; a group of
    tied predictions straddling the cut-off contributes the fraction of it that fits."""
    total = realized.sum()
    if len(prediction) == 0 or total <= 0:
        return float("nan")
    k = fraction * len(prediction)
    _, inverse, counts = np.unique(-np.asarray(prediction, float), return_inverse=True, return_counts=True)  # highest first
    sums = np.bincount(inverse, weights=realized, minlength=len(counts))
    before = np.cumsum(counts) - counts
    taken = np.clip((k - before) / counts, 0.0, 1.0)
    return float((taken * sums).sum() / total)


def capture_curve(pred: pd.DataFrame, windows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(share of windows, share of realized USD) with windows taken highest prediction first, long
    and short pooled: the curve whose height at 0.10 is the top-decile capture."""
    p = np.concatenate([pred["long_pred"].to_numpy(float), pred["short_pred"].to_numpy(float)])
    realized = np.concatenate([windows["long_usd"].to_numpy(float), windows["short_usd"].to_numpy(float)])
    order = np.argsort(-p, kind="stable")
    return np.arange(1, len(p) + 1) / len(p), np.cumsum(realized[order]) / max(realized.sum(), 1e-12)


def _metrics(pred_long, pred_short, windows) -> dict:
    real_long, real_short = windows["long_usd"].to_numpy(float), windows["short_usd"].to_numpy(float)
    move_long = (windows["open"] - windows["low"]).to_numpy(float)
    move_short = (windows["high"] - windows["open"]).to_numpy(float)
    pred, real, move = (np.concatenate(p) for p in ((pred_long, pred_short), (real_long, real_short), (move_long, move_short)))
    return {
        "spearman_long": spearman(pred_long, real_long), "spearman_short": spearman(pred_short, real_short),
        "spearman_pooled": spearman(pred, real), "capture_top10": top_decile_capture(pred, real),
        "partial_rank": partial_spearman(pred, real, move),
    }


@numba.njit(cache=True)
def _block_sum(a, lo, hi):
    """numpy's sum of a block of at most 128 values: sequential below 8, else 8 running sums."""
    n = hi - lo
    if n < 8:
        total = 0.0
        for i in range(lo, hi):
            total += a[i]
        return total
    r = a[lo:lo + 8].copy()
    i = lo + 8
    while i < hi - (n % 8):
        for j in range(8):
            r[j] += a[i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < hi:
        total += a[i]
        i += 1
    return total


@numba.njit(cache=True)
def _pairwise_sum(a, lo, hi):
    """numpy's own summation of a[lo:hi] (halves split at a multiple of 8 down to blocks of 128): the
    same bits as `ndarray.sum()`, so a compiled metric equals its numpy original exactly. Iterative
    (an explicit stack): numba's cache cannot reload a recursive function."""
    los, his = np.empty(64, np.int64), np.empty(64, np.int64)
    stage, values = np.zeros(64, np.int64), np.empty(64)
    top, count = 0, 0
    los[0], his[0] = lo, hi
    while top >= 0:
        l, h = los[top], his[top]
        if h - l <= 128:
            values[count] = _block_sum(a, l, h)
            count += 1
            top -= 1
            continue
        half = (h - l) // 2
        half -= half % 8
        if stage[top] < 2:  # first the left half, then the right one
            start = l if stage[top] == 0 else l + half
            stop = l + half if stage[top] == 0 else h
            stage[top] += 1
            top += 1
            los[top], his[top], stage[top] = start, stop, 0
        else:
            values[count - 2] = values[count - 2] + values[count - 1]
            count -= 1
            top -= 1
    return values[0]


@numba.njit(cache=True)
def _capture_in_order(pred, real, order, total, fraction):
    """`top_decile_capture` (finite predictions) from pred's stable ascending `order`: groups of ties from the top, each summed
    in its original order (a stable sort keeps ties in index order, ascending or descending)."""
    n = pred.shape[0]
    if n == 0 or total <= 0:
        return np.nan
    k = fraction * n
    taken_usd = np.zeros(n)
    groups = 0
    before = 0
    i = n - 1
    while i >= 0:
        j = i
        while j - 1 >= 0 and pred[order[j - 1]] == pred[order[i]]:
            j -= 1
        usd = 0.0
        for q in range(j, i + 1):
            usd += real[order[q]]
        count = i - j + 1
        taken_usd[groups] = min(1.0, max(0.0, (k - before) / count)) * usd
        groups += 1
        before += count
        i = j - 1
    return _pairwise_sum(taken_usd, 0, groups) / total


@numba.njit(cache=True)
def _truth_ranks(real, move, flat, offsets):
    """Per draw, the ranks of realized USD and of the move (flat, as `flat`), their correlation and the
    draw's total USD: the same for every model scored on these windows, so computed once."""
    draws = offsets.shape[0] - 1
    rank_real, rank_move = np.empty(flat.shape[0]), np.empty(flat.shape[0])
    ryz, totals = np.empty(draws), np.empty(draws)
    for d in range(draws):
        a, b = offsets[d], offsets[d + 1]
        r, m = real[flat[a:b]], move[flat[a:b]]
        rank_real[a:b] = _average_ranks(r)
        rank_move[a:b] = _average_ranks(m)
        ryz[d] = _pearson(rank_real[a:b], rank_move[a:b])
        totals[d] = _pairwise_sum(r, 0, b - a)
    return rank_real, rank_move, ryz, totals


@numba.njit(cache=True)
def _bootstrap(pred, real, rank_real, rank_move, ryz, totals, flat, offsets):
    """Per draw (rows flat[offsets[d]:offsets[d + 1]]): pooled Spearman, top-decile capture, partial rank;
    one sort of the model's predictions per draw, the truth's ranks shared (`_truth_ranks`)."""
    draws = offsets.shape[0] - 1
    out = np.empty((draws, 3))
    for d in range(draws):
        a, b = offsets[d], offsets[d + 1]
        p, r = pred[flat[a:b]], real[flat[a:b]]
        order = np.argsort(p, kind="mergesort")
        rp = _ranks_in_order(p, order)
        rxy, rxz = _pearson(rp, rank_real[a:b]), _pearson(rp, rank_move[a:b])
        out[d, 0] = rxy
        out[d, 1] = _capture_in_order(p, r, order, totals[d], 0.10)
        out[d, 2] = _partial(rxy, rxz, ryz[d])
    return out


_TRUTH: dict[tuple, tuple] = {}


def _truth(real: np.ndarray, move: np.ndarray, flat: np.ndarray, offsets: np.ndarray) -> tuple:
    key = (real.tobytes(), move.tobytes(), flat.tobytes(), offsets.tobytes())
    if key not in _TRUTH:
        if len(_TRUTH) >= 8:
            _TRUTH.pop(next(iter(_TRUTH)))
        _TRUTH[key] = _truth_ranks(real, move, flat, offsets)
    return _TRUTH[key]


_DRAWS: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _draws(days: np.ndarray, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The day-bootstrap's rows (into the pooled long-then-short series) of every draw, flat with offsets.

    The same for every model scored on the same windows: drawn once and kept (a few entries), so a
    leaderboard of fifteen models resamples its days once per part.
    """
    stamps = np.asarray(days, dtype="datetime64[D]")  # by value: an object array's bytes are its pointers
    key = (stamps.tobytes(), resamples, seed)
    if key not in _DRAWS:
        unique_days = np.unique(days)
        rng = np.random.default_rng(seed)
        rows_by_day = {d: np.flatnonzero(days == d) for d in unique_days}
        n = len(days)
        parts = []
        for _ in range(resamples if len(unique_days) > 1 else 0):
            rows = np.concatenate([rows_by_day[d] for d in rng.choice(unique_days, len(unique_days))])
            parts.append(np.concatenate([rows, rows + n]))
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        flat = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
        if len(_DRAWS) >= 8:
            _DRAWS.pop(next(iter(_DRAWS)))
        _DRAWS[key] = (flat, offsets)
    return _DRAWS[key]


def score(pred: pd.DataFrame, windows: pd.DataFrame, resamples: int = 500, seed: int = 7) -> dict:
    """Metrics of one model's per-window predictions, with day-resampled 95 % intervals.

    Only the three metrics with intervals are resampled, in one compiled pass over index arrays into the
    pooled (long then short) series: the very numbers of recomputing each metric on copied frames per
    draw, for the same seed.
    """
    result = _metrics(pred["long_pred"].to_numpy(float), pred["short_pred"].to_numpy(float), windows)
    days = windows["day"].to_numpy()
    pooled_pred = np.concatenate([pred["long_pred"].to_numpy(float), pred["short_pred"].to_numpy(float)])
    pooled_real = np.concatenate([windows["long_usd"].to_numpy(float), windows["short_usd"].to_numpy(float)])
    pooled_move = np.concatenate([(windows["open"] - windows["low"]).to_numpy(float), (windows["high"] - windows["open"]).to_numpy(float)])
    flat, offsets = _draws(days, resamples, seed)
    if len(flat) and flat.max() >= len(pooled_pred):
        raise AssertionError("bootstrap rows outside the scored windows")  # compiled code does not check bounds
    if np.isfinite(pooled_pred).all():
        samples = _bootstrap(pooled_pred, pooled_real, *_truth(pooled_real, pooled_move, flat, offsets), flat, offsets)
    else:  # NaN predictions: the reference path, whose ranking and ties treat NaN as numpy does
        samples = np.array([_draw_metrics(pooled_pred[flat[a:b]], pooled_real[flat[a:b]], pooled_move[flat[a:b]])
                            for a, b in zip(offsets[:-1], offsets[1:])]).reshape(-1, 3)
    for column, key in enumerate(("spearman_pooled", "capture_top10", "partial_rank")):
        values = samples[:, column]
        values = values[np.isfinite(values)]
        result[f"{key}_ci_low"] = float(np.percentile(values, 2.5)) if len(values) else float("nan")
        result[f"{key}_ci_high"] = float(np.percentile(values, 97.5)) if len(values) else float("nan")
    result["windows"] = len(windows)
    result["days"] = len(np.unique(days))
    result["realized_usd"] = float(windows["long_usd"].sum() + windows["short_usd"].sum())
    return result


def _draw_metrics(pred: np.ndarray, real: np.ndarray, move: np.ndarray) -> tuple[float, float, float]:
    rxy, rxz, ryz = _rank_correlations(pred, real, move)
    return rxy, top_decile_capture(pred, real), _partial(rxy, rxz, ryz)


def range_only(windows: pd.DataFrame) -> pd.DataFrame:
    """Baseline (a): each window predicted by its own move away from the open, per side."""
    return pd.DataFrame({"long_pred": (windows["open"] - windows["low"]).to_numpy(float),
                         "short_pred": (windows["high"] - windows["open"]).to_numpy(float)})


def fixed_bands(bars: pd.DataFrame, leverages=(10, 25, 50, 100)) -> pd.DataFrame:
    """Baseline (b): every day, equal-size levels at the day's open × (1 ∓ 1/L), valid that day."""
    ts = pd.to_datetime(bars["ts"])
    opens = bars.assign(day=ts.dt.floor("D")).groupby("day")["open"].first()
    rows = []
    for day, price in opens.items():
        for L in leverages:
            for side, sign in (("long", -1), ("short", 1)):
                rows.append({"created_ts": day, "expires_ts": day + pd.Timedelta(days=1), "side": side,
                             "price": price * (1 + sign / L), "size": 1.0})
    return pd.DataFrame(rows)


def placebo(bars: pd.DataFrame, price_for, leverages, lag: pd.Timedelta, expiry: pd.Timedelta) -> pd.DataFrame:
    """Baseline (c): equal-size levels at every bar's close with the model's leverage geometry
    (`price_for(side, base, leverage)`), known `lag` after the bar opens, expiring like the model's."""
    created = pd.to_datetime(bars["ts"]).to_numpy("datetime64[ns]") + np.timedelta64(lag)
    closes = bars["close"].to_numpy(float)
    parts = []
    for side in SIDES:
        for L in leverages:
            prices = price_for(side, closes, L)
            if prices is None:
                continue
            parts.append(pd.DataFrame({"created_ts": created, "expires_ts": created + np.timedelta64(expiry), "side": side,
                                       "price": np.asarray(prices, float), "size": 1.0}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["created_ts", "side", "price", "size"])


def verdict(report: pd.DataFrame, model: str = "objective:default") -> str:
    """One plain sentence: does the model beat the price-only placebo?"""
    if model not in report.index or "placebo" not in report.index:
        return "no verdict: model or placebo missing"
    m, p = report.loc[model], report.loc["placebo"]
    if not m.get("realized_usd", 0) > 0:
        return "no verdict: no realized liquidations to score against"
    if not np.isfinite(m["spearman_pooled"]) or not np.isfinite(p["spearman_pooled"]):
        return f"no verdict: too few windows with liquidations ({m['windows']:.0f} windows, {m['days']:.0f} days)"
    better = m["spearman_pooled"] > p["spearman_pooled"] and m["capture_top10"] >= p["capture_top10"]
    clear = m["spearman_pooled_ci_low"] > p["spearman_pooled"]
    caveat = f" (only {m['days']:.0f} days, {m['windows']:.0f} windows: intervals are wide)" if m["days"] < 10 else ""
    if better and clear:
        return f"{model} beats the price-only placebo: open interest adds information here{caveat}"
    if better:
        return (f"{model} scores above the price-only placebo, but its 95 % interval includes the placebo's score: "
                f"not shown that open interest adds information{caveat}")
    return f"{model} does NOT beat the price-only placebo: no evidence that open interest adds information here{caveat}"
