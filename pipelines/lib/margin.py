"""Margin tiers of a venue for the objective presets, and liquidation prices recomputed from them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from indicators.liqprice import projected_liq_price, simple_liq_price
from indicators.objective import FITTED_PRESETS, PRESETS, ObjectiveParams, level_price, liq_model
from indicators.tiers import brackets, tier_for_leverage

ALL_VENUES = "all"
# Venue whose margin tiers price the cross-venue aggregate: the largest perpetual venue.
AGGREGATE_TIER_VENUE = "binance"


def margin_tiers(venue: str, symbol: str, day: dt.date, params: ObjectiveParams) -> dict[int, tuple[float, float]] | None:
    """Leverage → (mmr, maintenance amount) for a position of the assumed size; None without a table."""
    table = brackets(AGGREGATE_TIER_VENUE if venue == ALL_VENUES else venue, symbol, day)
    if not table:
        return None
    tiers = {}
    for leverage in params.leverages:
        tier = tier_for_leverage(table, leverage, params.position_notional_usd)
        if tier is not None:
            tiers[leverage] = (float(tier["mmr"]), float(tier["maintenance_amount"]))
    return tiers


def default_price_for(symbol: str, day: dt.date):
    """(side, entry USD, leverage) → liquidation prices of the `default` preset on `venue='all'`
    that day (None for a tier it does not allow): the one geometry every scored model and the
    placebo share."""
    params = PRESETS["default"]
    tiers = margin_tiers(ALL_VENUES, symbol, day, params)

    def price_for(side: str, base, leverage: int):
        priced = level_price(side, np.asarray(base, float), leverage, params, ALL_VENUES, tiers)
        return None if priced is None else priced[0]

    return price_for


def expected_liq_prices(levels: pd.DataFrame) -> np.ndarray:
    """The liquidation price each stored objective level should have, from its base price, side,
    leverage, preset and the venue's margin tiers on its as-of day (NaN where none applies)."""
    expected = np.full(len(levels), np.nan)
    for (preset, venue, symbol, as_of, side, leverage), group in levels.groupby(
            ["preset", "venue", "symbol", "as_of", "side", "leverage"], sort=False):
        params = PRESETS.get(preset) or FITTED_PRESETS.get(preset)  # a fit changes shares and lifetime, never prices
        if params is None:
            continue
        tiers = margin_tiers(venue, symbol, pd.Timestamp(as_of).date(), params)
        positions = levels.index.get_indexer(group.index)
        base = group["base_price"].to_numpy(float)
        if liq_model(params, tiers) == "simple":
            expected[positions] = simple_liq_price(side, base, int(leverage))
        elif int(leverage) in tiers:
            mmr, amount = tiers[int(leverage)]
            expected[positions] = projected_liq_price(venue, side, base, int(leverage), mmr, amount, params.position_notional_usd)
    return expected


def liq_price_mismatch(levels: pd.DataFrame, rtol: float = 1e-6) -> pd.Series:
    """True where a level's liq price is off the margin library by more than `rtol` (or has no tier)."""
    expected = expected_liq_prices(levels)
    actual = levels["liq_price"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(actual - expected) <= rtol * np.abs(expected))
    return pd.Series(bad, index=levels.index)
