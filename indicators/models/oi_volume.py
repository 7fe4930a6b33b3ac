"""OI-weighted volume (`oi_volume`): the placebo's density, weighted where OI says positions opened.

Source: liqmap's seed, turnover × clamp(1 + k·max(ΔOI/OI, 0), 1, 3) with k = 8
(anchors_indicators.md §3.2). Every bar opens positions at its close, both sides, equal tiers,
sized by its USD volume × that multiplier (ΔOI in contracts, so a price move alone is no
increase; multiplier 1 where OI is unknown). Tuned: k, a power on the USD volume (0: the
placebo's equal sizes times the OI weight; 1: liqmap's turnover), the expiry, and liqmap's
calibration to OI (each bar: OI × its share of the expiry window's weighted turnover; no level
before OI is known).

With the parameters of the objective engine's `default` preset this model and `objective:default`
are the same levels (a test holds them to it): the preset is this model, promoted.
"""

from __future__ import annotations

import numpy as np

from indicators.models import Model, ModelInputs, equal_tiers, register, tier_rows
from indicators.models._events import EXPIRY_H, anchors, oi_multiplier
from indicators.objective import calibrated_to_oi


def oi_volume_usd(inputs: ModelInputs, k: float, volume_power: float = 1.0) -> np.ndarray:
    bars = inputs.bars
    close = bars["close"].to_numpy(float)
    return (bars["volume"].to_numpy(float) * close) ** volume_power * oi_multiplier(bars["oi_usd"].to_numpy(float), close, k)


def oi_volume_levels(inputs: ModelInputs, k: float = 8.0, volume_power: float = 1.0, expiry_h: float = EXPIRY_H,
                     calibrate: bool = False):
    usd = oi_volume_usd(inputs, k, volume_power)
    if calibrate:
        usd = calibrated_to_oi(usd, inputs.bars["oi_usd"].to_numpy(float), inputs.bars["ts"].to_numpy("datetime64[ns]"), expiry_h)
    idx = np.flatnonzero(usd > 0)
    return tier_rows(inputs, idx, anchors(inputs, idx, "close"), usd[idx], usd[idx], equal_tiers(), expiry_h)


register(Model(name="oi_volume", doc=__doc__, levels=oi_volume_levels,
               defaults={"k": 8.0, "volume_power": 1.0, "expiry_h": EXPIRY_H, "calibrate": False},
               grid={"k": (8.0, 32.0, 128.0), "volume_power": (0.0, 0.5, 1.0), "expiry_h": (7 * 24.0, EXPIRY_H), "calibrate": (False, True)}))
