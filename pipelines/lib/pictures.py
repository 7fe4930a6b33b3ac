"""What a picture needs, read from the warehouse (`picture_job`), and the heat cells it draws, computed
from levels at the bars' own interval (`range_cells`, pure: it runs in a worker process).

Rules chosen where the issue is silent:
- A heatmap over N days ending on day D shows, for each bar, the levels as they stood on that bar's
  own day (`levels.objective` as of that day), so a band starts when its position opened and ends
  when it was filled or expired, and nothing is drawn after D's last bar.
- Its price bins are 0.1 % of D's first open, the same rule as `levels.heatmap`, so a picture of D
  is the same whichever run (one night or a backfill) drew it.
- The map and max-pain marks are the stored `levels.liquidation_map` and `levels.max_pain` of D.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from indicators.objective import PRESETS
from indicators.views import bin_width, heatmap
from pipelines.lib.margin import ALL_VENUES
from pipelines.lib.market import INTERVAL_SECONDS, load_klines, price_venue

BIN_PCT = 0.1  # the heatmap table's bin, in % of the end day's first open
VIEW_PRESET = "default"
LEVEL_COLUMNS = "as_of, side, liq_price, notional_usd, created_ts, filled_ts, expires_ts"


@dataclasses.dataclass(frozen=True)
class PictureSettings:
    """Which heatmaps to draw: `heatmap.png` over `days` for every exported day, and for the run's last
    day also `heatmap_<N>d.png` for each of `extra_days`; `scale` is `log` or `quantile`."""

    days: int = 7
    extra_days: tuple[int, ...] = (30,)
    scale: str = "log"

    def __post_init__(self):
        if self.days < 1 or any(n < 1 for n in self.extra_days):
            raise ValueError(f"heatmap ranges must be at least one day, got {self.days} and {list(self.extra_days)}")
        if self.scale not in ("log", "quantile"):
            raise ValueError(f"heatmap scale must be 'log' or 'quantile', got {self.scale!r}")

    def ranges(self, last_of_run: bool) -> dict[str, int]:
        out = {"heatmap.png": self.days}
        if last_of_run:
            out.update({f"heatmap_{n}d.png": n for n in self.extra_days if n != self.days})
        return out


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def picture_job(con, spec, day: dt.date, settings: PictureSettings, last_of_run: bool) -> dict | None:
    """Everything `charts.render_pictures` draws for one symbol-day, or None when no venue has the
    symbol's candles on that day."""
    ranges = settings.ranges(last_of_run)
    first = day - dt.timedelta(days=max(ranges.values()) - 1)
    start, end = _start(first), _start(day + dt.timedelta(days=1))
    venue = price_venue(con, spec.symbol, list(spec.listings), spec.interval, _start(day), end)
    if venue is None:
        return None
    bars = load_klines(con, venue, spec.symbol, spec.interval, start, end)[["ts", "open", "high", "low", "close"]]
    levels = con.execute(
        f"select {LEVEL_COLUMNS} from levels.objective where as_of between ? and ? and symbol = ? and preset = ? and venue = ? "
        "order by as_of, level_id", [first, day, spec.symbol, VIEW_PRESET, ALL_VENUES]).fetch_df()
    # the estimated map: the measured one has its own picture (measured_vs_estimated.png)
    rows = con.execute("select * from levels.liquidation_map where as_of = ? and symbol = ? and source = 'estimated' order by bin_low",
                       [day, spec.symbol]).fetch_df()
    pain = con.execute("select * from levels.max_pain where as_of = ? and symbol = ? and source = 'estimated'", [day, spec.symbol]).fetch_df()
    seen = con.execute("select count(*) from raw.klines where venue = ? and symbol = ? and interval = ? and ts < ?",
                       [venue, spec.symbol, spec.interval, end]).fetchone()[0]
    needed = PRESETS[VIEW_PRESET].baseline_bars
    return {
        "measured": measured_job(con, spec.symbol, day),
        "symbol": spec.symbol, "day": day, "interval": spec.interval, "bar_seconds": INTERVAL_SECONDS[spec.interval],
        "scale": settings.scale, "ranges": ranges, "levels": levels, "bars": bars, "map": rows,
        "max_pain": pain.iloc[0].to_dict() if len(pain) else None,
        "close": float(bars["close"].iloc[-1]),
        "empty_note": f"no levels yet (warm-up: {seen} {spec.interval} bars of {venue} candles so far, "
                      f"the model's baseline needs {needed})",
    }


