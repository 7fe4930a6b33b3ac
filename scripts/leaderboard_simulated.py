"""The leaderboard on the simulated market (`indicators.simulated`), where the truth is known.

    .venv/bin/python scripts/leaderboard_simulated.py [--bars 3000] [--freq 1h] [--seed 3]

No warehouse: the same models, windows, split and scoring as `liqlevels score --leaderboard`.
"""

import argparse
import time

import numpy as np
import pandas as pd

from indicators import leaderboard, quality
from indicators.liqprice import simple_liq_price
from indicators.models import ModelInputs, registry
from indicators.simulated import simulated_market
from pipelines.lib.leaderboard import Leaderboard, format_table


def simulated_leaderboard(bars_count: int, freq: str, seed: int, window: str, resamples: int = 200) -> Leaderboard:
    began = time.perf_counter()
    bars, events = simulated_market(bars_count, seed=seed, freq=freq)
    inputs = ModelInputs(bars=bars, venue_bars={"sim": bars}, bar=pd.Timedelta(freq),
                         price_for=lambda side, base, L: simple_liq_price(side, np.asarray(base, float), L))
    windows = quality.make_windows(bars, events, window)
    first = windows["day"].iloc[0] + pd.Timedelta(days=31).to_pytimedelta()  # a month of history before scoring
    scored = (windows["day"] >= first).to_numpy()
    split = leaderboard.default_split(leaderboard.realized_days(windows, scored))
    table, predictions = leaderboard.evaluate(registry(), inputs, windows, scored, split, resamples=resamples)
    test = windows[scored & (windows["day"].to_numpy() >= split)].reset_index(drop=True)
    return Leaderboard(table, test, predictions, window, f"simulated events ({len(events):,})", "simulated", time.perf_counter() - began)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=3000)
    parser.add_argument("--freq", default="1h")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--window", default="1h")
    args = parser.parse_args()
    print(format_table(simulated_leaderboard(args.bars, args.freq, args.seed, args.window), "simulated"))
