"""Shared inputs of the OI-event models: the objective engine's events and its entry anchors."""

from __future__ import annotations

import numpy as np

from indicators.models import ModelInputs
from indicators.objective import PRESETS, ObjectiveParams, compute_activity, event_classes

# Age limit of the OI-jump variants: the recipe's own, so only what a variant changes differs.
EXPIRY_H = PRESETS["oi_jumps"].expiry_hours

# liqmap's three entry anchors (anchors_indicators.md §3.2): close 0.45, high 0.275, low 0.275.
LIQMAP_ANCHORS = (("close", 0.45), ("high", 0.275), ("low", 0.275))
# liqmap's tier split over 10/25/50/100x.
LIQMAP_TIERS = {10: 0.35, 25: 0.30, 50: 0.20, 100: 0.15}
# liqmap's "scalping" half-lives per tier, hours (10x 5 d, 25x 2 d, 50x 1 d, 100x 12 h).
LIQMAP_HALF_LIVES_H = {10: 120.0, 25: 48.0, 50: 24.0, 100: 12.0}


def objective_events(bars, params: ObjectiveParams = PRESETS["oi_jumps"]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bar index, entry price USD, ΔOI USD) of the bars on which the OI-jump recipe (preset `oi_jumps`) opens positions."""
    act = compute_activity(bars, params)
    idx = np.flatnonzero(event_classes(act, params) >= 0)
    return idx, act.base[idx], act.notional[idx]


def anchors(inputs: ModelInputs, idx: np.ndarray, how: str, points: int = 5) -> list[tuple[np.ndarray, float]]:
    """Entry prices of bars `idx` with their shares: `close` (one point), `range` (`points` evenly
    spaced over [low, high], equal shares) or `liqmap` (close/high/low 0.45/0.275/0.275)."""
    bars = inputs.bars
    low, high, close = (bars[c].to_numpy(float)[idx] for c in ("low", "high", "close"))
    if how == "close":
        return [(close, 1.0)]
    if how == "range":
        return [(low + (high - low) * k / (points - 1), 1.0 / points) for k in range(points)]
    if how == "liqmap":
        return [(bars[c].to_numpy(float)[idx], share) for c, share in LIQMAP_ANCHORS]
    raise ValueError(f"entry anchors must be close, range or liqmap, got {how!r}")


def oi_multiplier(oi_usd: np.ndarray, close: np.ndarray, k: float) -> np.ndarray:
    """clamp(1 + k·ΔOI⁺/OI, 1, 3) per bar, ΔOI in contracts (so a price move alone is no increase); 1 where unknown."""
    contracts = oi_usd / close
    with np.errstate(invalid="ignore", divide="ignore"):
        rise = np.maximum(np.diff(contracts, prepend=np.nan) / contracts, 0.0)
    return np.clip(1.0 + k * np.nan_to_num(rise, nan=0.0), 1.0, 3.0)
