"""`liqlevels` command line: `liqlevels demo`, and the subcommands later issues add."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import os
import sys
import gc
import time
import warnings

from pipelines import lake_cli, liq_price_cli, live_cli
from pipelines.lib.paths import dagster_home, data_root, exports_root, landing_root, warehouse_path, watchlist_path

DEMO_START = dt.date(2025, 12, 7)
DEMO_END = dt.date(2026, 3, 5)

SUMMARY_TABLES = ["raw.klines", "raw.open_interest", "raw.funding", "raw.liquidations", "raw.positions", "levels.objective",
                  "levels.measured", "ops.rejects", "ops.validation_results", "ops.quarantine"]

def nearest_levels(con, as_of: dt.date) -> list[tuple]:
    """Per symbol: last close, and the nearest active long level below / short level above it
    (default preset, all venues), with their USD."""
    return con.execute(
        """
        with closes as (
            select symbol, arg_max(close, ts) as close from raw.klines
            where ts < ?::date + interval 1 day group by symbol
        ), active as (
            select o.symbol, o.side, o.leverage, o.liq_price, o.notional_usd, c.close from levels.objective o
            join closes c using (symbol)
            where o.as_of = ? and o.status = 'active' and o.preset = 'default' and o.venue = 'all'
        )
        select c.symbol, c.close,
               (select max_by(liq_price, liq_price) from active a where a.symbol = c.symbol and side = 'long' and liq_price < c.close),
               (select max_by(notional_usd, liq_price) from active a where a.symbol = c.symbol and side = 'long' and liq_price < c.close),
               (select min_by(liq_price, liq_price) from active a where a.symbol = c.symbol and side = 'short' and liq_price > c.close),
               (select min_by(notional_usd, liq_price) from active a where a.symbol = c.symbol and side = 'short' and liq_price > c.close),
               (select count(*) from active a where a.symbol = c.symbol)
        from closes c order by c.symbol
        """,
        [as_of, as_of],
    ).fetchall()


def load_definitions():
    from pipelines.definitions import defs

    return defs()


@dataclasses.dataclass
class RunsResult:
    """The runs of one `liqlevels run`/`demo`: one per symbol, tagged with the batch id (the first run's id)."""

    run_id: str
    run_ids: list[str]
    success: bool
    all_events: list


BATCH_TAG = "liqlevels/batch"


def run_days(start: dt.date, end: dt.date, symbols: list[str] | None = None, log_level: str = "INFO", source: str = "files",
             run_id: str | None = None, http: dict | None = None) -> RunsResult:
    """Materialize every asset for the days [start, end]: one run per symbol (its partitions
    `<day>|<symbol>` for those days, a single-run range), all tagged `liqlevels/batch`.

    `LIQLEVELS_PARALLEL_RUNS` (default 1) runs that many symbols at once, in that many run worker
    processes (`run_in_workers`); with 1 they run one after another in this process. Runs are
    tagged with this process's pid and host, so a later start can tell a killed run from a running one
    (`pipelines.launch`). `http` overrides market_source's timeout/retries/backoff.
    """
    import socket
    import uuid

    import dagster as dg

    from pipelines.defs.partitions import add_symbols, range_tags
    from pipelines.defs.resources import exports_resource
    from pipelines.launch import HOST_TAG, PID_TAG
    from pipelines.lib.deployment import parallel_runs_from_env
    from pipelines.lib.watchlist import load_watchlist

    # BackfillPolicy and partitioned checks are flagged beta/preview in 1.13; the demo relies on them.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    os.environ.setdefault("DAGSTER_HOME", str(dagster_home()))
    dagster_home().mkdir(parents=True, exist_ok=True)
    parallel = parallel_runs_from_env()
    job = load_definitions().resolve_job_def("nightly")
    chosen = [spec.symbol for spec in load_watchlist(watchlist_path()).select(symbols)]
    instance = dg.DagsterInstance.get()
    add_symbols(instance, chosen)  # the symbol dimension's keys: the watchlist's symbols, added as runs see them
    # Run config replaces a resource's whole config, so every required field is given here.
    market_source = {"mode": source, "files_root": str(data_root()), "landing_root": str(landing_root()), **(http or {})}
    run_config: dict = {"loggers": {"console": {"config": {"log_level": log_level}}},
                        "resources": {"market_source": {"config": market_source}}}
    # The watchlist and exports as this process sees them (--watchlist, LIQLEVELS_*), in the run's config:
    # steps on other processes or machines (multiprocess, Celery) get them from there, not from their own env.
    run_config["resources"]["watchlist"] = {"config": {"path": str(watchlist_path()), "symbols": []}}
    run_config["resources"]["exports"] = {"config": exports_resource().model_dump()}
    batch = run_id or str(uuid.uuid4())
    common = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(), BATCH_TAG: batch}
    handler = progress_handler()
    if handler is not None:
        handler.start(len(job.nodes) * len(chosen))
    ids = [batch if i == 0 else str(uuid.uuid4()) for i in range(len(chosen))]
    events: list = []
    try:
        if parallel > 1 and len(chosen) > 1:
            return run_in_workers(instance, job, run_config, chosen, ids, start, end, common, parallel, batch)
        results = []
        for symbol, one_id in zip(chosen, ids):
            tags = {**range_tags(start, end, symbol), **common}
            if job.executor_def.name == "in_process":
                result = job.execute_in_process(run_config=run_config, instance=instance, tags=tags, raise_on_error=False,
                                                run_id=one_id)
            else:
                result = execute_elsewhere(job, run_config, tags, one_id)
            results.append(result)
            events += result.all_events
        return RunsResult(batch, ids, all(r.success for r in results), events)
    finally:
        if handler is not None:
            handler.finish()


