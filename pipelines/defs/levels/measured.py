"""The measured map (Hyperliquid's real positions), the calibration fitted on it, and how the estimate
compares: levels/measured, levels/calibration, levels/measured_similarity. README "Measured positions"."""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from indicators import measured as m
from indicators.views import bin_width
from pipelines.defs.levels.views import _asset, _for_each_day, day_bounds
from pipelines.defs.resources import WatchlistResource
from pipelines.lib.market import price_klines
from pipelines.lib.measured_day import (BIN_PCT, COMPARED_PRESETS, VENUE, WINDOW_PCT, bar_length, fit_calibration, latest_snapshot,
                                        price_at, snapshots, standing)
from pipelines.lib.warehouse import replace_as_of

POSITIONS = ["raw", "positions"]
SNAPSHOT_COLUMNS = ["venue", "snapshot_ts", "scan_end", "kind", "price", "addresses_read", "addresses_failed", "positions",
                    "positions_without_liq", "long_usd", "short_usd", "cross_usd", "isolated_usd"]


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=columns)


@_asset("measured", [POSITIONS, ["raw", "klines"]],
        "The measured liquidation map of Hyperliquid symbols, per scan snapshot of the day: USD and counts of "
        "real long and short positions per liquidation-price bin (0.1 % of the day's first open, the heatmap's "
        "grid), cross-margin USD and USD per leverage tier; levels.measured_snapshots holds each snapshot's "
        "coverage (addresses read, failed) and totals, levels.measured_distribution the last snapshot's "
        "leverage and distance-to-liquidation distribution, levels.inferred_liquidations the positions that "
        "vanished after price reached their liquidation price (flagged inferred).")
