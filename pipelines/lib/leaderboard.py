"""Assemble the model leaderboard of one symbol from the warehouse: bars with OI (summed and per
venue), realized liquidations (events or aggregates), every registered model, a time split."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from indicators import leaderboard, quality
from indicators.models import ModelInputs, registry
from pipelines.lib.margin import ALL_VENUES, default_price_for, margin_tiers
from pipelines.lib.market import INTERVAL_SECONDS, bars_with_total_oi, load_klines, load_open_interest, price_venue
from pipelines.lib.scorecard import DEFAULT_WINDOW, LOOKBACK, load_realized, window_for
from pipelines.lib.watchlist import AGGREGATOR_VENUES

ROLLING_DAYS = 30  # the nightly leaderboard: the 30 days ending on the as-of day


class NothingToScore(ValueError):
    """No realized liquidations, no candles, or too few days of truth to split."""


@dataclass(frozen=True)
class Leaderboard:
    table: pd.DataFrame  # one row per model and part (train, test)
    windows: pd.DataFrame  # the test windows
    predictions: dict[str, pd.DataFrame]  # per model, on the test windows
    window: str
    realized: str
    price_venue: str
    seconds: float

    @property
    def verdict(self) -> str:
        return leaderboard.leaderboard_verdict(self.table)

    def split_line(self) -> str:
        (a, b), (c, d) = self.table.attrs["train"], self.table.attrs["test"]
        return f"tuned on {a} → {b}, reported on {c} → {d} (first test day {self.table.attrs['first_test_day']})"


def model_inputs(con, symbol: str, venues: list[str], interval: str, start: dt.datetime, end: dt.datetime, day: dt.date,
                 ) -> tuple[ModelInputs, str] | None:
    """Bars of the symbol's first priced venue with OI summed over venues, each venue's OI, the
    default preset's liquidation geometry; None without candles."""
    venue = price_venue(con, symbol, venues, interval, start, end)
    if venue is None:
        return None
    klines = load_klines(con, venue, symbol, interval, start, end)
    oi = load_open_interest(con, symbol, interval, start, end)
    oi = oi[~oi["venue"].isin(AGGREGATOR_VENUES)]
    bars = bars_with_total_oi(klines, oi)
    if "taker_buy_volume" in bars:
        bars["taker_buy_volume"] = pd.to_numeric(bars["taker_buy_volume"], errors="coerce").astype(float)
    venue_bars = {v: bars_with_total_oi(klines, g) for v, g in oi.groupby("venue")}  # the same gap rule as the sum
    return ModelInputs(bars=bars, venue_bars=venue_bars, bar=pd.Timedelta(seconds=INTERVAL_SECONDS[interval]),
                       price_for=default_price_for(symbol, day),
                       tiers_for=partial(margin_tiers, ALL_VENUES, symbol, day)), venue


@dataclass(frozen=True)
class Prepared:
    """Everything a leaderboard computes from, read from the warehouse: plain frames and names, so the
    computation can run in a worker process (`compute`) while the asset keeps the one DuckDB writer."""

    symbol: str
    day: dt.date  # the as-of day: the liquidation geometry in force
    interval: str
    venue: str  # where the bars' prices come from
    bars: pd.DataFrame
    venue_bars: dict[str, pd.DataFrame]
    windows: pd.DataFrame
    scored: np.ndarray
    first_test: dt.date
    models: tuple[str, ...]
    window: str
    realized: str
    resamples: int
    positions: pd.DataFrame | None = None  # measured snapshots of the symbol (Hyperliquid scans), if any
    calibrated: object | None = None  # the calibrated preset fitted before the first test day, if any