def execute_elsewhere(job, run_config: dict, tags: dict, run_id: str | None):
    """A run whose steps execute in other processes (LIQLEVELS_EXECUTOR=multiprocess or celery): the job
    is rebuilt from `pipelines.definitions.nightly_job` there, and their events reach this instance's storage."""
    import dagster as dg
    from dagster._core.execution.api import execute_run

    from pipelines.definitions import nightly_job

    # the executor reports its workers' starts on Dagster's own logger at DEBUG: keep to the run's level
    level = run_config["loggers"]["console"]["config"]["log_level"]
    logging.getLogger("dagster").setLevel(getattr(logging, level, logging.INFO))
    instance = dg.DagsterInstance.get()
    recon = dg.reconstructable(nightly_job)
    run = instance.create_run_for_job(job_def=job, run_config=run_config, tags=tags, run_id=run_id)
    return execute_run(recon, run, instance)


def run_in_workers(instance, job, run_config: dict, symbols: list[str], ids: list[str], start: dt.date, end: dt.date,
                   common: dict, parallel: int, batch: str) -> RunsResult:
    """The symbols' runs, `parallel` at a time, in `parallel` run worker processes that take the runs
    one after another from a queue. Each run executes as Dagster's run worker executes it (the body of
    `dagster api execute_run`: the run's events, its cancellation thread, its exit status), so a run
    here is a run there; the process is kept for the next run because starting one (imports, the
    definitions, compiled indicators) costs seconds per run, more than many small runs themselves.
    Workers die with this process (PR_SET_PDEATHSIG): a stopped `liqlevels run` leaves none behind."""
    import multiprocessing
    import queue as queues

    import dagster as dg

    from pipelines.defs.partitions import range_tags
    from pipelines.definitions import nightly_job

    origin = dg.reconstructable(nightly_job).get_python_origin()
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of this process's threads or files
    todo, done = context.Queue(), context.Queue()
    symbol_of = {}
    for symbol, one_id in zip(symbols, ids):
        instance.create_run_for_job(job_def=job, run_config=run_config, run_id=one_id, job_code_origin=origin,
                                    tags={**range_tags(start, end, symbol), **common})
        symbol_of[one_id] = symbol
        todo.put(one_id)
    workers = [context.Process(target=run_worker, args=(todo, done), name=f"liqlevels-run-worker-{i}")
               for i in range(min(parallel, len(ids)))]
    for _ in workers:
        todo.put(None)  # one stop mark per worker, after the runs
    ok: dict[str, bool] = {}
    progress = logging.getLogger("liqlevels.progress")
    try:
        for worker in workers:
            worker.start()
        while len(ok) < len(ids):
            try:
                one_id, seconds = done.get(timeout=1.0)
            except queues.Empty:
                if not any(worker.is_alive() for worker in workers):
                    break  # every worker ended (killed): the runs they had not finished stay unfinished
                continue
            run = instance.get_run_by_id(one_id)
            ok[one_id] = run is not None and run.status == dg.DagsterRunStatus.SUCCESS
            progress.info(f"{symbol_of[one_id]}: run {one_id[:8]} {'succeeded' if ok[one_id] else 'FAILED'} "
                          f"in {seconds:.1f} s ({len(ok)}/{len(symbols)} runs)")
    finally:
        for worker in workers:
            worker.join(timeout=5 if len(ok) == len(ids) else 0)
            if worker.is_alive():
                worker.terminate()
    events = [entry.dagster_event for one_id in ids for entry in instance.all_logs(one_id) if entry.dagster_event is not None]
    return RunsResult(batch, ids, all(ok.get(i, False) for i in ids), events)


