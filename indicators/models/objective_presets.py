"""The objective engine's presets as leaderboard models (`objective:<preset>`).

Source: `indicators.objective` (Leviathan-like: OI jumps above 1.2× their 60-bar average open
positions at the bar's close, both sides, equal split over the tiers, kept until filled or 30 days).
The rows are the engine's own levels, sized by their initial notional, known at their bar's close.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from indicators.models import Model, ModelInputs, register
from indicators.objective import PRESETS, compute_levels


def preset_levels(inputs: ModelInputs, preset: str) -> pd.DataFrame:
    params = PRESETS[preset] if preset in PRESETS else inputs.calibrated
    if params is None:  # no calibration before the test part: the model has no levels
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c.endswith("_ts") else float) for c in
                             ["created_ts", "side", "price", "size", "expires_ts"]})
    levels = compute_levels(inputs.bars, params, venue="all", tiers=inputs.tiers_for(params))
    return pd.DataFrame({"created_ts": levels["created_ts"].to_numpy("datetime64[ns]") + np.timedelta64(inputs.bar),
                         "side": levels["side"].astype(str).to_numpy(), "price": levels["liq_price"].to_numpy(float),
                         "size": levels["initial_notional_usd"].to_numpy(float),
                         "expires_ts": levels["expires_ts"].to_numpy("datetime64[ns]")})


for _name in PRESETS:
    register(Model(name=f"objective:{_name}", doc=f"objective engine, preset {_name!r}: {PRESETS[_name]}",
                   levels=lambda inputs, _preset=_name: preset_levels(inputs, _preset)))

register(Model(name="objective:calibrated",
               doc="objective engine, preset 'calibrated': the default recipe over 3-40x with the leverage mix and lifetime "
                   "fitted on the measured Hyperliquid positions before the test part (levels.calibration)",
               levels=lambda inputs: preset_levels(inputs, "calibrated")))