def measured_job(con, symbol: str, day: dt.date) -> dict | None:
    """What the measured-vs-estimated picture needs for the day's last Hyperliquid snapshot, or None."""
    from indicators.measured import as_levels
    from pipelines.lib.measured_day import VENUE, last_snapshot, standing

    snapshot = con.execute("select snapshot_ts, price, addresses_read, addresses_failed, positions from levels.measured_snapshots "
                           "where as_of = ? and symbol = ? order by snapshot_ts desc limit 1", [day, symbol]).fetchone()
    if snapshot is None:
        return None
    moment = pd.Timestamp(snapshot[0])
    estimated = con.execute("select side, liq_price, notional_usd, known_ts, filled_ts, expires_ts from levels.objective "
                            "where as_of = ? and symbol = ? and venue = ? and preset = ? order by level_id",
                            [day, symbol, VENUE, VIEW_PRESET]).fetch_df()
    similarity = con.execute("select side, spearman, cosine from levels.measured_similarity where as_of = ? and symbol = ? "
                             "and snapshot_ts = ? and preset = ?", [day, symbol, snapshot[0], VIEW_PRESET]).fetch_df()
    width = con.execute("select max(bin_high - bin_low) from levels.measured where as_of = ? and symbol = ?", [day, symbol]).fetchone()[0]
    return {"estimated": standing(estimated, moment)[["side", "liq_price", "notional_usd"]], "measured": as_levels(last_snapshot(con, symbol, day)),
            "price": float(snapshot[1]), "width": float(width) if width else float(snapshot[1]) * BIN_PCT / 100,
            "similarity": similarity, "moment": moment, "coverage": (snapshot[2], snapshot[3], snapshot[4])}


def range_cells(levels: pd.DataFrame, bars: pd.DataFrame, end_day: dt.date, days: int, bar_seconds: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, bars) of the `days` days ending on `end_day`: each bar's cells from the levels as of
    the bar's own day, binned at 0.1 % of `end_day`'s first open. Columns of cells: ts, bin_low,
    bin_high, long_usd, short_usd (USD)."""
    first = end_day - dt.timedelta(days=days - 1)
    shown = bars[(bars["ts"] >= _start(first)) & (bars["ts"] < _start(end_day + dt.timedelta(days=1)))].reset_index(drop=True)
    today = shown[shown["ts"] >= _start(end_day)]
    reference = float((today if len(today) else shown)["open"].iloc[0])
    width, bar = bin_width(reference, BIN_PCT), pd.Timedelta(seconds=bar_seconds)
    day_of_bar = shown["ts"].dt.date
    level_day = pd.to_datetime(levels["as_of"]).dt.date
    parts = []
    for as_of, group in levels[level_day >= first].groupby(level_day, sort=True):
        starts = pd.DatetimeIndex(shown.loc[day_of_bar == as_of, "ts"])
        if len(starts):
            parts.append(heatmap(group, starts, width, bar))
    parts = [p for p in parts if len(p)]
    cells = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["ts", "bin_low", "bin_high", "long_usd", "short_usd"])
    return cells, shown


def render_pictures(job: dict) -> dict[str, bytes]:
    """{file name: PNG} of one symbol-day. Runs in a worker process, so it lives in `lib`, away from
    Dagster: a worker imports no Dagster (no warnings in its output)."""
    from pipelines.lib.charts import heatmap_chart, liquidation_map_chart

    out = {}
    for name, days in job["ranges"].items():
        cells, bars = range_cells(job["levels"], job["bars"], job["day"], days, job["bar_seconds"])
        span = f"{days} days" if days > 1 else "1 day"
        title = f"{job['symbol']} liquidation heatmap, {span} to {job['day']} ({job['interval']} bars, default preset, all venues)"
        out[name] = heatmap_chart(cells, bars, title, job["bar_seconds"], job["scale"], job["empty_note"])
    measured = job.get("measured")
    if measured is not None:
        from pipelines.lib import chart_style as style
        from pipelines.lib.charts import measured_figure

        read, failed, positions = measured["coverage"]
        out["measured_vs_estimated.png"] = style.png(measured_figure(
            measured["estimated"], measured["measured"], measured["price"], measured["width"],
            f"{job['symbol']} on Hyperliquid at {measured['moment']:%Y-%m-%d %H:%M} UTC: estimated vs measured "
            f"({positions} positions, {read} accounts read, {failed} failed)", measured["similarity"]))
    out["liquidation_map.png"] = liquidation_map_chart(
        job["map"], job["close"], f"{job['symbol']} liquidation map as of {job['day']} close (default preset, all venues)",
        job["max_pain"], job["empty_note"])
    return out
