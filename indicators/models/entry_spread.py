"""Entry spread (`entry_spread`): the objective engine's positions entered across the bar, not at its close.

Source: the E7 liquidation-density script's fix of Leviathan's point entry ("spread uniformly over
[low, high]") and liqmap's three anchors (close 0.45, high 0.275, low 0.275), anchors_indicators.md
§3.1–3.2. Same events, sizes (ΔOI USD, both sides, equal tiers) and expiry as `objective:oi_jumps`;
only where the opened positions sit changes. Tuned: the anchor rule.
"""

from __future__ import annotations


from indicators.models import Model, ModelInputs, equal_tiers, register, tier_rows
from indicators.models._events import EXPIRY_H, anchors, objective_events


def spread_levels(inputs: ModelInputs, entry: str = "range", points: int = 5):
    idx, _, usd = objective_events(inputs.bars)
    return tier_rows(inputs, idx, anchors(inputs, idx, entry, points), usd, usd, equal_tiers(), EXPIRY_H)


register(Model(name="entry_spread", doc=__doc__, levels=spread_levels, defaults={"entry": "range", "points": 5},
               grid={"entry": ("range", "liqmap"), "points": (5,)}))