def run_worker(todo, done) -> None:
    """A run worker process: executes the queued runs one after another, each with Dagster's run worker
    body, and reports (run id, seconds) for each; ends at a None."""
    _die_with_parent()
    import dagster as dg
    from dagster._cli.api import _execute_run_command_body

    warnings.filterwarnings("ignore")
    instance = dg.DagsterInstance.get()
    while (one_id := todo.get()) is not None:
        began = time.monotonic()
        try:
            _execute_run_command_body(one_id, instance, lambda event: None, set_exit_code_on_failure=True)
        finally:  # a run that raised is failed in storage by the body; the parent reads its status there
            done.put((one_id, time.monotonic() - began))


def _die_with_parent() -> None:
    """In a run worker before it starts: the kernel sends it SIGTERM when its parent ends (Linux)."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def quiet_progress_output(progress: bool) -> None:
    """What a person reads: our progress lines (one per day and step), no library warnings."""
    warnings.filterwarnings("ignore")
    logger = logging.getLogger("liqlevels.progress")
    logger.propagate = False
    if not progress:
        logger.addHandler(logging.NullHandler())  # the run summary lists the notes
    else:
        logger.addHandler(ProgressHandler(sys.stdout))
        logger.setLevel(logging.INFO)


class PreflightError(ValueError):
    """A run that cannot succeed: refused before it starts, with the reason."""


def preflight(start: dt.date, end: dt.date, symbols: list[str] | None) -> list[str]:
    """Check what a run needs before launching it; returns the run's symbols.

    The days must be partitions (from the partition start to yesterday UTC), the symbols in the
    watchlist, the warehouse file (if any) a DuckDB database and LIQLEVELS_PARALLEL_RUNS a count.
    """
    from pipelines.defs.partitions import PARTITION_START, last_partition_day
    from pipelines.lib.warehouse import WarehouseFileError, check_warehouse_file
    from pipelines.lib.watchlist import WatchlistError, load_watchlist

    last = last_partition_day()
    if start < PARTITION_START or end > last:
        raise PreflightError(f"days {start} → {end} are outside the allowed range {PARTITION_START} → {last} "
                             "(the first Binance USDⓈ-M archive day to yesterday, UTC)")
    try:
        chosen = [s.symbol for s in load_watchlist(watchlist_path()).select(symbols)]
    except WatchlistError as exc:
        raise PreflightError(str(exc)) from None
    try:
        check_warehouse_file(warehouse_path())
    except WarehouseFileError as exc:
        raise PreflightError(str(exc)) from None
    from pipelines.lib.deployment import DeploymentError, parallel_runs_from_env

    try:
        parallel_runs_from_env()
    except DeploymentError as exc:
        raise PreflightError(str(exc)) from None
    return chosen


class ProgressHandler(logging.StreamHandler):
    """On a terminal: one progress bar for the run (tqdm, a tick per finished step, the current day and
    step beside it), with each step's summary, warning or error printed above it. Elsewhere (logs,
    CI): one line per step, not one per day and step."""

    def __init__(self, stream):
        super().__init__(stream)
        self.live = stream.isatty()
        self.setFormatter(logging.Formatter("  %(message)s"))
        self.bar = None

    def start(self, steps: int) -> None:
        """The run's number of steps (assets and checks): the bar's length."""
        if self.live:
            from tqdm import tqdm

            self.bar = tqdm(total=steps, unit="step", file=self.stream, dynamic_ncols=True, leave=False,
                            bar_format="  {bar:30} {n_fmt}/{total_fmt} steps {elapsed} | {desc}")

    def finish(self) -> None:  # not close(): logging calls a handler's close() on its own
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def emit(self, record: logging.LogRecord) -> None:
        per_day = getattr(record, "per_day", False) and record.levelno < logging.WARNING
        if self.bar is not None:
            if per_day:
                self.bar.set_description_str(record.getMessage()[:60], refresh=True)
            else:
                self.bar.write(self.format(record), file=self.stream)
                if record.levelno < logging.WARNING and self.bar.n < self.bar.total - 1:
                    self.bar.update(1)  # a step's summary (an asset may write one per symbol: the bar stops short of the end)
        elif self.live:
            self.stream.write("\r\033[K" + self.format(record) + ("" if per_day else "\n"))
            self.stream.flush()
        elif not per_day:
            super().emit(record)


def progress_handler() -> ProgressHandler | None:
    return next((h for h in logging.getLogger("liqlevels.progress").handlers if isinstance(h, ProgressHandler)), None)


def data_description() -> str:
    """Where the files source reads: the bundled real data, or the folder LIQLEVELS_DATA names."""
    from pipelines.lib.paths import PROJECT_ROOT

    root = data_root()
    return "bundled real data (data/)" if root == (PROJECT_ROOT / "data").resolve() else f"files under {root} (LIQLEVELS_DATA)"


def measured_summary(con, start: dt.date, end: dt.date, synthetic: bool) -> list[str]:
    """The measured map in a few lines: coverage, measured max pain on the last day, and how the estimate
    matches it (default vs calibrated, on the same snapshots; calibrated is fitted only on earlier days)."""
    coverage = con.execute(
        "select symbol, count(*), sum(positions), sum(addresses_read), sum(addresses_failed) from levels.measured_snapshots "
        "where as_of between ? and ? group by 1 order by 1", [start, end]).fetchall()
    if not coverage:
        return []
    scores = dict(((symbol, preset), (cos, rho, n)) for symbol, preset, cos, rho, n in con.execute(
        "with compared as (select as_of, symbol, snapshot_ts from levels.measured_similarity where as_of between ? and ? "
        "group by all having count(distinct preset) = 2) "
        "select symbol, preset, avg(cosine), avg(spearman), count(distinct snapshot_ts) from levels.measured_similarity "
        "join compared using (as_of, symbol, snapshot_ts) group by all", [start, end]).fetchall())
    pain = {symbol: (lp, sp) for symbol, lp, sp in con.execute(
        "select symbol, long_price, short_price from levels.max_pain where as_of = ? and source = 'measured'", [end]).fetchall()}
    note = ": SYNTHETIC demo scans (data/positions/hyperliquid/README.md)" if synthetic else ":"
    lines = [f"Measured positions (Hyperliquid scans){note}",
             f"  {'symbol':<7}{'scans':>6}{'positions':>11}{'reads/scan':>11}{'failed':>7}  {'max pain long':>13} {'short':>10}"
             f"  {'cosine default → calibrated':>28}"]
    for symbol, scans, positions, read, failed in coverage:
        d, c = scores.get((symbol, "default")), scores.get((symbol, "calibrated"))
        similarity = f"{d[0]:.3f} → {c[0]:.3f} ({d[2]} scans)" if d and c else "no calibration yet"
        long_px, short_px = pain.get(symbol, (None, None))
        asked = int(read + failed)  # accounts per scan and the share whose read failed: widths that do not grow with the range
        lines.append(f"  {symbol:<7}{scans:>6}{int(positions):>11,}{asked // scans:>11,}{failed / asked if asked else 0:>7.1%}  "
                     f"{_fmt(long_px):>13} {_fmt(short_px):>10}  {similarity:>28}")
    return lines


def storage_note() -> str:
    """Where the tables live: the DuckDB file alone, or a lake it is the catalog of (made or refreshed here)."""
    from pipelines.lib.paths import lake_url
    from pipelines.lib.warehouse import ensure_catalog

    url = lake_url()
    if url is None:
        return ""
    problem = ensure_catalog(warehouse_path())
    return f" (catalog of views over the lake {url}{'; ' + problem if problem else ''})"


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.launch import exit_code, launch_days
    from pipelines.lib.report import asset_notes, day_outcomes, notes_summary, validation_report
    from pipelines.lib.warehouse import connect, table_counts

    try:
        preflight(args.start, args.end, args.symbols)
    except PreflightError as exc:
        print(f"liqlevels demo: {exc}", file=sys.stderr)
        return 2
    print(f"liqlevels demo: {data_description()} {args.start} → {args.end}")
    print(f"  warehouse {warehouse_path()}{storage_note()}")
    began = time.monotonic()
    # Dagster's console logger repeats every event; the progress lines are the demo's output.
    result = launch_days(args.start, args.end, args.symbols, source="files")
    elapsed = time.monotonic() - began
    if result.interrupted:
        print(f"\nliqlevels demo: {result.failures[0][1]}; {result.label} marked failed", file=sys.stderr)
        return exit_code(result)
    gc.collect()  # a failed step leaves its DuckDB connection to the garbage collector (dagster-duckdb closes it outside `finally`)
    with connect(warehouse_path()) as con:
        counts = table_counts(con, SUMMARY_TABLES)
        nearest = nearest_levels(con, args.end)
        outcomes = day_outcomes(con, args.start, args.end)
        scorecards = demo_scorecards(con, args)
        measured = measured_summary(con, args.start, args.end, synthetic=data_description().startswith("bundled"))
        if measured:  # next to the scorecards in the file too
            card = exports_root() / "scorecard.md"
            before = (card.read_text() if card.exists() else "").split("\n## Estimated vs measured")[0]  # a rerun replaces it
            write_text_atomic(card, before + "\n## Estimated vs measured (Hyperliquid scans)\n\n```\n" + "\n".join(measured) + "\n```\n")
        report_path = write_text_atomic(exports_root() / "validation_report.md", validation_report(con, args.start, args.end))
        notes = asset_notes(con, args.start, args.end)
    print()
    print(f"Run {'succeeded' if result.success else 'FAILED'} in {elapsed:.1f} s ({result.label}).")
    print("Rows per table:")
    for table, n in counts.items():
        print(f"  {table:<22} {n:>10,}")
    print_check_summary(outcomes, report_path)
    lines, failed_symbol_days = notes_summary(notes, args.start, args.end)
    print("\n".join(lines)) if lines else None
    print(f"Objective levels nearest the last close on {args.end} (default preset, all venues):")
    print(f"  {'symbol':<7}{'close':>12}  {'long liq below':>16} {'USD':>10}  {'short liq above':>16} {'USD':>10}  active")
    for symbol, close, long_px, long_usd, short_px, short_usd, active in nearest:
        print(f"  {symbol:<7}{close:>12,.2f}  {_fmt(long_px):>16} {_usd(long_usd):>10}  {_fmt(short_px):>16} {_usd(short_usd):>10}  {active}")
    for text in scorecards:
        print(text)
    for text in measured:
        print(text)
    print(f"DuckDB warehouse: {warehouse_path()}")
    print(f"Exports:          {exports_root()}  (one folder per day, latest/ = newest day)")
    first = (symbols_for_demo(args) or ["BTC"])[0]
    pine = exports_root() / "latest" / first / f"{first}_liquidation_levels.pine"
    csv = exports_root() / "latest" / first / "levels.csv"
    if pine.is_file():
        print(f"Open in TradingView: {pine}")
        print(f"Open in a spreadsheet: {csv}")
    print("Open the UI:      make dev   (then http://localhost:3000)")
    print("Live data (the demo stays offline): liqlevels run | backfill | collect (README: Live sources)")
    for step, message in result.failures:
        print(f"  failed: {step}: {message}", file=sys.stderr)
    return exit_code(result) or (live_cli.PARTIAL_EXIT if failed_symbol_days else 0)


SCORED_DAYS = (dt.date(2026, 3, 4), dt.date(2026, 3, 5))
MIN_RESAMPLES = 20  # fewer day-resamples cannot place a 2.5 % / 97.5 % percentile  # the bundled days with realized (OKX) liquidations


def demo_scorecards(con, args) -> list[str]:
    """Short scorecards for the summary; every column goes to exports/scorecard.md."""
    from pipelines.lib.scorecard import scorecard
    from pipelines.lib.watchlist import load_watchlist

    start, end = max(SCORED_DAYS[0], args.start), min(SCORED_DAYS[1], args.end)
    if start > end:
        return []
    texts, reports = [], []
    for spec in load_watchlist(watchlist_path()).select(args.symbols):
        report, _, _ = scorecard(con, spec.symbol, list(spec.listings), start, end, interval=spec.interval)
        if len(report):
            texts.append(format_scorecard(report, spec.symbol, start, end))
            reports.append((spec.symbol, start, end, report))
    if reports:
        path = write_text_atomic(exports_root() / "scorecard.md", scorecard_markdown(reports))
        texts.append(f"Every column of the scorecards: {path}")
        texts.append("Every model side by side, tuned on earlier days, reported on later ones (README: Model leaderboard):\n"
                     "  liqlevels score --leaderboard --symbol BTC --start 2025-12-08 --end 2026-01-31 --split 2026-01-04")
    return texts


def symbols_for_demo(args) -> list[str]:
    from pipelines.lib.watchlist import load_watchlist

    return [s.symbol for s in load_watchlist(watchlist_path()).select(args.symbols)]


def print_check_summary(outcomes, report_path) -> None:
    """Checks per day: one line per day that failed something, a count for the clean ones."""
    clean = outcomes[(outcomes["blocking_failures"] == 0) & (outcomes["warnings"] == 0)]
    print(f"Checks (Great Expectations): {len(outcomes)} days validated, {len(clean)} clean")
    import textwrap

    from pipelines.lib.report import SUMMARY_WIDTH

    for row in outcomes[(outcomes["blocking_failures"] > 0) | (outcomes["warnings"] > 0)].itertuples():
        verdict = "BLOCKED" if row.blocking_failures else "warning"
        print(textwrap.fill(f"  {row.day:%Y-%m-%d} {verdict}: {row.failed}", SUMMARY_WIDTH, subsequent_indent="      "))
    print(f"  report: {report_path}")


def write_text_atomic(path, text: str):
    """Write via a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def _fmt(price) -> str:
    return "-" if price is None else f"{price:,.2f}"


