"""liqmap (`liqmap`): the best documented open engine, every documented rule at once.

Source: bendizziesmith/liqmap (anchors_indicators.md §3.2): each bar seeds turnover ×
clamp(1 + 8·ΔOI⁺/OI, 1, 3) at three anchors (close 0.45, high 0.275, low 0.275), split over
10/25/50/100x as 0.35/0.30/0.20/0.15, halved between long and short, decayed per tier (10x 5 d,
25x 2 d, 50x 1 d, 100x 12 h). Its OI calibration scales the displayed book, which leaves ranks
unchanged, so it is not repeated here. Tuned: k and a factor on the half-lives.
"""

from __future__ import annotations

import numpy as np

from indicators.models import Model, ModelInputs, register, tier_rows
from indicators.models._events import EXPIRY_H, LIQMAP_HALF_LIVES_H, LIQMAP_TIERS, anchors
from indicators.models.oi_volume import oi_volume_usd


def liqmap_levels(inputs: ModelInputs, k: float = 8.0, scale: float = 1.0):
    idx = np.arange(len(inputs.bars))
    half = oi_volume_usd(inputs, k) / 2
    half_lives = {L: h * scale for L, h in LIQMAP_HALF_LIVES_H.items()}
    return tier_rows(inputs, idx, anchors(inputs, idx, "liqmap"), half, half, LIQMAP_TIERS, EXPIRY_H, half_lives)


register(Model(name="liqmap", doc=__doc__, levels=liqmap_levels, defaults={"k": 8.0, "scale": 1.0},
               grid={"k": (8.0, 32.0), "scale": (1.0, 4.0)}))
