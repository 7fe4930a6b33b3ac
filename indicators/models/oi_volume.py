"""OI-weighted volume (`oi_volume`): the placebo's density, weighted where OI says positions opened.

Source: liqmap's seed, turnover × clamp(1 + k·max(ΔOI/OI, 0), 1, 3) with k = 8
(anchors_indicators.md §3.2). Every bar opens positions at its close, both sides, equal tiers,
sized by its USD volume × that multiplier (ΔOI in contracts, so a price move alone is no
increase; multiplier 1 where OI is unknown). Tuned: k.
"""

from __future__ import annotations

import numpy as np

from indicators.models import Model, ModelInputs, equal_tiers, register, tier_rows
from indicators.models._events import anchors, oi_multiplier


def oi_volume_usd(inputs: ModelInputs, k: float) -> np.ndarray:
    bars = inputs.bars
    close = bars["close"].to_numpy(float)
    return bars["volume"].to_numpy(float) * close * oi_multiplier(bars["oi_usd"].to_numpy(float), close, k)


def oi_volume_levels(inputs: ModelInputs, k: float = 8.0):
    idx = np.arange(len(inputs.bars))
    usd = oi_volume_usd(inputs, k)
    return tier_rows(inputs, idx, anchors(inputs, idx, "close"), usd, usd, equal_tiers(), 30 * 24)


register(Model(name="oi_volume", doc=__doc__, levels=oi_volume_levels, defaults={"k": 8.0}, grid={"k": (8.0, 32.0, 128.0)}))