def _usd(value) -> str:
    return "-" if value is None else f"{value / 1e6:,.1f}M"


def scorecard_verdicts(report) -> list[str]:
    from indicators.quality import verdict

    models = ["objective:default"] if "objective:default" in report.index else [
        m for m in report.index if m not in ("range_only", "fixed_bands", "placebo")]
    return [verdict(report, m) for m in models]


def format_scorecard(report, symbol: str, start, end) -> str:
    """The scorecard as a person reads it: one short row per model, the verdict wrapped to 100 columns."""
    import math
    import textwrap

    from pipelines.lib.report import SUMMARY_WIDTH

    def num(value, width: int = 8) -> str:
        return f"{value:>{width}.3f}" if isinstance(value, float) and math.isfinite(value) else f"{'-':>{width}}"

    window = report.attrs.get("window", "?")
    realized = report["realized_usd"].max() / 1e6 if len(report) else 0.0
    lines = [f"Scorecard {symbol} {start} → {end} ({window} windows, {realized:,.1f}M USD realized; intervals resample days)",
             f"  realized truth: {report.attrs.get('realized', '?')}",
             f"  {'model':<32}{'spearman':>9}  {'95 % interval':<17}{'capture':>8}{'partial':>9}"]
    for model, row in report.iterrows():
        interval = f"[{num(row['spearman_pooled_ci_low'], 6).strip()}, {num(row['spearman_pooled_ci_high'], 6).strip()}]"
        lines.append(f"  {str(model)[:32]:<32}{num(row['spearman_pooled'], 9)}  {interval:<17}{num(row['capture_top10'])}"
                     f"{num(row['partial_rank'], 9)}")
    for text in scorecard_verdicts(report):
        lines += textwrap.wrap(f"=> {text}", SUMMARY_WIDTH, subsequent_indent="   ")
    return "\n".join(lines)


