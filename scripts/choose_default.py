"""How the objective engine's `default` preset was chosen: on training days only.

    .venv/bin/python scripts/choose_default.py   (after `make demo`, which fills the warehouse)

Scores every candidate of the `oi_volume` model (k × volume power × expiry) on the *training*
parts of the bundled real windows — Hyperliquid daily liquidations 2025-12-08 → 2026-01-03 and
OKX single liquidations on 2026-03-04, for BTC, ETH and SOL — and prints the candidates by their
mean training partial rank. The best one is the preset. The test parts (2026-01-04 → 01-31 and
2026-03-05) are never read here; the README's leaderboard reports them.
"""

import datetime as dt

import pandas as pd

from indicators import quality
from indicators.models import registry
from pipelines.lib.leaderboard import model_inputs
from pipelines.lib.paths import warehouse_path, watchlist_path
from pipelines.lib.scorecard import LOOKBACK, load_realized
from pipelines.lib.warehouse import connect
from pipelines.lib.watchlist import load_watchlist

TRAINING = [(dt.date(2025, 12, 8), dt.date(2026, 1, 3), "1d"), (dt.date(2026, 3, 4), dt.date(2026, 3, 4), "1h")]


def training_scores() -> pd.DataFrame:
    model = registry()["oi_volume"]
    watchlist = load_watchlist(watchlist_path())
    rows = []
    with connect(warehouse_path(), read_only=True) as con:
        for spec in watchlist.symbols.values():
            for start, end, window in TRAINING:
                range_start = dt.datetime.combine(start, dt.time())
                range_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
                truth = load_realized(con, spec.symbol, range_start, range_end, history_start=range_start - LOOKBACK)
                inputs, _ = model_inputs(con, spec.symbol, list(spec.listings), spec.interval, range_start - LOOKBACK, range_end, end)
                windows = quality.make_windows(inputs.bars, truth.events, window)
                scored = ((windows["start"] >= pd.Timestamp(range_start)) & (windows["start"] < pd.Timestamp(range_end))).to_numpy()
                part = windows[scored].reset_index(drop=True)
                for params in model.candidates():
                    pred = quality.predictions(model.levels(inputs, **params), windows)[scored].reset_index(drop=True)
                    partial = quality._metrics(pred["long_pred"].to_numpy(float), pred["short_pred"].to_numpy(float), part)["partial_rank"]
                    rows.append({**params, "symbol": spec.symbol, "window": window, "partial_rank": partial})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    scores = training_scores()
    keys = [k for k in scores.columns if k not in ("symbol", "window", "partial_rank")]
    table = scores.groupby(keys)["partial_rank"].agg(["mean", "min", "count"]).sort_values("mean", ascending=False)
    print(table.round(3).to_string())
    best = table.index[0]
    print("chosen on the training parts:", {k: getattr(v, "item", lambda v=v: v)() for k, v in zip(keys, best)})