def prepare(con, symbol: str, venues: list[str], start: dt.date, end: dt.date, interval: str, window: str = DEFAULT_WINDOW,
            split: dt.date | None = None, realized: str = "auto", resamples: int = 200,
            models: list[str] | None = None) -> Prepared:
    """Read what the leaderboard of [start, end] needs. Raises NothingToScore when there is nothing to score."""
    range_start = dt.datetime.combine(start, dt.time())
    range_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
    history_start = range_start - LOOKBACK
    truth = load_realized(con, symbol, range_start, range_end, realized, history_start)
    if truth.source == "none":
        raise NothingToScore(f"{symbol}: {truth.description} in {start} → {end}: nothing to score")
    loaded = model_inputs(con, symbol, venues, interval, history_start, range_end, end)
    if loaded is None:
        raise NothingToScore(f"{symbol}: no {interval} candles in {start} → {end}")
    inputs, venue = loaded
    window = window_for(window, interval, truth.interval)
    windows = quality.make_windows(inputs.bars, truth.events, window)
    scored = (windows["start"] >= pd.Timestamp(range_start)).to_numpy() & (windows["start"] < pd.Timestamp(range_end)).to_numpy()
    truth_days = leaderboard.realized_days(windows, scored)
    if split is None and len(truth_days) < 2:
        raise NothingToScore(f"{symbol}: realized liquidations on {len(truth_days)} day(s) of {start} → {end}: "
                             "a time split needs at least 2")
    chosen = registry()
    first_test = split or leaderboard.default_split(truth_days)
    positions, calibrated = measured_inputs(con, symbol, venues, history_start, range_end, first_test)
    # Models without their data are left out, not scored as empty: no scans, no calibration before the split.
    chosen = {name: model for name, model in chosen.items()
              if not (name == "measured" and positions is None) and not (name == "objective:calibrated" and calibrated is None)}
    if models:
        unknown = sorted(set(models) - set(chosen))
        if unknown:
            raise ValueError(f"unknown model(s) {', '.join(unknown)}: expected some of {', '.join(chosen)}")
        chosen = {name: m for name, m in chosen.items() if name in models or m.kind == "baseline"}
    return Prepared(symbol, end, interval, venue, inputs.bars, inputs.venue_bars, windows, scored,
                    first_test, tuple(chosen), window, truth.description, resamples, positions, calibrated)


def measured_inputs(con, symbol: str, venues: list[str], start: dt.datetime, end: dt.datetime, first_test: dt.date):
    """(the symbol's measured positions in [start, end) with their scan's end, the calibrated preset fitted
    on the snapshots before `first_test`), each None when there is none."""
    from pipelines.lib.measured_day import VENUE, calibrated_params, calibration_for

    if VENUE not in venues:
        return None, None
    positions = con.execute(
        "select p.snapshot_ts, s.scan_end, p.side, p.liq_price, p.position_usd from raw.positions p join raw.position_scans s "
        "using (venue, snapshot_ts) where p.venue = ? and p.symbol = ? and p.snapshot_ts >= ? and p.snapshot_ts < ? "
        "order by p.snapshot_ts, p.address", [VENUE, symbol, start, end]).fetch_df()
    fitted = calibration_for(con, symbol, first_test)
    return (positions if len(positions) else None), (calibrated_params(fitted) if fitted else None)


def compute(prepared: Prepared) -> Leaderboard:
    """The leaderboard from what `prepare` read: every chosen model tuned on the training days, scored
    on both parts. Pure (no warehouse): runs in a worker process as well as here."""
    began = time.perf_counter()
    p = prepared
    inputs = ModelInputs(bars=p.bars, venue_bars=p.venue_bars, bar=pd.Timedelta(seconds=INTERVAL_SECONDS[p.interval]),
                         price_for=default_price_for(p.symbol, p.day),
                         tiers_for=partial(margin_tiers, ALL_VENUES, p.symbol, p.day), windows=p.windows,
                         positions=p.positions, calibrated=p.calibrated)
    chosen = {name: model for name, model in registry().items() if name in p.models}
    table, predictions = leaderboard.evaluate(chosen, inputs, p.windows, p.scored, p.first_test, resamples=p.resamples)
    test_windows = p.windows[p.scored & (p.windows["day"].to_numpy() >= p.first_test)].reset_index(drop=True)
    return Leaderboard(table, test_windows, predictions, p.window, p.realized, p.venue, time.perf_counter() - began)


def build(con, symbol: str, venues: list[str], start: dt.date, end: dt.date, interval: str, window: str = DEFAULT_WINDOW,
          split: dt.date | None = None, realized: str = "auto", resamples: int = 200, models: list[str] | None = None) -> Leaderboard:
    """The leaderboard of [start, end], read and computed here. Raises NothingToScore when there is nothing to score."""
    return compute(prepare(con, symbol, venues, start, end, interval, window, split, realized, resamples, models))


def _short(params: str) -> str:
    return params.replace(".0,", ",").removesuffix(".0")


