"""BigBeluga-like swing pools as a leaderboard model (`behavioral`).

Source: `indicators.behavioral` ("Dynamic Liquidity HeatMap Profile [BigBeluga]"): pools beyond
2-bar highs (short stops) and lows (long stops), weighted by the 10-bar volume, no OI. Sell-side
pools (below price) predict long liquidations, buy-side pools short ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from indicators.behavioral import BUY_SIDE, SELL_SIDE, compute_pools
from indicators.models import Model, ModelInputs, register


def pool_levels(inputs: ModelInputs) -> pd.DataFrame:
    pools = compute_pools(inputs.bars)
    side = pools["side"].astype(str).map({SELL_SIDE: "long", BUY_SIDE: "short"})
    return pd.DataFrame({"created_ts": pools["created_ts"].to_numpy("datetime64[ns]") + np.timedelta64(inputs.bar),
                         "side": side.to_numpy(), "price": pools["price"].to_numpy(float),
                         "size": pools["weight"].to_numpy(float)})


register(Model(name="behavioral", doc=__doc__, levels=pool_levels))
