"""Assemble the level-quality scorecard of one symbol over a date range from the warehouse (or an
external level file): windows, realized liquidations, every model and the three baselines."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from indicators import quality
from indicators.objective import PRESETS
from pipelines.lib.margin import ALL_VENUES, default_price_for
from pipelines.lib.market import INTERVAL_SECONDS, load_klines, price_venue
from pipelines.lib.watchlist import DEFAULT_INTERVAL

DEFAULT_WINDOW = "30min"  # never finer than the bars: window_for() widens it to one bar
LOOKBACK = dt.timedelta(days=31)  # levels and placebo levels standing at the start of the range
REPORT_COLUMNS = ["windows", "days", "realized_usd", "spearman_long", "spearman_short", "spearman_pooled",
                  "spearman_pooled_ci_low", "spearman_pooled_ci_high", "capture_top10", "capture_top10_ci_low",
                  "capture_top10_ci_high", "partial_rank"]


def window_for(requested: str, interval: str, realized_interval: str | None = None) -> str:
    """The requested window, or the bar interval when the bars are coarser (their range cannot be split),
    or the bar of aggregated realized liquidations when that is coarser still (a sum cannot be split)."""
    floors = [i for i in (interval, realized_interval) if i]
    coarsest = max(floors, key=lambda i: INTERVAL_SECONDS[i])
    return requested if quality.window_length(requested) >= pd.Timedelta(seconds=INTERVAL_SECONDS[coarsest]) else coarsest


REALIZED_CHOICES = ("auto", "events", "aggregates")


@dataclass(frozen=True)
class Realized:
    """Realized liquidations to score against: `events` (ts, side, usd) and where they come from."""

    events: pd.DataFrame
    source: str  # events | aggregates | none
    description: str
    interval: str | None = None  # bar of the aggregates: windows are never finer

    @property
    def usd(self) -> float:
        return float(self.events["usd"].sum()) if len(self.events) else 0.0


def load_realized(con, symbol: str, start: dt.datetime, end: dt.datetime, prefer: str = "auto",
                  history_start: dt.datetime | None = None) -> Realized:
    """Realized liquidations of `symbol`: single events from raw.liquidations, or aggregated bars from
    raw.liquidation_history (one row per side and bar, at the bar's open).

    The choice is made on the scored range [start, end); the rows come from [history_start, end)
    (default `start`) of the same source, venue and interval. `auto` takes the aggregates when the
    range has any (they cover every venue the aggregator sees, while recorded streams are
    undercounts), else the events. Of several aggregating venues the one with the most USD in the
    range is used and of several intervals the finest, never a sum of them (an aggregator such as
    Coinglass already includes the venues it covers). Events of unknown side are left out.
    """
    if prefer not in REALIZED_CHOICES:
        raise ValueError(f"realized must be one of {', '.join(REALIZED_CHOICES)}, got {prefer!r}")
    since = history_start or start
    if prefer in ("auto", "aggregates"):
        found = con.execute(
            "select venue, interval, sum(long_usd + short_usd) as usd from raw.liquidation_history "
            "where symbol = ? and ts >= ? and ts < ? group by venue, interval having sum(long_usd + short_usd) > 0",
            [symbol, start, end]).fetchall()
        if found:
            venue = max({v for v, _, _ in found}, key=lambda v: sum(u for w, _, u in found if w == v))
            interval = min((i for v, i, _ in found if v == venue), key=INTERVAL_SECONDS.get)
            bars = con.execute("select ts, long_usd, short_usd from raw.liquidation_history where venue = ? and symbol = ? "
                               "and interval = ? and ts >= ? and ts < ? order by ts", [venue, symbol, interval, since, end]).fetch_df()
            events = pd.concat([pd.DataFrame({"ts": bars["ts"], "side": side, "usd": bars[f"{side}_usd"]}) for side in quality.SIDES],
                               ignore_index=True)
            events = events[events["usd"] > 0].sort_values("ts", kind="stable").reset_index(drop=True)
            return Realized(events, "aggregates", f"aggregates: raw.liquidation_history, {venue} {interval} bars", interval)
        if prefer == "aggregates":
            return Realized(pd.DataFrame(columns=["ts", "side", "usd"]), "none", "no aggregated liquidations (raw.liquidation_history)")
    events = con.execute("select ts, side, usd, venue from raw.liquidations where symbol = ? and ts >= ? and ts < ? "
                         "and side in ('long', 'short') order by ts", [symbol, since, end]).fetch_df()
    in_range = int((pd.to_datetime(events["ts"]) >= pd.Timestamp(start)).sum()) if len(events) else 0
    if in_range == 0:
        return Realized(pd.DataFrame(columns=["ts", "side", "usd"]), "none", "no realized liquidations of known side")
    venues = ", ".join(sorted(events["venue"].unique()))
    return Realized(events[["ts", "side", "usd"]], "events", f"events: raw.liquidations, {venues} ({in_range:,} events)")


def warehouse_models(con, symbol: str, start: dt.date, end: dt.date, pool_venue: str | None, interval: str) -> dict[str, pd.DataFrame]:
    """Levels of each stored model standing during [start, end], known at the close of their bar."""
    lag = pd.Timedelta(seconds=INTERVAL_SECONDS[interval])  # only for rows stored before known_ts existed
    objective = con.execute(
        # a level stored on several days is scored as first stored (the calibrated preset re-sizes its levels
        # with each day's fit: a later day's size would be look-ahead, and any_value took either, by row order)
        "select preset, level_id, arg_min(coalesce(known_ts, created_ts + to_seconds(?)), as_of) as created_ts, "
        "arg_min(side, as_of) as side, arg_min(liq_price, as_of) as price, "
        "arg_min(initial_notional_usd, as_of) as size, arg_min(expires_ts, as_of) as expires_ts from levels.objective "
        # ordered: a hash aggregate's row order varies run to run, and predictions add sizes in row order
        # (float sums): unordered, a rerun could flip tied windows' ranks (seen on 7-window spans)
        "where symbol = ? and venue = ? and as_of between ? and ? group by preset, level_id order by preset, level_id",
        [int(lag.total_seconds()), symbol, ALL_VENUES, start, end]).fetch_df()
    # `created_ts` of a scored level is the time it became known (the close of its bar): never before.
    models = {f"objective:{preset}": group.drop(columns=["preset", "level_id"]) for preset, group in objective.groupby("preset")}
    pools = con.execute(
        "select pool_id, arg_min(coalesce(known_ts, created_ts + to_seconds(?)), as_of) as created_ts, arg_min(side, as_of) as side, "
        "arg_min(price, as_of) as price, arg_min(weight, as_of) as size "
        "from levels.behavioral where symbol = ? and venue = ? and as_of between ? and ? group by pool_id order by pool_id",
        [int(lag.total_seconds()), symbol, pool_venue, start, end]).fetch_df()
    if len(pools):
        pools["side"] = pools["side"].map({"sell-side": "long", "buy-side": "short"})
        models["behavioral"] = pools.drop(columns=["pool_id"])
    return models


GROUP_COLUMNS = ("method", "preset", "venue")  # a level file that holds several models is scored per group


def file_levels(path: str) -> dict[str, pd.DataFrame]:
    """An external level file (CSV or Parquet): created_ts (or known_ts), side (long/short), price,
    notional_usd — as {model name: levels}.

    A file that mixes methods, presets or venues (e.g. our own level files) is split into one model
    per (method, preset, venue) group, named `file:<method>:<preset>:<venue>`: scoring them as one
    would count positions twice. Behavioral rows are sized by their `weight`. A row without a size
    is refused with the rows named, not scored as zero.
    """
    frame = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
    time_column = "known_ts" if "known_ts" in frame.columns else "created_ts"
    missing = {time_column, "side", "price", "notional_usd"} - set(frame.columns)
    if missing:
        raise ValueError(f"level file {path}: missing column(s) {', '.join(sorted(missing))}")
    if frame.empty:
        raise ValueError(f"level file {path}: no rows")
    bad = ~frame["side"].isin(["long", "short"])
    if bad.any():
        raise ValueError(f"level file {path}: field 'side' must be long or short, got {sorted(set(frame.loc[bad, 'side'].astype(str)))[:5]}")
    size = pd.to_numeric(frame["notional_usd"], errors="coerce")
    if "method" in frame.columns and "weight" in frame.columns:
        size = size.where(frame["method"] != "behavioral", pd.to_numeric(frame["weight"], errors="coerce"))
    price = pd.to_numeric(frame["price"], errors="coerce")
    unsized = ~(size > 0) | ~(price > 0)
    if unsized.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(unsized.to_numpy())[:5])
        raise ValueError(f"level file {path}: {int(unsized.sum())} rows without a positive notional_usd (or weight for "
                         f"behavioral rows) or price, e.g. line(s) {rows}: refusing to score them as zero")
    created = pd.to_datetime(frame[time_column], utc=True).dt.tz_convert(None)
    levels = pd.DataFrame({"created_ts": created, "side": frame["side"], "price": price.astype(float), "size": size.astype(float)})
    groups = [c for c in GROUP_COLUMNS if c in frame.columns]
    if not groups:
        return {"external": levels}
    keys = frame[groups].astype(str).agg(":".join, axis=1)
    return {f"file:{key}": group for key, group in levels.groupby(keys, sort=True)}


def check_window(window: str | None, bar_interval: str) -> str:
    """A scoring window: a pandas offset no finer than the candles (windows cannot split a bar)."""
    if window is None:
        return bar_interval
    try:
        length = quality.window_length(window)
    except ValueError:
        raise ValueError(f"--window {window!r} is not a duration (e.g. 1h, 4h, 1d)") from None
    if length < pd.Timedelta(seconds=INTERVAL_SECONDS[bar_interval]):
        raise ValueError(f"--window {window} is finer than the {bar_interval} candles: windows cannot split a bar; "
                         f"use --window {bar_interval} or longer")
    if length % pd.Timedelta(seconds=INTERVAL_SECONDS[bar_interval]):
        raise ValueError(f"--window {window} is not a whole number of {bar_interval} bars")
    return window


def scorecard(con, symbol: str, venues: list[str], start: dt.date, end: dt.date, window: str = DEFAULT_WINDOW,
              external: pd.DataFrame | dict[str, pd.DataFrame] | None = None, resamples: int = 200,
              interval: str = DEFAULT_INTERVAL, realized: str = "auto") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(report: one row per model and baseline, the scored windows, predictions per model).

    Scores the windows of [start, end]; levels and placebo levels come from up to 31 days before, so
    touches before the range are seen. Realized liquidations: see `load_realized`; the report's
    `attrs["realized"]` says which were used.
    """
    range_start = dt.datetime.combine(start, dt.time())
    range_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
    history_start = range_start - LOOKBACK
    truth = load_realized(con, symbol, range_start, range_end, realized, history_start)
    if truth.source == "none" and external is None:  # nothing to score: skip loading candles and levels (most nights of the bundle)
        names = [f"objective:{p}" for p in PRESETS] + ["behavioral", "range_only", "fixed_bands", "placebo"]
        report = pd.DataFrame({"days": (end - start).days + 1, "realized_usd": 0.0}, index=names).reindex(columns=REPORT_COLUMNS)
        report.attrs.update(window=window_for(window, interval, truth.interval), realized=truth.description)
        return report, pd.DataFrame(), {}
    venue = price_venue(con, symbol, venues, interval, range_start, range_end)
    if venue is None:
        return pd.DataFrame(columns=REPORT_COLUMNS), pd.DataFrame(), {}
    bars = load_klines(con, venue, symbol, interval, history_start, range_end)
    bars["ts"] = bars["ts"].astype("datetime64[ns]")
    events = truth.events
    window = window_for(window, interval, truth.interval)
    windows = quality.make_windows(bars, events, window)
    in_range = (windows["start"] >= pd.Timestamp(range_start)).to_numpy()
    if isinstance(external, pd.DataFrame):
        external = {"external": external}
    models = external if external is not None else warehouse_models(con, symbol, start, end, venue, interval)
    scored = windows[in_range].reset_index(drop=True)
    names = [*models, "range_only", "fixed_bands", "placebo"]
    if scored["long_usd"].sum() + scored["short_usd"].sum() <= 0:  # nothing realized: nothing to score, the rows say so
        rows = {name: {"windows": len(scored), "days": scored["day"].nunique(), "realized_usd": 0.0} for name in names}
        report = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=REPORT_COLUMNS)
        report.attrs.update(window=window, realized=truth.description)
        return report, scored, {}
    placebo_levels = quality.placebo(bars, default_price_for(symbol, end), PRESETS["default"].leverages,
                                     pd.Timedelta(seconds=INTERVAL_SECONDS[interval]), quality.PLACEBO_EXPIRY)
    predictions = {name: quality.predictions(levels, windows)[in_range].reset_index(drop=True) for name, levels in models.items()}
    predictions["range_only"] = quality.range_only(scored)
    predictions["fixed_bands"] = quality.predictions(quality.fixed_bands(bars), windows)[in_range].reset_index(drop=True)
    predictions["placebo"] = quality.predictions(placebo_levels, windows)[in_range].reset_index(drop=True)
    rows = {name: quality.score(pred, scored, resamples=resamples) for name, pred in predictions.items()}
    report = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=REPORT_COLUMNS)
    report.attrs.update(window=window, realized=truth.description)
    return report, scored, predictions