def format_table(board: Leaderboard, symbol: str, width: int = 100) -> str:
    """The leaderboard as a person reads it: test part, best partial rank first, within `width` columns."""
    import math
    import textwrap

    def num(value, w=7):
        return f"{value:>{w}.3f}" if isinstance(value, float) and math.isfinite(value) else f"{'-':>{w}}"

    t = board.table
    test = t[t["part"] == "test"].set_index("model")
    train = t[t["part"] == "train"].set_index("model")
    order = test.sort_values("partial_rank", ascending=False, na_position="last", kind="stable").index
    lines = [f"Leaderboard {symbol}: {board.window} windows, {board.realized}",
             f"  {board.split_line()}",
             f"  {'model':<22}{'train':>7} {'test: spearman':>15}{'capture':>8}{'lift':>6}{'partial':>8}  {'95 % interval':<16}params"]
    for name in order:
        row = test.loc[name]
        interval = f"[{num(row['partial_rank_ci_low'], 6).strip()}, {num(row['partial_rank_ci_high'], 6).strip()}]"
        line = (f"  {name[:22]:<22}{num(train.loc[name, 'partial_rank'])} {num(row['spearman_pooled'], 15)}{num(row['capture_top10'], 8)}"
                f"{num(row['lift_vs_range'], 6)[-6:]}{num(row['partial_rank'], 8)}  {interval:<16}{_short(row['params'])}")
        lines.append(line[:width])
    lines.append(f"  (train and partial: partial rank beyond the window's own move; lift: capture / range_only's; {board.seconds:.1f} s)"[:width])
    lines += textwrap.wrap(f"=> {board.verdict}", width, subsequent_indent="   ")
    return "\n".join(lines)


def markdown(board: Leaderboard, symbol: str) -> str:
    """Every column of both parts, for exports/leaderboard/<symbol>.md."""
    columns = ["model", "part", "params", "candidates", *leaderboard.METRICS, "lift_vs_range"]
    return "\n".join([f"# Leaderboard {symbol}", "", f"- windows: {board.window}", f"- realized: {board.realized}",
                      f"- prices: {board.price_venue} candles", f"- split: {board.split_line()}", f"- verdict: **{board.verdict}**", "",
                      board.table[columns].round(4).to_markdown(index=False), ""])


def chart(board: Leaderboard, symbol: str) -> bytes:
    """Capture curves on the test part, and partial rank with its 95 % interval per model (train dot, test bar)."""
    from pipelines.lib import chart_style as style

    plt = style.pyplot()
    fig, (left, right) = style.figure(5.4, ncols=2)
    t = board.table
    test = t[t["part"] == "test"].set_index("model").sort_values("partial_rank", na_position="first", kind="stable")
    palette = plt.get_cmap("tab20").colors  # 15+ models: no two share a colour
    for number, (name, pred) in enumerate(board.predictions.items()):
        line = {"linestyle": "--", "linewidth": 1.6} if test.loc[name, "kind"] == "baseline" else {"linewidth": 1.2}
        left.plot(*quality.capture_curve(pred, board.windows), label=name, color=palette[number % len(palette)], **line)
    left.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
    left.set_xlabel("share of test windows (highest prediction first)", fontsize=10)
    left.set_ylabel("share of realized USD", fontsize=10)
    left.set_title("capture curves, held-out part", fontsize=11)
    left.legend(loc="lower right", ncol=2)
    y = np.arange(len(test))
    colours = [{"baseline": "#7f8c8d", "measured": "#8e44ad"}.get(k, "#2471a3") for k in test["kind"]]  # measured: real positions
    low = (test["partial_rank"] - test["partial_rank_ci_low"]).clip(lower=0).fillna(0)
    high = (test["partial_rank_ci_high"] - test["partial_rank"]).clip(lower=0).fillna(0)
    right.barh(y, test["partial_rank"].fillna(0), xerr=[low, high], color=colours, alpha=0.8, error_kw={"linewidth": 1})
    train = t[t["part"] == "train"].set_index("model").reindex(test.index)
    right.scatter(train["partial_rank"], y, color="#e67e22", zorder=3, s=18, label="train (tuning) part")
    if "placebo" in test.index:
        right.axvline(test.loc["placebo", "partial_rank"], color="#c0392b", linestyle="--", linewidth=1, label="placebo (test)")
    right.set_yticks(y, test.index, fontsize=9)
    right.set_xlabel("partial rank beyond the window's own move\n(bars: test part with its 95 % day-bootstrap interval)", fontsize=10)
    right.set_title("partial rank per model", fontsize=11)
    right.legend(loc="lower right")
    for ax in (left, right):
        ax.tick_params(labelsize=9)
        ax.grid(alpha=0.25)
    fig.suptitle(f"{symbol} leaderboard: {board.split_line()}", fontsize=11)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.88, wspace=0.38)
    return style.png(fig)