def scorecard_markdown(reports: list[tuple[str, object, object, object]]) -> str:
    """exports/scorecard.md: every column of every model's scorecard, per symbol."""
    parts = ["# liqlevels scorecard", "",
             "Per window: predicted USD of the levels standing before it vs liquidations realized in it. "
             "Spearman per side and pooled, top-decile capture, partial rank after the window's own range; "
             "95 % intervals resample whole days. Baselines: range only, fixed bands, price-only placebo.", ""]
    for symbol, start, end, report in reports:
        parts += [f"## {symbol} {start} → {end} (windows of {report.attrs.get('window', '?')})", "",
                  report.round(4).to_markdown(), ""] + [f"**{v}**" for v in scorecard_verdicts(report)] + [""]
    return "\n".join(parts)


def cmd_score(args: argparse.Namespace) -> int:
    from pipelines.lib.scorecard import check_window, file_levels, scorecard
    from pipelines.lib.warehouse import connect
    from pipelines.lib.watchlist import WatchlistError, load_watchlist

    try:
        spec = load_watchlist(watchlist_path()).get(args.symbol)
        if args.resamples < MIN_RESAMPLES:
            raise ValueError(f"--resamples must be at least {MIN_RESAMPLES} for a 95 % interval, got {args.resamples}")
        window = check_window(args.window, spec.interval)
        external = file_levels(args.levels) if args.levels else None
    except (WatchlistError, ValueError, FileNotFoundError) as exc:
        print(f"liqlevels score: {exc}", file=sys.stderr)
        return 2
    if args.leaderboard:
        return leaderboard_command(args, spec, window)
    with connect(warehouse_path(), read_only=True) as con:
        report, _, _ = scorecard(con, spec.symbol, list(spec.listings), args.start, args.end, window, external, args.resamples,
                                 interval=spec.interval, realized=args.realized)
    if report.empty:
        print(f"liqlevels score: no candles for {spec.symbol} in {args.start} → {args.end}", file=sys.stderr)
        return 1
    print(format_scorecard(report, spec.symbol, args.start, args.end))
    return 0