def scorecard_chart(scored: pd.DataFrame, predictions: dict, model: str, title: str) -> bytes:
    """Predicted vs realized per window (log-log) and the capture curve of every model."""
    from pipelines.lib import chart_style as style

    fig, (left, right) = style.figure(5.0, ncols=2)
    for side, colour in (("long", style.LONG), ("short", style.SHORT)):
        left.scatter(predictions[model][f"{side}_pred"] + 1, scored[f"{side}_usd"] + 1, s=10, color=colour, label=side)
    left.set_xscale("log"), left.set_yscale("log")
    left.set_xlabel(f"predicted USD ({model}) + 1"), left.set_ylabel("realized liquidation USD + 1")
    left.set_title("each window: prediction vs what followed")
    left.legend()
    for name, pred in predictions.items():
        right.plot(*quality.capture_curve(pred, scored), label=name, linewidth=2 if name == model else 1.0)
    right.plot([0, 1], [0, 1], color="grey", linestyle=":")
    right.set_xlabel("share of windows (highest prediction first)"), right.set_ylabel("share of realized USD")
    right.set_title("capture curves")
    right.legend(loc="lower right", ncol=2)
    for ax in (left, right):
        ax.grid(alpha=0.25)
    fig.suptitle(title)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.86, wspace=0.25)
    return style.png(fig)
