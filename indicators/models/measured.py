"""The measured map as a leaderboard row (`measured`): real positions at their exchange-computed
liquidation prices (Hyperliquid `clearinghouseState` scans), the bound an estimate of positions can reach.

Each snapshot's positions become levels known at the scan's end and standing until the next scan's
end (the last one for a day), so consecutive snapshots never count a position twice. Kind `measured`:
shown next to the models, never chosen as the best model.
"""

from __future__ import annotations

import pandas as pd

from indicators.models import LEVEL_COLUMNS, Model, ModelInputs, register

LAST_SNAPSHOT_HOURS = 24  # the newest snapshot stands this long when no later one replaces it


def measured_levels(inputs: ModelInputs) -> pd.DataFrame:
    found = inputs.positions
    if found is None or found.empty:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c.endswith("_ts") else float) for c in LEVEL_COLUMNS})
    ends = found.groupby("snapshot_ts")["scan_end"].first().sort_index()
    following = pd.Series(ends.to_numpy()[1:].tolist() + [ends.iloc[-1] + pd.Timedelta(hours=LAST_SNAPSHOT_HOURS)], index=ends.index)
    priced = found[found["liq_price"].notna() & (found["liq_price"] > 0)]
    return pd.DataFrame({
        "created_ts": priced["snapshot_ts"].map(ends).to_numpy("datetime64[ns]"),
        "side": priced["side"].astype(str).to_numpy(),
        "price": priced["liq_price"].to_numpy(float),
        "size": priced["position_usd"].to_numpy(float),
        "expires_ts": priced["snapshot_ts"].map(following).to_numpy("datetime64[ns]"),
    })


register(Model(name="measured", doc=__doc__.splitlines()[0], levels=measured_levels, kind="measured"))
