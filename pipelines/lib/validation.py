"""Data-quality suites, one per table, run with Great Expectations (plus a few pandas rules GX
has no expectation for). Plain Python, no Dagster: the asset checks in `defs/checks` call it.

A rule is *blocking* when a failure makes the day's exports wrong (a crossed candle, a long level
above its price, a duplicate key); other rules (a gap in the candles, a short day) only warn.
Rows failing a row-level rule are returned so the caller can quarantine them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from pipelines.lib.market import INTERVAL_SECONDS
from pipelines.lib.normalize import LIQUIDATION_SIDES, off_grid

FUNDING_BAND = 0.05  # |rate| per funding interval; venues cap far lower (Binance ±3 % on alts)
MAX_GAP_BARS = 3  # more missing candles in a row than this is reported
MIN_DAY_COVERAGE = 0.8  # a day with fewer than 80 % of its expected candles is reported


@dataclass(frozen=True)
class Rule:
    """One expectation: a GX expectation class with its arguments, or a pandas function."""

    name: str  # how it reads in the UI and the report, e.g. "high >= open"
    expectation: str | None = None  # GX class name in great_expectations.expectations
    kwargs: dict = field(default_factory=dict)
    custom: Callable[[pd.DataFrame], pd.Series] | None = None  # True = row fails
    where: tuple[str, str] | None = None  # only rows whose column equals the value
    column: str | None = None
    blocking: bool = True
    row_level: bool = True  # failing rows can be quarantined


@dataclass
class Outcome:
    rule: Rule
    success: bool
    unexpected_count: int
    failing_index: list[int]  # rows of the validated frame that fail; callers sample and quarantine them


def _not_null(*columns: str) -> list[Rule]:
    return [Rule(f"{c} is not null", "ExpectColumnValuesToNotBeNull", {"column": c}, column=c) for c in columns]


def _positive(*columns: str) -> list[Rule]:
    return [Rule(f"{c} > 0", "ExpectColumnValuesToBeBetween", {"column": c, "min_value": 0, "strict_min": True}, column=c)
            for c in columns]


def _non_negative(*columns: str) -> list[Rule]:
    return [Rule(f"{c} >= 0", "ExpectColumnValuesToBeBetween", {"column": c, "min_value": 0}, column=c) for c in columns]


def _at_least(a: str, b: str, **kwargs) -> Rule:
    return Rule(f"{a} >= {b}", "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": a, "column_B": b, "or_equal": True, **kwargs}, column=f"{a},{b}")


def _unique(*columns: str) -> Rule:
    return Rule(f"unique ({', '.join(columns)})", "ExpectCompoundColumnsToBeUnique", {"column_list": list(columns)},
                column=",".join(columns))


IN_PARTITION_DAY = Rule("ts inside the partition day", "ExpectColumnPairValuesToBeEqual",
                        {"column_A": "ts_day", "column_B": "partition_day"}, column="ts")


def _gaps(frame: pd.DataFrame) -> pd.Series:
    """Rows that follow more than MAX_GAP_BARS missing candles of their (venue, symbol, interval)."""
    ordered = frame.sort_values(["venue", "symbol", "interval", "ts"])
    step = ordered["interval"].map(INTERVAL_SECONDS).astype(float)
    gap = ordered.groupby(["venue", "symbol", "interval"])["ts"].diff().dt.total_seconds() / step - 1
    return (gap > MAX_GAP_BARS).reindex(frame.index, fill_value=False)


def _short_days(frame: pd.DataFrame) -> pd.Series:
    """Rows of (venue, symbol, interval, day) groups holding fewer candles than the day should."""
    expected = 86_400 / frame["interval"].map(INTERVAL_SECONDS).astype(float)
    counts = frame.groupby(["venue", "symbol", "interval", "partition_day"])["ts"].transform("count")
    return counts < MIN_DAY_COVERAGE * expected


def _off_grid(frame: pd.DataFrame) -> pd.Series:
    """Rows whose ts is not a multiple of their interval since 00:00 UTC (a 5-minute stamp stored as 1h)."""
    return off_grid(pd.to_datetime(frame["ts"]).astype("datetime64[ns]"), frame["interval"])


ON_GRID = Rule("ts on the interval's grid", custom=_off_grid, column="ts")

VOLUME_SPREAD = 10.0  # one venue's hourly volume more than 10x off the venues' median is suspicious


def _volume_outliers(frame: pd.DataFrame) -> pd.Series:
    """Rows whose base volume is more than VOLUME_SPREAD × off the median of the venues reporting the same
    symbol, interval and bar (a venue that reports contracts as base, or quote as base). Needs 3 venues."""
    known = frame[frame["volume"].notna() & (frame["volume"] > 0)]
    if known.empty:
        return pd.Series(False, index=frame.index)
    groups = known.groupby(["symbol", "interval", "ts"])["volume"]
    median, count = groups.transform("median"), groups.transform("count")
    ratio = known["volume"] / median
    bad = (count >= 3) & ((ratio > VOLUME_SPREAD) | (ratio < 1 / VOLUME_SPREAD))
    return bad.reindex(frame.index, fill_value=False)


RAW_SUITES: dict[str, list[Rule]] = {
    "raw.klines": [
        *_not_null("venue", "symbol", "interval", "ts", "open", "high", "low", "close"),
        Rule("volume known (volume-weighted models need it)", "ExpectColumnValuesToNotBeNull", {"column": "volume"},
             column="volume", blocking=False, row_level=False),
        ON_GRID,
        Rule(f"volume within {VOLUME_SPREAD:g}x of the other venues' median (same symbol and bar)", custom=_volume_outliers,
             column="volume", blocking=False, row_level=False),
        _unique("venue", "symbol", "interval", "ts"),
        IN_PARTITION_DAY,
        *_positive("open", "high", "low", "close"),
        *_non_negative("volume"),
        # high >= max(open, close) >= min(open, close) >= low
        _at_least("high", "open"), _at_least("high", "close"), _at_least("open", "low"), _at_least("close", "low"),
        Rule(f"no gap of more than {MAX_GAP_BARS} candles", custom=_gaps, column="ts", blocking=False, row_level=False),
        Rule(f"at least {MIN_DAY_COVERAGE:.0%} of the day's candles", custom=_short_days, column="ts", blocking=False, row_level=False),
    ],
    "raw.open_interest": [
        *_not_null("venue", "symbol", "interval", "ts", "oi_usd"),
        _unique("venue", "symbol", "interval", "ts"),
        ON_GRID,
        IN_PARTITION_DAY,
        *_non_negative("oi_usd", "oi_base"),
    ],
    "raw.funding": [
        *_not_null("venue", "symbol", "ts", "rate"),
        _unique("venue", "symbol", "ts"),
        IN_PARTITION_DAY,
        Rule(f"|rate| <= {FUNDING_BAND}", "ExpectColumnValuesToBeBetween",
             {"column": "rate", "min_value": -FUNDING_BAND, "max_value": FUNDING_BAND}, column="rate", blocking=False),
    ],
    "raw.liquidations": [
        *_not_null("venue", "symbol", "ts", "side", "price", "qty_base", "usd"),
        _unique("venue", "symbol", "ts", "side", "price", "qty_base"),
        IN_PARTITION_DAY,
        Rule("side in (long, short, unknown)", "ExpectColumnValuesToBeInSet",
             {"column": "side", "value_set": list(LIQUIDATION_SIDES)}, column="side"),
        *_positive("price", "qty_base", "usd"),
    ],
    "raw.liquidation_history": [
        *_not_null("venue", "symbol", "interval", "ts", "long_usd", "short_usd"),
        _unique("venue", "symbol", "interval", "ts"),
        ON_GRID,
        IN_PARTITION_DAY,
        *_non_negative("long_usd", "short_usd"),
    ],
}


# A level is known at the close of the bar that made it: after its open, and by the end of its as-of day.
KNOWN_AT_BAR_CLOSE = [
    *_not_null("known_ts"),
    Rule("known after its bar opened", "ExpectColumnPairValuesAToBeGreaterThanB",
         {"column_A": "known_ts", "column_B": "created_ts"}, column="known_ts"),
    Rule("known by the end of the as-of day", "ExpectColumnPairValuesAToBeGreaterThanB",
         {"column_A": "as_of_end", "column_B": "known_ts", "or_equal": True}, column="known_ts"),
]


def objective_suite(leverages: list[int], liq_price_check: Callable[[pd.DataFrame], pd.Series]) -> list[Rule]:
    return [
        *_not_null("as_of", "level_id", "preset", "venue", "symbol", "side", "leverage", "created_ts", "liq_price", "notional_usd"),
        _unique("as_of", "level_id"),
        Rule("created before the end of the as-of day", "ExpectColumnPairValuesAToBeGreaterThanB",
             {"column_A": "as_of_end", "column_B": "created_ts"}, column="created_ts"),
        *KNOWN_AT_BAR_CLOSE,
        Rule("side in (long, short)", "ExpectColumnValuesToBeInSet", {"column": "side", "value_set": ["long", "short"]}, column="side"),
        Rule("long level below its base price", "ExpectColumnPairValuesAToBeGreaterThanB",
             {"column_A": "base_price", "column_B": "liq_price"}, column="liq_price", where=("side", "long")),
        Rule("short level above its base price", "ExpectColumnPairValuesAToBeGreaterThanB",
             {"column_A": "liq_price", "column_B": "base_price"}, column="liq_price", where=("side", "short")),
        Rule("leverage in the configured tiers", "ExpectColumnValuesToBeInSet", {"column": "leverage", "value_set": leverages},
             column="leverage"),
        Rule("filled after created", "ExpectColumnPairValuesAToBeGreaterThanB",
             {"column_A": "filled_ts", "column_B": "created_ts", "ignore_row_if": "either_value_is_missing"}, column="filled_ts"),
        *_non_negative("notional_usd"),
        Rule("status in (active, filled, expired)", "ExpectColumnValuesToBeInSet",
             {"column": "status", "value_set": ["active", "filled", "expired"]}, column="status"),
        Rule("liq price matches the margin library", custom=liq_price_check, column="liq_price"),
    ]


def validate(frame: pd.DataFrame, rules: list[Rule]) -> list[Outcome]:
    """Run `rules` over `frame` (index 0..n-1). GX is imported here, not at module import (≈2 s)."""
    frame = frame.reset_index(drop=True)
    outcomes: list[Outcome] = []
    gx_rules = [r for r in rules if r.expectation]
    if gx_rules and len(frame):
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")  # fresh per validation: asset names must be unique
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        batch = (context.data_sources.add_pandas("frame").add_dataframe_asset("frame")
                 .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": frame}))
        from great_expectations.expectations.row_conditions import Column

        expectations = [
            getattr(gx.expectations, r.expectation)(
                **r.kwargs, meta={"rule": i}, **({"row_condition": Column(r.where[0]) == r.where[1]} if r.where else {}))
            for i, r in enumerate(gx_rules)
        ]
        suite = gx.ExpectationSuite(name="suite", expectations=expectations)
        result = batch.validate(suite, result_format="COMPLETE")
        # results come back in GX's own order: match them to our rules by the index in `meta`
        by_rule = {r.expectation_config.meta["rule"]: r for r in result.results}
        for i, rule in enumerate(gx_rules):
            match = by_rule[i]
            res = match.result or {}
            index = [int(i) for i in res.get("unexpected_index_list") or []]
            outcomes.append(Outcome(rule, bool(match.success), int(res.get("unexpected_count") or len(index)), index))
    elif gx_rules:
        outcomes += [Outcome(r, True, 0, []) for r in gx_rules]
    for rule in rules:
        if rule.custom is None:
            continue
        fails = rule.custom(frame) if len(frame) else pd.Series(dtype=bool)
        index = [int(i) for i in np.flatnonzero(fails.to_numpy(bool))]
        outcomes.append(Outcome(rule, not index, len(index), index))
    order = {id(r): i for i, r in enumerate(rules)}
    return sorted(outcomes, key=lambda o: order[id(o.rule)])


def _totals_differ(frame: pd.DataFrame) -> pd.Series:
    """Rows whose (as_of, symbol, source) total differs from the level table's total by more than 1e-6;
    rows with no independent total (NULL level_total_usd: the measured heatmap's hours) are not compared."""
    level = frame["level_total_usd"].astype(float)
    close = np.isclose(frame["table_total_usd"].astype(float), level, rtol=1e-6, atol=1e-6) | level.isna()
    return pd.Series(~close, index=frame.index)


BEHAVIORAL_SUITE = [
    *_not_null("as_of", "pool_id", "venue", "symbol", "side", "created_ts", "price", "weight", "status"),
    *KNOWN_AT_BAR_CLOSE,
    _unique("as_of", "pool_id"),
    Rule("side in (buy-side, sell-side)", "ExpectColumnValuesToBeInSet", {"column": "side", "value_set": ["buy-side", "sell-side"]}, column="side"),
    Rule("status in (active, swept)", "ExpectColumnValuesToBeInSet", {"column": "status", "value_set": ["active", "swept"]}, column="status"),
    *_positive("price", "weight"),
    _at_least("swept_ts", "created_ts", ignore_row_if="either_value_is_missing"),
    Rule("created before the end of the as-of day", "ExpectColumnPairValuesAToBeGreaterThanB",
         {"column_A": "as_of_end", "column_B": "created_ts"}, column="created_ts"),
]

HEATMAP_SUITE = [
    *_not_null("as_of", "symbol", "ts", "bin_low", "long_usd", "short_usd"),
    _unique("as_of", "symbol", "ts", "bin_low", "source"),
    Rule("source in (estimated, measured)", "ExpectColumnValuesToBeInSet", {"column": "source", "value_set": ["estimated", "measured"]},
         column="source"),
    *_non_negative("long_usd", "short_usd"),
    Rule("last hour's total = active objective levels at the day's end", custom=_totals_differ, column="table_total_usd",
         row_level=False),
]

LIQUIDATION_MAP_SUITE = [
    *_not_null("as_of", "symbol", "close", "bin_low", "long_usd", "short_usd"),
    _unique("as_of", "symbol", "bin_low", "source"),
    *_non_negative("long_usd", "short_usd", "long_cum_usd", "short_cum_usd"),
    Rule("total = active objective levels (estimated) / priced positions of the last snapshot (measured)", custom=_totals_differ, column="table_total_usd", row_level=False),
]

CLUSTERS_SUITE = [
    *_not_null("as_of", "symbol", "cluster_id", "side", "price_low", "price_high", "price_mid", "usd", "weight"),
    _unique("as_of", "symbol", "cluster_id"),
    Rule("source in (estimated, measured)", "ExpectColumnValuesToBeInSet", {"column": "source", "value_set": ["estimated", "measured"]},
         column="source"),
    Rule("side in (long, short)", "ExpectColumnValuesToBeInSet", {"column": "side", "value_set": ["long", "short"]}, column="side"),
    _at_least("price_high", "price_low"), _at_least("price_mid", "price_low"), _at_least("price_high", "price_mid"),
    *_non_negative("usd", "weight"),
    Rule("at least one level", "ExpectColumnValuesToBeBetween", {"column": "levels_count", "min_value": 1}, column="levels_count"),
]

MAX_PAIN_SUITE = [
    *_not_null("as_of", "symbol", "close", "source"),
    _unique("as_of", "symbol", "source"),
    *_positive("close"),
    Rule("long max pain below the close", "ExpectColumnValuesToBeBetween", {"column": "long_distance_pct", "max_value": 0}, column="long_distance_pct"),
    Rule("short max pain above the close", "ExpectColumnValuesToBeBetween", {"column": "short_distance_pct", "min_value": 0}, column="short_distance_pct"),
]

LIQUIDATION_STATS_SUITE = [
    *_not_null("as_of", "symbol", "ts", "venue", "window_hours", "long_usd", "short_usd", "unknown_usd", "events"),
    _unique("as_of", "symbol", "ts", "venue", "window_hours"),
    Rule("window in (1, 4, 12, 24) hours", "ExpectColumnValuesToBeInSet", {"column": "window_hours", "value_set": [1, 4, 12, 24]}, column="window_hours"),
    *_non_negative("long_usd", "short_usd", "unknown_usd", "events"),
]

LARGEST_LIQUIDATIONS_SUITE = [
    *_not_null("as_of", "symbol", "rank", "venue", "ts", "side", "price", "usd"),
    _unique("as_of", "symbol", "rank"),
    *_positive("price", "usd"),
    Rule("liquidation on the as-of day", "ExpectColumnPairValuesToBeEqual", {"column_A": "ts_day", "column_B": "partition_day"}, column="ts"),
]

LEADERBOARD_SUITE = [
    *_not_null("as_of", "symbol", "part", "model", "params", "window_minutes", "first_test_day", "verdict"),
    _unique("as_of", "symbol", "part", "model"),
    Rule("part is train or test", "ExpectColumnValuesToBeInSet", {"column": "part", "value_set": ["train", "test"]}, column="part"),
    *[Rule(f"{c} within [-1, 1]", "ExpectColumnValuesToBeBetween", {"column": c, "min_value": -1, "max_value": 1}, column=c)
      for c in ("spearman_pooled", "partial_rank", "partial_rank_ci_low", "partial_rank_ci_high")],
    Rule("capture within [0, 1]", "ExpectColumnValuesToBeBetween", {"column": "capture_top10", "min_value": 0, "max_value": 1},
         column="capture_top10"),
]

QUALITY_SUITE = [
    *_not_null("as_of", "symbol", "span", "model", "window_minutes"),
    _unique("as_of", "symbol", "span", "model"),
    *[Rule(f"{c} within [-1, 1]", "ExpectColumnValuesToBeBetween", {"column": c, "min_value": -1, "max_value": 1}, column=c)
      for c in ("spearman_long", "spearman_short", "spearman_pooled", "partial_rank")],
    Rule("capture within [0, 1]", "ExpectColumnValuesToBeBetween", {"column": "capture_top10", "min_value": 0, "max_value": 1},
         column="capture_top10"),
]


def _isolated_liq_wrong_side(frame: pd.DataFrame) -> pd.Series:
    """Isolated positions whose liquidation price is on the wrong side of the entry (a long's must be below
    it, a short's above); cross positions depend on the whole account and are not judged."""
    isolated = (frame["margin_mode"] == "isolated") & frame["liq_price"].notna()
    long_bad = (frame["side"] == "long") & (frame["liq_price"] >= frame["entry_price"])
    short_bad = (frame["side"] == "short") & (frame["liq_price"] <= frame["entry_price"])
    return isolated & (long_bad | short_bad)


POSITIONS_SUITE = [
    *_not_null("venue", "symbol", "snapshot_ts", "address", "side", "size_base", "margin_mode", "position_usd"),
    _unique("venue", "snapshot_ts", "address", "symbol"),
    Rule("side in (long, short)", "ExpectColumnValuesToBeInSet", {"column": "side", "value_set": ["long", "short"]}, column="side"),
    Rule("margin_mode in (cross, isolated)", "ExpectColumnValuesToBeInSet", {"column": "margin_mode", "value_set": ["cross", "isolated"]},
         column="margin_mode"),
    Rule("address is 0x + 40 hex digits", "ExpectColumnValuesToMatchRegex", {"column": "address", "regex": r"^0x[0-9a-f]{40}$"},
         column="address"),
    *_positive("size_base", "position_usd", "entry_price", "leverage"),
    Rule("liq_price > 0 where known", "ExpectColumnValuesToBeBetween", {"column": "liq_price", "min_value": 0, "strict_min": True},
         column="liq_price"),
    Rule("isolated liquidation beyond the entry (long below, short above)", custom=_isolated_liq_wrong_side, column="liq_price",
         blocking=False),
]

MEASURED_SUITE = [
    *_not_null("as_of", "symbol", "venue", "snapshot_ts", "bin_low", "long_usd", "short_usd"),
    _unique("as_of", "symbol", "venue", "snapshot_ts", "bin_low"),
    *_non_negative("long_usd", "short_usd", "long_count", "short_count", "long_cross_usd", "short_cross_usd"),
    _at_least("long_usd", "long_cross_usd"), _at_least("short_usd", "short_cross_usd"),
    Rule("snapshot on the as-of day", "ExpectColumnPairValuesToBeEqual", {"column_A": "snapshot_day", "column_B": "partition_day"},
         column="snapshot_ts"),
]

SIMILARITY_SUITE = [
    *_not_null("as_of", "symbol", "snapshot_ts", "preset", "side", "bins"),
    _unique("as_of", "symbol", "venue", "snapshot_ts", "preset", "side"),
    *[Rule(f"{c} within [-1, 1]", "ExpectColumnValuesToBeBetween", {"column": c, "min_value": -1.000001, "max_value": 1.000001},
           column=c) for c in ("spearman", "cosine")],
    *_non_negative("estimated_usd", "measured_usd"),
]