def measured_levels(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    seen = {"snapshots": 0, "inferred": 0}

    def build(con, day, spec, work):
        start, end = day_bounds(day)
        side_tables = {"levels.measured_snapshots": _empty(SNAPSHOT_COLUMNS), "levels.measured_distribution": pd.DataFrame(),
                       "levels.inferred_liquidations": pd.DataFrame()}
        rows = _empty(["venue", "snapshot_ts", *m.BIN_COLUMNS])
        scans, positions = snapshots(con, spec.symbol, start, end) if VENUE in spec.listings else (pd.DataFrame(), pd.DataFrame())
        bars = price_klines(con, spec, start, end) if len(scans) else None
        if len(scans) and bars is None:
            work.warn(f"{len(scans)} position snapshots but no {spec.interval} candles: no measured map")
        if len(scans) and bars is not None:
            bar = bar_length(spec)
            width = bin_width(float(bars["open"].iloc[0]), BIN_PCT)
            parts, summaries = [], []
            for scan in scans.itertuples():
                mine = positions[positions["snapshot_ts"] == scan.snapshot_ts]
                bins = m.measured_bins(mine, width)
                bins.insert(0, "venue", VENUE)
                bins.insert(1, "snapshot_ts", scan.snapshot_ts)
                parts.append(bins)
                summaries.append({"venue": VENUE, "snapshot_ts": scan.snapshot_ts, "scan_end": scan.scan_end, "kind": scan.kind,
                                  "price": price_at(bars, bar, pd.Timestamp(scan.snapshot_ts)), "addresses_read": scan.addresses_read,
                                  "addresses_failed": scan.addresses_failed, **m.snapshot_totals(mine)})
            rows = pd.concat([p for p in parts if len(p)] or [rows], ignore_index=True)
            side_tables["levels.measured_snapshots"] = pd.DataFrame(summaries, columns=SNAPSHOT_COLUMNS)
            last = scans["snapshot_ts"].iloc[-1]
            distribution = m.distributions(positions[positions["snapshot_ts"] == last], summaries[-1]["price"])
            distribution.insert(0, "venue", VENUE)
            side_tables["levels.measured_distribution"] = distribution
            side_tables["levels.inferred_liquidations"] = _inferred(con, spec.symbol, scans, positions, bars, bar, start)
            seen["snapshots"] += len(scans)
            seen["inferred"] += len(side_tables["levels.inferred_liquidations"])
        for table, frame in side_tables.items():
            frame = frame.copy()
            frame.insert(0, "as_of", day)
            frame.insert(1, "symbol", spec.symbol)
            replace_as_of(con, table, day, spec.symbol, frame)
        work.count(spec.symbol, day, snapshots=len(scans))
        return rows

    return _for_each_day(context, duckdb, watchlist, "levels.measured", build, upstream=(POSITIONS,),
                         extra=lambda: {k: dg.MetadataValue.int(v) for k, v in seen.items()})


def _inferred(con, symbol: str, scans: pd.DataFrame, positions: pd.DataFrame, bars: pd.DataFrame, bar: pd.Timedelta,
              start: dt.datetime) -> pd.DataFrame:
    """Inferred liquidations between consecutive snapshots (the previous day's last one included),
    counted only against a later *full* scan (a hot scan reads a subset: an absent address may not have
    been asked) and never for an address whose read failed in it."""
    before_ts, before = latest_snapshot(con, symbol, start - dt.timedelta(days=2), start)  # the previous day's last
    chain = ([(before_ts, before)] if before_ts is not None else []) + \
        [(pd.Timestamp(t), positions[positions["snapshot_ts"] == t]) for t in scans["snapshot_ts"]]
    kinds = dict(zip(pd.to_datetime(scans["snapshot_ts"]), scans["kind"]))
    parts = []
    for (t0, p0), (t1, p1) in zip(chain, chain[1:]):
        if kinds.get(t1) != "full":
            continue
        between = bars[(bars["ts"] + bar > t0) & (bars["ts"] < t1)]
        if between.empty:
            continue
        failed = {a for (a,) in con.execute("select address from raw.position_failures where venue = ? and snapshot_ts = ?",
                                             [VENUE, t1.to_pydatetime()]).fetchall()}
        gone = m.inferred_liquidations(p0[~p0["address"].isin(failed)], p1, float(between["low"].min()), float(between["high"].max()))
        gone.insert(0, "venue", VENUE)
        gone.insert(1, "last_seen_ts", t0)
        gone.insert(2, "gone_ts", t1)
        parts.append(gone.drop(columns=["symbol"]))
    return pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else pd.DataFrame()


@_asset("calibration", [POSITIONS, ["raw", "klines"], ["raw", "open_interest"]],
        "The calibrated preset of each Hyperliquid symbol-day, fitted on the measured snapshots of the 14 days "
        "before it (never on the day itself): leverage mix = the measured USD share per leverage, lifetime = the "
        "grid value (3/7/14/30 days) whose estimated Hyperliquid map is most like the measured one (mean cosine). "
        "status says when there was too little to fit; the objective asset then computes no calibrated levels.")
def calibration(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    fitted = {"fitted": 0}

    def build(con, day, spec, work):
        if VENUE not in spec.listings:
            return _empty(["venue", "status", "snapshots"])
        row = fit_calibration(con, spec, day)
        fitted["fitted"] += row["status"] == "fitted"
        return pd.DataFrame([{k: v for k, v in row.items() if k not in ("as_of", "symbol")}])

    return _for_each_day(context, duckdb, watchlist, "levels.calibration", build, upstream=(POSITIONS,),
                         extra=lambda: {"fitted_symbol_days": dg.MetadataValue.int(fitted["fitted"])})


@_asset("measured_similarity", [["levels", "measured"], ["levels", "objective"]],
        "How well the estimated map (objective presets default and calibrated on Hyperliquid's own OI) matches the "
        "measured one at each snapshot: per side, Spearman and cosine of the USD profiles over the 0.1 % bins of "
        "that side's half of ±15 % around the price, and each profile's USD.")
def measured_similarity(context: dg.AssetExecutionContext, duckdb: DuckDBResource, watchlist: WatchlistResource) -> dg.MaterializeResult:
    means: dict[str, list[float]] = {}

    def build(con, day, spec, work):
        columns = ["venue", "snapshot_ts", "preset", "side", "bins", "spearman", "cosine", "estimated_usd", "measured_usd"]
        taken = con.execute("select snapshot_ts, price from levels.measured_snapshots where as_of = ? and symbol = ? order by snapshot_ts",
                            [day, spec.symbol]).fetchall()
        if not taken:
            return _empty(columns)
        start, end = day_bounds(day)
        # ordered: USD sums are float sums in row order, and the row order of a scan is the storage's own
        positions = con.execute("select * from raw.positions where venue = ? and symbol = ? and snapshot_ts >= ? and snapshot_ts < ? "
                                "order by snapshot_ts, address", [VENUE, spec.symbol, start, end]).fetch_df()
        estimated = con.execute("select preset, side, liq_price, notional_usd, known_ts, filled_ts, expires_ts from levels.objective "
                                "where as_of = ? and symbol = ? and venue = ? and list_contains(?, preset) order by level_id",
                                [day, spec.symbol, VENUE, list(COMPARED_PRESETS)]).fetch_df()
        # the measured map's own grid (0.1 % of the day's first open); a day without priced positions has none
        stored = con.execute("select max(bin_high - bin_low) from levels.measured where as_of = ? and symbol = ?", [day, spec.symbol]).fetchone()[0]
        width = float(stored) if stored else bin_width(float(taken[0][1]), BIN_PCT)
        parts = []
        for snapshot_ts, price in taken:
            moment = pd.Timestamp(snapshot_ts)
            actual = m.as_levels(positions[positions["snapshot_ts"] == moment])
            for name in COMPARED_PRESETS:
                levels = estimated[estimated["preset"] == name]
                if levels.empty:
                    continue
                scored = m.similarity(standing(levels, moment), actual, float(price), width, WINDOW_PCT)
                scored.insert(0, "venue", VENUE)
                scored.insert(1, "snapshot_ts", moment)
                scored.insert(2, "preset", name)
                parts.append(scored)
                means.setdefault(name, []).extend(scored["cosine"].dropna())
        return pd.concat(parts, ignore_index=True)[columns] if parts else _empty(columns)

    return _for_each_day(context, duckdb, watchlist, "levels.measured_similarity", build,
                         upstream=(["levels", "measured"], ["levels", "objective"]),
                         extra=lambda: {f"mean_cosine_{k}": dg.MetadataValue.float(round(float(np.mean(v)), 4)) for k, v in means.items() if v})
