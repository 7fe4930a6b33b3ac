"""Benchmark: one night at 5-minute bars for N synthetic symbols (× 4 venues) on a Parquet lake, with 1,
2 and 4 workers, three ways:

- `runs` (one machine): partitions are (day, symbol), so each symbol's night is a run of its own;
  `LIQLEVELS_PARALLEL_RUNS=w` runs w of them at once, each in a Dagster run worker process.
- `celery`: the same w symbol runs at once, their steps on w single-process Celery workers (Redis
  broker, Dagster on PostgreSQL; both started here on loopback as the scale-out tests do).
- `multiprocess`: one symbol run at a time, its steps on the multiprocess executor with w processes
  (parallel steps of one run, not symbols: the bound the partitions remove).

Wall time, rows written per second and the peak memory of one process, each printed as a ratio to
the 1-worker run of the same mode. Target (issue: scale-out): ≥ 1.7× at 2 workers for 32 symbols on
this 2-core machine.

Each N gets `--history` days of raw history ingested once (in-process) into a base lake, copied for
every configuration; the night is the real `liqlevels demo --data … --watchlist …` for that day (ingest
→ levels → views → checks → exports), a fresh Dagster instance each time. Synthetic data as in
bench/nightly_many.py. Last lines:

    RESULT name=scale executor=<e> symbols=<n> workers=<w> night_s=<t> speedup=<r> rows_per_s=<r> peak_mb=<m>
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.nightly_many import NIGHT, market_files, symbols, watchlist  # noqa: E402
from pipelines.lib.lake import Lake  # noqa: E402

PEAK = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def lake_rows(lake: Path) -> int:
    from pipelines.lib.lake import table_hashes

    with Lake(str(lake)).connect() as con:
        return sum(n for n, _ in table_hashes(con).values())


def timed(args: list[str], env: dict, log: Path) -> tuple[float, float]:
    """Seconds and the peak RSS (MB) of the largest process of `liqlevels <args>`."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, str(Path(sys.executable).parent / "liqlevels"), *args], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - began
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"liqlevels {' '.join(args)} failed ({done.returncode}); see {log}:\n{done.stdout[-2000:]}")
    peak = next(int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("PEAK_KB"))
    return seconds, peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, action="append", help="N symbols (repeatable; default 1, 8, 32)")
    parser.add_argument("--workers", type=int, action="append", help="worker counts (repeatable; default 1, 2, 4)")
    parser.add_argument("--executor", action="append", choices=["runs", "multiprocess", "celery"], help="default runs and celery")
    parser.add_argument("--history", type=int, default=3, help="days of raw history before the night (default 3)")
    parser.add_argument("--keep-history", metavar="DIR", help="keep each N's history lake in DIR and reuse it when there "
                        "(the synthetic data are deterministic; delete DIR after changing the code that writes them)")
    parser.add_argument("--history-runs", type=int, default=2, help="symbol runs at once while ingesting the history (default 2)")
    args = parser.parse_args()
    from tests.pipelines.scale_harness import CeleryWorker, instance_home, run_env

    counts, workers = args.symbols or [1, 8, 32], args.workers or [1, 2, 4]
    executors = args.executor or ["runs", "celery"]
    base = Path(tempfile.mkdtemp(prefix="liqlevels-bench-scale-"))
    services = None
    lines = []
    try:
        if "celery" in executors:
            from tests.pipelines.services import Postgres, Redis

            services = Postgres(base / "pg"), Redis(base)
        for n in counts:
            work = base / f"n{n}"
            first = NIGHT - dt.timedelta(days=args.history)
            bars = market_files(work / "data", symbols(n), first, NIGHT, "5m")
            (work / "watchlist.toml").write_text(watchlist(symbols(n), "5m"))
            source = ["--data", str(work / "data"), "--watchlist", str(work / "watchlist.toml")]
            saved = Path(args.keep_history) / f"n{n}-h{args.history}" if args.keep_history else None
            if saved is not None and (saved / "lake" / "_lake.json").is_file():  # a history made by an earlier run of this bench
                shutil.copytree(saved / "lake", work / "lake")
                history_s = float((saved / "history_s").read_text())
            else:
                # the history is set-up, not measured: its symbol runs go two at a time (the same lake as one by one)
                env = run_env(work / "history", work / "lake", instance_home(work / "history" / "home", deploy=False),
                              extra={"LIQLEVELS_PARALLEL_RUNS": str(args.history_runs)})
                history_s, _ = timed(["demo", "--start", first.isoformat(), "--end", (NIGHT - dt.timedelta(days=1)).isoformat(), *source],
                                     env, work / "history.log")
                if saved is not None:
                    shutil.copytree(work / "lake", saved / "lake")
                    (saved / "history_s").write_text(f"{history_s:.1f}")
            before = lake_rows(work / "lake")
            print(f"{n} symbols × 4 venues: {bars:,} bars of 5m files; {args.history} days of history in {history_s:.1f} s", flush=True)
            reference = None
            for executor in executors:
                first_s = None
                for w in workers:
                    root = work / f"{executor}-{w}"
                    shutil.copytree(work / "lake", root / "lake")
                    extra = {"LIQLEVELS_WORKERS": str(w)} if executor == "multiprocess" else {"LIQLEVELS_PARALLEL_RUNS": str(w)}
                    started = []
                    if executor == "celery":
                        postgres, redis = services
                        extra.update({**postgres.env(), "LIQLEVELS_CELERY_BROKER": f"{redis.url}/0",
                                      "LIQLEVELS_CELERY_BACKEND": f"{redis.url}/1"})
                    env = run_env(root, root / "lake", instance_home(root / "home", deploy=executor == "celery"),
                                  "in_process" if executor == "runs" else executor, extra)
                    if executor == "celery":
                        started = [CeleryWorker(f"b{n}-{w}-{i}", env, extra["LIQLEVELS_CELERY_BROKER"], extra["LIQLEVELS_CELERY_BACKEND"],
                                                root / f"worker{i}.log") for i in range(w)]
                    try:
                        night_s, peak_mb = timed(["demo", "--start", NIGHT.isoformat(), "--end", NIGHT.isoformat(), *source],
                                                 env, root / "night.log")
                    finally:
                        for worker in started:
                            worker.stop()
                    rows = lake_rows(root / "lake") - before
                    content = Lake(str(root / "lake")).content_hash()
                    reference = reference or content  # every configuration must write the same lake
                    first_s = first_s or night_s
                    line = (f"RESULT name=scale executor={executor} symbols={n} workers={w} night_s={night_s:.1f} "
                            f"speedup={first_s / night_s:.2f} rows_per_s={rows / night_s:.0f} peak_mb={peak_mb:.0f}"
                            f"{'' if content == reference else ' LAKE DIFFERS from the first configuration'}")
                    if n == 32 and w == 2:
                        line += " target_speedup=1.7 " + ("met" if first_s / night_s >= 1.7 else "NOT met")
                    print(line, flush=True)
                    lines.append(line)
                    shutil.rmtree(root, ignore_errors=True)
            print(f"  per symbol-night ({n} symbols, best run): {min(float(l.split('night_s=')[1].split()[0]) for l in lines if f'symbols={n} ' in l) / n:.2f} s")
    finally:
        if services:
            for service in reversed(services):
                service.stop()
        shutil.rmtree(base, ignore_errors=True)
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
