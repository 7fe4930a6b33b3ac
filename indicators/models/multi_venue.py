"""Multi-venue (`multi_venue`): the sum of per-venue objective models in USD.

`objective:oi_jumps` runs once on OI summed over venues (each venue's own change in contracts); this
model runs the same recipe on each venue's OI separately — a jump on one venue opens positions even
when another venue's OI falls in the same bar — and adds the level rows in USD. With one venue of
OI the two are the same model.
"""

from __future__ import annotations

import pandas as pd

from indicators.models import LEVEL_COLUMNS, Model, ModelInputs, equal_tiers, register, tier_rows
from indicators.models._events import EXPIRY_H, anchors, objective_events


def multi_venue_levels(inputs: ModelInputs) -> pd.DataFrame:
    parts = []
    for bars in inputs.venue_bars.values():
        idx, _, usd = objective_events(bars)
        parts.append(tier_rows(inputs, idx, anchors(inputs, idx, "close"), usd, usd, equal_tiers(), EXPIRY_H))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=LEVEL_COLUMNS)


register(Model(name="multi_venue", doc=__doc__, levels=multi_venue_levels))
