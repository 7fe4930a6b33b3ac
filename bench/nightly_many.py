"""Benchmark: one night of the whole nightly job for N synthetic symbols × 4 venues, with a per-step
breakdown and the fitted cost per symbol.

Each symbol trades on Binance, Bybit, OKX and Hyperliquid; every venue has candles and OI at the bar
interval, funding every 8 h and realized liquidation events every day (seeded random walks, files-source
layout, Parquet). For each N a fresh warehouse gets `--history` days of raw history (the ingest assets
only, one single-run backfill: the warm-up the default model needs), then two nights of the real
`nightly` job: the first starts the incremental engines from the raw history, the second — timed — is
a steady night (ingest → levels → views → checks → exports). Only the level history of the nights
themselves exists, so the scorecard scores one prior night (a real night scores more; stated).

Network is excluded (files source). Every run is a real in-process Dagster run in this process.
Target (issue: fast paths): 50 symbols × 4 venues at 1 h ≤ 120 s. Last lines:

    RESULT name=nightly_many interval=<i> symbols=<n> night_s=<t> per_symbol_s=<b> fixed_s=<a>
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VENUES = {"binance": "{s}USDT", "bybit": "{s}USDT", "okx": "{s}-USDT-SWAP", "hyperliquid": "{s}"}
NIGHT = dt.date(2026, 3, 1)  # the timed night; the night before starts the engines
TARGET_S = {("1h", 50): 120.0}


def symbols(n: int) -> list[str]:
    return [f"S{i:03d}" for i in range(n)]


def watchlist(names: list[str], interval: str) -> str:
    out = [f'[defaults]\ninterval = "{interval}"\n']
    for s in names:
        out.append(f"[symbols.{s}]\ntick_size = 0.01\n")
        for venue, instrument in VENUES.items():
            out.append(f'[symbols.{s}.venues.{venue}]\ninstrument = "{instrument.format(s=s)}"\ncontract_size = 1.0\n')
    return "\n".join(out)


def market_files(root: Path, names: list[str], first: dt.date, last: dt.date, interval: str) -> int:
    """Candles, OI, funding and liquidations of [first, last] per symbol and venue; returns bars written."""
    step = pd.Timedelta(interval.replace("m", "min"))
    ts = pd.date_range(pd.Timestamp(first), pd.Timestamp(last + dt.timedelta(days=1)), freq=step, inclusive="left")
    n = len(ts)
    per_hour = pd.Timedelta("1h") / step
    bars = 0
    for k, symbol in enumerate(names):
        rng = np.random.default_rng(1000 + k)
        base_price = float(rng.uniform(1, 5000))
        common = np.cumsum(rng.normal(0, 0.006 / np.sqrt(per_hour), n))
        for v, venue in enumerate(VENUES):
            close = base_price * np.exp(common + rng.normal(0, 1e-4, n))
            open_ = np.concatenate([[close[0]], close[:-1]])
            wick = np.abs(rng.normal(0, 0.002 / np.sqrt(per_hour), (2, n)))
            volume = rng.gamma(2.0, 50.0, n) / per_hour
            oi = 5e7 * (1 + k % 7) * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
            frames = {
                "klines": pd.DataFrame({"ts": ts, "interval": interval, "open": open_, "high": np.maximum(open_, close) * (1 + wick[0]),
                                        "low": np.minimum(open_, close) * (1 - wick[1]), "close": close, "volume": volume,
                                        "taker_buy_volume": volume * rng.uniform(0.3, 0.7, n)}),
                "open_interest": pd.DataFrame({"ts": ts, "interval": interval, "oi_usd": oi}),
                "funding": pd.DataFrame({"ts": pd.date_range(ts[0], ts[-1], freq="8h"), "rate": 1e-4}),
            }
            events = max(int(n / per_hour / 2), 1)  # about one liquidation every two hours
            at = np.sort(rng.choice(n, events))
            price = close[at] * (1 + rng.normal(0, 0.002, events))
            qty = rng.gamma(1.0, 2000.0, events) / price
            frames["liquidations"] = pd.DataFrame({"ts": ts[at] + pd.to_timedelta(rng.integers(0, int(step.total_seconds()), events), unit="s"),
                                                   "side": np.where(rng.random(events) < 0.5, "long", "short"),
                                                   "price": price, "qty_base": qty, "usd": qty * price}).drop_duplicates(["ts", "side", "price", "qty_base"])
            for table, frame in frames.items():
                path = root / table / venue / f"{symbol}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                frame.to_parquet(path, index=False)
            bars += n
    return bars


def steps(result) -> dict[str, float]:
    """Seconds per step of a run (STEP_START → STEP_SUCCESS/FAILURE), from the run's event log."""
    import dagster as dg

    started, spent = {}, defaultdict(float)
    ids = getattr(result, "run_ids", [result.run_id])  # one run per symbol: their steps' seconds add up
    for entry in (e for run_id in ids for e in dg.DagsterInstance.get().all_logs(run_id)):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
            spent[event.step_key] += entry.timestamp - started.pop(event.step_key)
    return dict(spent)