def leaderboard_command(args: argparse.Namespace, spec, window: str) -> int:
    """`liqlevels score --leaderboard`: every registered model, tuned on the earlier days, reported on the later."""
    from pipelines.lib import leaderboard as lb
    from pipelines.lib.exports import write_atomic
    from pipelines.lib.paths import exports_root
    from pipelines.lib.report import SUMMARY_WIDTH
    from pipelines.lib.scorecard import DEFAULT_WINDOW
    from pipelines.lib.warehouse import connect

    if args.levels:
        print("liqlevels score: --leaderboard scores the registered models; --levels scores a file (use one or the other)", file=sys.stderr)
        return 2
    try:
        with connect(warehouse_path(), read_only=True) as con:
            board = lb.build(con, spec.symbol, list(spec.listings), args.start, args.end, spec.interval,
                             window=args.window or DEFAULT_WINDOW, split=args.split, realized=args.realized, resamples=args.resamples,
                             models=args.models)
    except ValueError as exc:
        print(f"liqlevels score: {exc}", file=sys.stderr)
        return 1
    folder = exports_root() / "leaderboard"
    stem = f"{spec.symbol}_{args.start}_{args.end}"
    write_text_atomic(folder / f"{stem}.md", lb.markdown(board, spec.symbol))
    write_atomic(folder / f"{stem}.csv", board.table.to_csv(index=False).encode())
    write_atomic(folder / f"{stem}.png", lb.chart(board, spec.symbol))
    print(lb.format_table(board, spec.symbol, SUMMARY_WIDTH))
    print(f"  details: {folder / stem}.md, .csv; chart: {folder / stem}.png")
    return 0


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liqlevels", description="Crypto liquidation levels: pipeline and tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="Load the bundled real data and run the whole pipeline for its date range.")
    demo.add_argument("--start", type=_date, default=DEMO_START, help=f"first UTC day (default {DEMO_START})")
    demo.add_argument("--end", type=_date, default=DEMO_END, help=f"last UTC day, inclusive (default {DEMO_END})")
    demo.add_argument("--symbols", nargs="*", default=None, help="canonical symbols (default: the whole watchlist)")
    add_source_options(demo)
    demo.set_defaults(func=cmd_demo)
    liq_price_cli.add_parser(sub)
    live_cli.add_parsers(sub, _date)
    lake_cli.add_parser(sub)
    score = sub.add_parser("score", help="Score levels against the realized liquidations that followed them.",
                           description="Score the warehouse's levels (or an external level file) window by window against realized "
                                       "liquidations, next to the range-only, fixed-band and price-only placebo baselines.")
    score.add_argument("--symbol", required=True, help="canonical symbol, e.g. BTC")
    score.add_argument("--start", type=_date, required=True, help="first UTC day scored")
    score.add_argument("--end", type=_date, required=True, help="last UTC day scored (inclusive)")
    score.add_argument("--levels", help="CSV/Parquet with created_ts, side (long/short), price, notional_usd (default: the warehouse's levels)")
    score.add_argument("--window", default=None,
                       help="window length, a whole number of bars (e.g. 1h, 4h; default: one bar). Finer than the candles is refused")
    score.add_argument("--resamples", type=int, default=200, help=f"bootstrap resamples of whole days (default 200, at least {MIN_RESAMPLES})")
    score.add_argument("--realized", choices=("auto", "events", "aggregates"), default="auto",
                       help="realized truth: single liquidations (raw.liquidations), aggregated bars (raw.liquidation_history), "
                            "or auto: aggregates where there are any (default)")
    score.add_argument("--leaderboard", action="store_true",
                       help="score every registered model, tuned on the earlier part of the range and reported on the later; "
                            "writes exports/leaderboard/<symbol>_<start>_<end>.{md,csv,png}")
    score.add_argument("--split", type=_date, default=None, help="with --leaderboard: the first test day (default: the middle day)")
    score.add_argument("--models", nargs="*", default=None, help="with --leaderboard: only these models (baselines are always scored)")
    score.set_defaults(func=cmd_score)
    return parser


