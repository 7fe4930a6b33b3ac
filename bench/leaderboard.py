"""Benchmark: the model leaderboard over 30 scored days of 5-minute bars (plus the 31-day lookback),
every registered model with its tuning grid, 30-minute windows, 200 day-bootstrap resamples.

Data: the simulated market (`indicators.simulated`) at 5 minutes. Reference in the same process:
scoring the placebo alone (levels, predictions, metrics with intervals), the least any scorer
does. Target (issue: a model leaderboard): the whole leaderboard ≤ 60 s on this machine. Last line:

    RESULT name=leaderboard_30d_5m seconds=<t> models=<m> candidates=<c> placebo_s=<t> ratio=<r> target_s=60
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indicators import leaderboard, quality  # noqa: E402
from indicators.liqprice import simple_liq_price  # noqa: E402
from indicators.models import ModelInputs, registry  # noqa: E402
from indicators.simulated import simulated_market  # noqa: E402

TARGET_S = 60.0


def main() -> None:
    bars, events = simulated_market((31 + 30) * 288, seed=5, freq="5min", sigma=0.0012)
    inputs = ModelInputs(bars=bars, venue_bars={"sim": bars}, bar=pd.Timedelta("5min"),
                         price_for=lambda side, base, L: simple_liq_price(side, np.asarray(base, float), L))
    models = registry()
    # warm the numba kernels so the timings are of the work, not of compilation
    small = quality.make_windows(bars.head(2000), events, "30min")
    leaderboard.evaluate(models, replace(inputs, bars=bars.head(2000), venue_bars={"sim": bars.head(2000)}), small,
                         np.ones(len(small), bool), sorted(set(small["day"]))[-1], resamples=5)
    began = time.perf_counter()
    windows = quality.make_windows(bars, events, "30min")
    scored = (windows["day"] >= windows["day"].iloc[0] + pd.Timedelta(days=31).to_pytimedelta()).to_numpy()
    split = leaderboard.default_split(leaderboard.realized_days(windows, scored))
    reference = time.perf_counter()
    placebo = quality.predictions(models["placebo"].levels(inputs), windows)[scored].reset_index(drop=True)
    quality.score(placebo, windows[scored].reset_index(drop=True), resamples=200)
    placebo_s = time.perf_counter() - reference
    table, _ = leaderboard.evaluate(models, inputs, windows, scored, split, resamples=200)
    seconds = time.perf_counter() - began
    candidates = int(table.loc[table["part"] == "test", "candidates"].sum())
    print(f"leaderboard: {len(bars):,} 5-minute bars, {int(scored.sum()):,} scored 30-minute windows, {len(models)} models, "
          f"{candidates} candidates: {seconds:.1f} s (placebo alone {placebo_s:.2f} s; target {TARGET_S:.0f} s)")
    print(f"RESULT name=leaderboard_30d_5m seconds={seconds:.2f} models={len(models)} candidates={candidates} "
          f"placebo_s={placebo_s:.3f} ratio={seconds / placebo_s:.1f} target_s={TARGET_S:.0f}")


if __name__ == "__main__":
    main()
