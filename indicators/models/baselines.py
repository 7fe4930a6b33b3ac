"""The three honest baselines (`indicators.quality`): what a model must beat to carry information.

- `range_only`: each window predicted by its own move away from the open (no levels at all);
- `fixed_bands`: equal-size levels at each day's open × (1 ∓ 1/L);
- `placebo`: equal-size levels at every bar's close with the estimated models' liquidation
  geometry, 30-day expiry — the price-only density every OI model must improve on.
"""

from __future__ import annotations

import pandas as pd

from indicators import quality
from indicators.models import LEVERAGES, Model, ModelInputs, register


def placebo_levels(inputs: ModelInputs) -> pd.DataFrame:
    return quality.placebo(inputs.bars, inputs.price_for, LEVERAGES, inputs.bar, quality.PLACEBO_EXPIRY)


register(Model(name="range_only", doc=quality.range_only.__doc__, window_predict=quality.range_only, kind="baseline"))
register(Model(name="fixed_bands", doc=quality.fixed_bands.__doc__, levels=lambda inputs: quality.fixed_bands(inputs.bars),
               kind="baseline"))
register(Model(name="placebo", doc=quality.placebo.__doc__, levels=placebo_levels, kind="baseline"))