def run(start: dt.date, end: dt.date, ingest_only: bool = False):
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from pipelines.cli import load_definitions, run_days
    from pipelines.defs.partitions import add_symbols, partition_key
    from pipelines.lib.paths import data_root, landing_root, watchlist_path
    from pipelines.lib.watchlist import load_watchlist

    began = time.perf_counter()
    if ingest_only:
        defs = load_definitions()
        job = defs.resolve_job_def("nightly")
        instance = dg.DagsterInstance.get()
        names = [spec.symbol for spec in load_watchlist(watchlist_path()).select(None)]
        add_symbols(instance, names)
        keys = [k for k in job.asset_layer.executable_asset_keys if k.path[0] == "raw"]
        result = job.execute_in_process(
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
                        "resources": {"market_source": {"config": {"mode": "files", "files_root": str(data_root()),
                                                                   "landing_root": str(landing_root())}}}},
            instance=instance, asset_selection=keys, raise_on_error=False,
            # one run over the rectangle days x every symbol (neighbours: added in this order to a fresh instance)
            tags={ASSET_PARTITION_RANGE_START_TAG: str(partition_key(names[0], start)),
                  ASSET_PARTITION_RANGE_END_TAG: str(partition_key(names[-1], end))})
    else:
        result = run_days(start, end, log_level="CRITICAL", source="files")
    elapsed = time.perf_counter() - began
    if not result.success:
        failures = [e.message for e in result.all_events if e.is_failure][:3]
        raise SystemExit(f"run {start} → {end} failed: {failures}")
    return elapsed, result


def case(base: Path, n: int, interval: str, history: int) -> tuple[float, dict[str, float], float]:
    work = base / f"{interval}-{n}"
    names = symbols(n)
    first = NIGHT - dt.timedelta(days=history + 1)
    made = time.perf_counter()
    bars = market_files(work / "data", names, first, NIGHT, interval)
    made = time.perf_counter() - made
    (work / "watchlist.toml").write_text(watchlist(names, interval))
    (work / "home").mkdir(parents=True)
    shutil.copy(ROOT / "warehouse" / "dagster_home" / "dagster.yaml", work / "home" / "dagster.yaml")
    os.environ.update({"LIQLEVELS_DATA": str(work / "data"), "LIQLEVELS_WAREHOUSE": str(work / "w.duckdb"),
                       "LIQLEVELS_EXPORTS": str(work / "exports"), "LIQLEVELS_WATCHLIST": str(work / "watchlist.toml"),
                       "DAGSTER_HOME": str(work / "home")})
    ingest_s, _ = run(first, NIGHT - dt.timedelta(days=2), ingest_only=True)
    first_night_s, _ = run(NIGHT - dt.timedelta(days=1), NIGHT - dt.timedelta(days=1))
    night_s, result = run(NIGHT, NIGHT)
    spent = steps(result)
    print(f"{interval} {n:>3} symbols × 4 venues: files {made:.1f} s ({bars:,} bars), history ingest {ingest_s:.1f} s, "
          f"first night {first_night_s:.1f} s, steady night {night_s:.1f} s", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return night_s, spent, first_night_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interval", action="append", choices=["1h", "5m"], help="bar interval (repeatable; default 1h and 5m)")
    parser.add_argument("--symbols", type=int, action="append", help="N symbols (repeatable; default 1, 10, 50 at 1h; 1, 10 at 5m)")
    parser.add_argument("--history", type=int, default=61, help="days of raw history before the nights (the default model's warm-up is 60)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("liqlevels.progress").addHandler(logging.NullHandler())
    logging.getLogger("liqlevels.progress").propagate = False
    base = Path(tempfile.mkdtemp(prefix="liqlevels-bench-many-"))
    lines = []
    try:
        for interval in args.interval or ["1h", "5m"]:
            counts = args.symbols or ([1, 10, 50] if interval == "1h" else [1, 10])
            nights, breakdown = {}, {}
            for n in counts:
                nights[n], breakdown[n], _ = case(base, n, interval, args.history)
            biggest = max(counts)
            print(f"\nsteps of the {biggest}-symbol night at {interval} (seconds, largest first):")
            for step, seconds in sorted(breakdown[biggest].items(), key=lambda kv: -kv[1])[:15]:
                print(f"  {step:<40} {seconds:7.2f}")
            ns = np.array(counts, dtype=float)
            ts = np.array([nights[n] for n in counts])
            slope, fixed = np.polyfit(ns, ts, 1) if len(counts) > 1 else (ts[0] / ns[0], 0.0)
            serves = int((8 * 3600 - fixed) / slope) if slope > 0 else 0
            print(f"fit at {interval}: night ≈ {fixed:.1f} s + {slope:.2f} s per symbol (4 venues) → "
                  f"an 8-hour night serves ~{serves:,} symbols")
            for n in counts:
                target = TARGET_S.get((interval, n))
                verdict = "" if target is None else f" target_s={target:.0f} " + ("met" if nights[n] <= target else "NOT met")
                lines.append(f"RESULT name=nightly_many interval={interval} symbols={n} night_s={nights[n]:.1f} "
                             f"per_symbol_s={slope:.2f} fixed_s={fixed:.1f}{verdict}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
