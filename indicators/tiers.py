"""Dated maintenance-margin tier tables, bundled as `indicators/data/margin_tiers.csv`.

Each row is one tier of one venue's table for one symbol as published on `as_of`. A lookup for a
date uses the newest snapshot on or before it (the oldest one for earlier dates), so levels of
any past day are computed with the table in force then, as far as we have it.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import pandas as pd

TIERS_FILE = Path(__file__).parent / "data" / "margin_tiers.csv"


@lru_cache(maxsize=4)
def load_tiers(path: str | Path = TIERS_FILE) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"venue": str, "symbol": str, "as_of": str})
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    return frame.sort_values(["venue", "symbol", "as_of", "tier"]).reset_index(drop=True)


def brackets(venue: str, symbol: str, on: dt.date, tiers: pd.DataFrame | None = None) -> list[dict]:
    """The tier table of (venue, symbol) in force on `on`; empty when we have none."""
    tiers = load_tiers() if tiers is None else tiers
    table = tiers[(tiers["venue"] == venue) & (tiers["symbol"] == symbol)]
    if table.empty:
        return []
    dates = sorted(set(table["as_of"]))
    snapshot = max((d for d in dates if d <= on), default=dates[0])
    rows = table[table["as_of"] == snapshot].to_dict("records")
    for row in rows:
        row["notional_cap"] = None if pd.isna(row["notional_cap"]) else float(row["notional_cap"])
    return rows


def tier_for_leverage(table: list[dict], leverage: float, position_notional: float) -> dict | None:
    """The tier a position of `position_notional` USD falls in, if it may use `leverage` there."""
    for row in table:
        cap = row["notional_cap"]
        if position_notional >= row["notional_floor"] and (cap is None or position_notional < cap):
            return row if leverage <= row["max_leverage"] else None
    return None
