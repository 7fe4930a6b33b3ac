"""Decay (`decay`): opened positions fade with a per-tier half-life before price reaches them.

Source: liqmap's per-tier decay 2^(−Δt/half-life) (scalping set: 10x 5 d, 25x 2 d, 50x 1 d, 100x
12 h; anchors_indicators.md §3.2), motivated by Hyperliquid scans: 19 % of positions are gone within
4 days and half of the rest move their liquidation price by more than 2 %. Same events and sizes as
`objective:oi_jumps`; a level's size is decayed to the start of the window that reaches it. Tuned:
a factor on every half-life.
"""

from __future__ import annotations

from indicators.models import Model, ModelInputs, equal_tiers, register, tier_rows
from indicators.models._events import EXPIRY_H, LIQMAP_HALF_LIVES_H, anchors, objective_events


def decay_levels(inputs: ModelInputs, scale: float = 1.0):
    idx, _, usd = objective_events(inputs.bars)
    half_lives = {L: h * scale for L, h in LIQMAP_HALF_LIVES_H.items()}
    return tier_rows(inputs, idx, anchors(inputs, idx, "close"), usd, usd, equal_tiers(), EXPIRY_H, half_lives)


register(Model(name="decay", doc=__doc__, levels=decay_levels, defaults={"scale": 1.0}, grid={"scale": (0.5, 1.0, 2.0, 4.0)}))
