"""Leverage mix (`leverage_mix`, `leverage_mix:fitted`): tier weights instead of an equal split.

Source of the default: liqmap's split over 10/25/50/100x, 0.35/0.30/0.20/0.15
(anchors_indicators.md §3.2; gptprojectmanager/liquidations uses a similar falling mix). The fitted
variant chooses among a few mixes — from low-leverage heavy to high-leverage heavy — by the
training part's partial rank only. Same events and sizes as `objective:oi_jumps`.
"""

from __future__ import annotations

from indicators.models import Model, ModelInputs, register, tier_rows
from indicators.models._events import EXPIRY_H, LIQMAP_TIERS, anchors, objective_events

MIXES = {
    "liqmap": tuple(LIQMAP_TIERS.values()),
    "equal": (0.25, 0.25, 0.25, 0.25),
    "low_heavy": (0.55, 0.25, 0.12, 0.08),
    "mid_heavy": (0.20, 0.40, 0.30, 0.10),
    "high_heavy": (0.10, 0.20, 0.30, 0.40),
}


def mix_levels(inputs: ModelInputs, mix: str = "liqmap"):
    idx, _, usd = objective_events(inputs.bars)
    weights = dict(zip(LIQMAP_TIERS, MIXES[mix]))
    return tier_rows(inputs, idx, anchors(inputs, idx, "close"), usd, usd, weights, EXPIRY_H)


register(Model(name="leverage_mix", doc=__doc__, levels=mix_levels, defaults={"mix": "liqmap"}))
register(Model(name="leverage_mix:fitted", doc=__doc__, levels=mix_levels, defaults={"mix": "liqmap"},
               grid={"mix": tuple(MIXES)}))
