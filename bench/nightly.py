"""Benchmark: one night of the whole nightly job (ingest → levels → views → checks → exports) for one
symbol at 5-minute bars, with 30, 90 and 365 days of stored history; and the full backfill of 365 days.

Synthetic 5-minute candles and OI (seeded random walk, OI with occasional jumps) for BTC on Binance,
in the files-source layout; a watchlist with `interval = "5m"`. For each history length a fresh
warehouse is backfilled over the history in one single-run backfill, then the next day is run as a
night (the state the incremental engines continue from is the backfill's last day). Every run is
a real in-process Dagster run of the `nightly` job in this process. Targets (issue: levels at the
data's own resolution): night(365) ≤ 1.3 × night(30); backfill(365) ≤ 180 s. Last lines:

    RESULT name=nightly_365_vs_30 night_30_s=<t> night_365_s=<t> ratio=<r>
    RESULT name=backfill_365 backfill_s=<t> per_night_s=<t> ratio_to_365_nights=<r>
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HISTORIES = (30, 90, 365)
LAST_NIGHT = dt.date(2026, 3, 1)
WATCHLIST = '[defaults]\ninterval = "5m"\n\n[symbols.BTC]\ntick_size = 0.1\n\n[symbols.BTC.venues.binance]\ninstrument = "BTCUSDT"\n'


def five_minute_files(root: Path, first: dt.date, last: dt.date, seed: int = 42) -> int:
    """Candles and OI of [first, last] at 5 minutes; the same series for every history (it ends on `last`)."""
    n_all = ((LAST_NIGHT - dt.date(2025, 1, 1)).days + 1) * 288
    rng = np.random.default_rng(seed)
    close = 60_000.0 * np.exp(np.cumsum(rng.normal(0, 0.0012, n_all)))
    open_ = np.concatenate([[60_000.0], close[:-1]])
    wick = np.abs(rng.normal(0, 0.0008, (2, n_all)))
    volume = rng.gamma(2.0, 40.0, n_all)
    jumps = np.where(rng.random(n_all) < 0.02, rng.uniform(1e7, 6e7, n_all), rng.normal(0, 1.5e6, n_all))
    oi = 5e9 + np.cumsum(jumps)
    ts = pd.date_range("2025-01-01", periods=n_all, freq="5min")
    keep = (ts >= pd.Timestamp(first)) & (ts < pd.Timestamp(last + dt.timedelta(days=1)))
    frame = pd.DataFrame({"ts": ts, "interval": "5m", "open": open_, "high": np.maximum(open_, close) * (1 + wick[0]),
                          "low": np.minimum(open_, close) * (1 - wick[1]), "close": close, "volume": volume,
                          "taker_buy_volume": volume * rng.uniform(0.3, 0.7, n_all)})[keep]
    for table, columns in (("klines", ["ts", "interval", "open", "high", "low", "close", "volume", "taker_buy_volume"]),
                           ("open_interest", ["ts", "interval", "oi_usd"])):
        path = root / table / "binance" / "BTC.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        out = frame.assign(oi_usd=oi[keep])[columns]
        out.to_parquet(path, index=False)
    return int(keep.sum())


def run(start: dt.date, end: dt.date) -> float:
    from pipelines.cli import run_days

    began = time.perf_counter()
    result = run_days(start, end, ["BTC"], log_level="CRITICAL", source="files")
    elapsed = time.perf_counter() - began
    if not result.success:
        raise SystemExit(f"run {start} → {end} failed: {[e.message for e in result.all_events if e.is_failure][:3]}")
    return elapsed


def main() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("liqlevels.progress").addHandler(logging.NullHandler())
    logging.getLogger("liqlevels.progress").propagate = False
    base = Path(tempfile.mkdtemp(prefix="liqlevels-bench-"))
    nights, backfills = {}, {}
    try:
        for days in HISTORIES:
            case = base / f"h{days}"
            first = LAST_NIGHT - dt.timedelta(days=days)
            bars = five_minute_files(case / "data", first, LAST_NIGHT)
            (case / "watchlist.toml").write_text(WATCHLIST)
            (case / "home").mkdir(parents=True)
            shutil.copy(ROOT / "warehouse" / "dagster_home" / "dagster.yaml", case / "home" / "dagster.yaml")
            os.environ.update({"LIQLEVELS_DATA": str(case / "data"), "LIQLEVELS_WAREHOUSE": str(case / "w.duckdb"),
                               "LIQLEVELS_EXPORTS": str(case / "exports"), "LIQLEVELS_WATCHLIST": str(case / "watchlist.toml"),
                               "DAGSTER_HOME": str(case / "home")})
            backfills[days] = run(first, LAST_NIGHT - dt.timedelta(days=1))
            nights[days] = run(LAST_NIGHT, LAST_NIGHT)
            print(f"history {days:>3} days ({bars:,} bars of 5m): backfill {backfills[days]:.1f} s, the next night {nights[days]:.2f} s")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"RESULT name=nightly_365_vs_30 night_30_s={nights[30]:.2f} night_365_s={nights[365]:.2f} "
          f"ratio={nights[365] / nights[30]:.2f}")
    print(f"RESULT name=backfill_365 backfill_s={backfills[365]:.1f} per_night_s={nights[365]:.2f} "
          f"ratio_to_365_nights={backfills[365] / (365 * nights[365]):.3f}")


if __name__ == "__main__":
    main()