def add_source_options(parser) -> None:
    parser.add_argument("--data", help="files-source folder to read instead of the bundled data/ (sets LIQLEVELS_DATA), "
                                       "e.g. your own 1m/5m candles and OI")
    parser.add_argument("--watchlist", help="watchlist TOML to use (sets LIQLEVELS_WATCHLIST), e.g. one with interval = \"5m\"")


def apply_source_options(args: argparse.Namespace) -> str | None:
    """--data / --watchlist become the environment the run (and its child process) reads; an error text if invalid."""
    from pathlib import Path

    for option, variable, want_dir in (("data", "LIQLEVELS_DATA", True), ("watchlist", "LIQLEVELS_WATCHLIST", False)):
        value = getattr(args, option, None)
        if value is None:
            continue
        path = Path(value).expanduser().resolve()
        if (want_dir and not path.is_dir()) or (not want_dir and not path.is_file()):
            return f"--{option} {value}: no such {'folder' if want_dir else 'file'}"
        os.environ[variable] = str(path)
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problem = apply_source_options(args)
    if problem:
        print(f"liqlevels {args.command}: {problem}", file=sys.stderr)
        return 2
    if getattr(args, "start", None) and getattr(args, "end", None) and args.end < args.start:
        print(f"liqlevels {args.command}: --end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away (`liqlevels score … | head`): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
