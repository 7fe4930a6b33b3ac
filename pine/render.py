"""Render level rows into a Pine v6 overlay script (pure: rows in, source text out).

Only validated values reach the source: the symbol must be a canonical symbol, venues come from
a fixed set, numbers are formatted by Python, and the template has no other substitutions.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import pandas as pd

TEMPLATE = Path(__file__).parent / "templates" / "liquidation_levels.pine"
MAX_LINES = 500  # TradingView's cap on live lines per script
MAX_LABELS = 50
BEHAVIORAL_CODE = 1000
MEASURED_CODE = 2000  # zones of real (measured) positions: Hyperliquid scans
VALUES_PER_LINE = 12
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{1,20}$")
KNOWN_VENUES = {"binance", "bybit", "okx", "hyperliquid", "coinglass", "all"}


class PineRenderError(ValueError):
    pass


def size_usd(levels: pd.DataFrame) -> pd.Series:
    """A level's own size in USD: objective notional, behavioral pool volume_usd (weight × price)."""
    notional = levels["notional_usd"].astype(float) if "notional_usd" in levels else pd.Series(float("nan"), index=levels.index)
    volume = levels["volume_usd"].astype(float) if "volume_usd" in levels else pd.Series(float("nan"), index=levels.index)
    return notional.fillna(volume).fillna(0.0)


def select_levels(levels: pd.DataFrame, max_levels: int = MAX_LINES) -> pd.DataFrame:
    """The strongest `max_levels` rows (by strength, then USD), strongest first; ties keep input order."""
    ranked = levels.assign(_order=range(len(levels)), _size=size_usd(levels)).sort_values(
        ["strength", "_size", "_order"], ascending=[False, False, True], kind="stable")
    return ranked.head(max_levels).drop(columns=["_order", "_size"]).reset_index(drop=True)


def decimals_for_tick(tick_size: float) -> int:
    """Decimals needed to print prices rounded to `tick_size` (0.1 → 1, 0.01 → 2, 5 → 0)."""
    if tick_size <= 0:
        raise PineRenderError(f"tick size must be > 0, got {tick_size}")
    return max(0, -math.floor(math.log10(tick_size) + 1e-9))


def round_to_tick(price: float, tick_size: float) -> float:
    return round(round(price / tick_size) * tick_size, decimals_for_tick(tick_size))


def _array(kind: str, values: list[str]) -> str:
    if not values:
        return f"array.new<{kind}>()"
    rows = [", ".join(values[i:i + VALUES_PER_LINE]) for i in range(0, len(values), VALUES_PER_LINE)]
    # wrapped inside the parentheses: any indentation is allowed there
    return "array.from(" + ",\n     ".join(rows) + ")"


def level_code(side: str, method: str, leverage) -> int:
    magnitude = {"behavioral": BEHAVIORAL_CODE, "measured": MEASURED_CODE}.get(method) or int(leverage)
    return magnitude if side == "long" else -magnitude


def render(
    levels: pd.DataFrame,
    *,
    symbol: str,
    as_of: dt.date,
    venues: list[str],
    tick_size: float,
    generated_at: dt.datetime,
    valid_hours: int = 48,
    max_levels: int = MAX_LINES,
) -> str:
    """Pine v6 source drawing the strongest `max_levels` of `levels`.

    `levels` columns: price, side ('long'/'short'), method ('objective'/'behavioral'/'measured'), leverage,
    strength (0-1), notional_usd (objective) / volume_usd (behavioral), known_ts (or created_ts): a
    line starts when its level became known. The levels are valid from the end of `as_of` for `valid_hours`.
    """
    if not SYMBOL_PATTERN.fullmatch(symbol or ""):
        raise PineRenderError(f"invalid symbol {symbol!r} for a Pine script: expected A-Z/0-9")
    unknown = set(venues) - KNOWN_VENUES
    if unknown:
        raise PineRenderError(f"unknown venue(s) {sorted(unknown)} for a Pine script")
    if not 1 <= max_levels <= MAX_LINES:
        raise PineRenderError(f"max_levels must be within 1..{MAX_LINES}, got {max_levels}")
    drawn = select_levels(levels, max_levels)
    decimals = decimals_for_tick(tick_size)
    prices = [f"{round_to_tick(p, tick_size):.{decimals}f}" for p in drawn["price"]]
    times = [str(int(pd.Timestamp(t).value // 1_000_000)) for t in drawn["known_ts" if "known_ts" in drawn else "created_ts"]]
    codes = [str(level_code(s, m, lev)) for s, m, lev in zip(drawn["side"], drawn["method"], drawn["leverage"])]
    strengths = [f"{min(max(s, 0.0), 1.0):.2f}" for s in drawn["strength"]]
    usd_m = [f"{u / 1e6:.2f}" for u in size_usd(drawn)]
    valid_to = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()) + dt.timedelta(hours=valid_hours)
    substitutions = {
        "SYMBOL": symbol,
        "AS_OF": as_of.isoformat(),
        "VENUES": ", ".join(sorted(venues)) or "none",
        "GENERATED_AT": generated_at.strftime("%Y-%m-%d %H:%M"),
        "VALID_TO_MS": str(int(valid_to.replace(tzinfo=dt.UTC).timestamp() * 1000)),
        "AS_OF_END_MS": str(int(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp() * 1000)),
        "VALID_TO_TEXT": valid_to.strftime("%Y-%m-%d %H:%M"),
        "N_LEVELS": str(len(drawn)),
        "N_LONG": str(int((drawn["side"] == "long").sum())),
        "N_SHORT": str(int((drawn["side"] == "short").sum())),
        "N_AVAILABLE": str(len(levels)),
        "N_MEASURED": str(int((drawn["method"] == "measured").sum())),
        "MAX_LABELS": str(MAX_LABELS),
        "PRICES": _array("float", prices),
        "TIMES": _array("int", times),
        "CODES": _array("int", codes),
        "STRENGTHS": _array("float", strengths),
        "USD_M": _array("float", usd_m),
    }
    source = TEMPLATE.read_text()
    for key, value in substitutions.items():
        source = source.replace("{{" + key + "}}", value)
    leftover = re.findall(r"\{\{[A-Z_]+\}\}", source)
    if leftover:
        raise PineRenderError(f"template placeholders without a value: {leftover}")
    return source
