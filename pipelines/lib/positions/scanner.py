"""The live position scan: find addresses, read each one's `clearinghouseState` within the venue's
weight budget, and write one scan file (`scan_files` layout) with the scan's real start and end.

Rules chosen where the docs are silent (README "Measured positions"):
- Addresses come from the public leaderboard (`GET <stats>/Mainnet/leaderboard`, `ethAddress`), the
  `users` of Hyperliquid trades landed by `liqlevels collect` (stream `trades`), and the previous
  scans' addresses (so an account that left the leaderboard is still followed).
- Reads go in batches through `batchClearinghouseStates` where it answers with one state per user;
  a `null` or error answer (the recorded CDN 500 is one) falls back to single `clearinghouseState`
  calls. A single read that answers `null`, an error or another shape is tried again, up to
  `attempts` in all, then written as a failed read: never as "no position".
- Weight per the docs (1200 per minute per IP): `clearinghouseState` costs 2; `batchClearinghouseStates`
  is not listed, so it is charged like every unlisted info type (20). We spend 90 % of the budget.
- A scan is resumable: every answer is appended to a checkpoint (`.partial_<kind>.jsonl`, flushed and
  fsynced every `checkpoint_every` addresses); a scan started again within `resume_hours` continues
  the same scan (same start time) with the addresses not yet read.
- A hot scan reads only the addresses that held a watched coin in the newest full scan, so the
  positions that matter are refreshed more often than the whole set.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.lib.exchanges.http import ExchangeError, RateLimitStop, RequestBudget, VenueHttp
from pipelines.lib.positions.scan_files import SCAN_COLUMNS, day_scans, read_frame, scan_path, write_scan
from pipelines.lib.positions.state import FailedRead, normal_address, parse_state

VENUE = "hyperliquid"
STATS_URL = "https://stats-data.hyperliquid.xyz"


@dataclass(frozen=True)
class ScanSettings:
    """How a scan reads: batch size, the weight budget and the per-address attempts (environment:
    `LIQLEVELS_SCAN_BATCH`, `LIQLEVELS_SCAN_WEIGHT_PER_MINUTE`, `LIQLEVELS_SCAN_ATTEMPTS`)."""

    batch_size: int = 50
    weight_per_minute: float = 1080.0  # 90 % of the documented 1200
    single_weight: float = 2.0
    batch_weight: float = 20.0
    attempts: int = 3
    checkpoint_every: int = 100
    resume_hours: float = 6.0

    def __post_init__(self):
        if self.batch_size < 1 or self.attempts < 1 or self.weight_per_minute <= 0 or self.checkpoint_every < 1:
            raise ValueError(f"scan settings must be positive: {self}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ScanSettings:
        names = {"batch_size": "LIQLEVELS_SCAN_BATCH", "weight_per_minute": "LIQLEVELS_SCAN_WEIGHT_PER_MINUTE",
                 "attempts": "LIQLEVELS_SCAN_ATTEMPTS"}
        values = {}
        for field_name, variable in names.items():
            if env.get(variable):
                try:
                    values[field_name] = type(getattr(cls(), field_name))(env[variable])
                except ValueError:
                    raise ValueError(f"{variable}={env[variable]!r}: expected a number") from None
        return cls(**values)


@dataclass
class ScanResult:
    path: Path
    start: dt.datetime
    end: dt.datetime
    addresses: int
    read: int
    failed: int
    positions: int
    resumed: int  # addresses taken over from an interrupted run of the same scan


def stats_url(env: Mapping[str, str] = os.environ) -> str:
    value = env.get("LIQLEVELS_HYPERLIQUID_STATS_URL") or STATS_URL
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"LIQLEVELS_HYPERLIQUID_STATS_URL={value!r}: expected a URL starting with http:// or https://")
    return value.rstrip("/")


def leaderboard_addresses(http: VenueHttp) -> list[str]:
    """Every valid address of the public leaderboard (the answer is ~25 MB for ~30,000 rows)."""
    payload = http.get("/Mainnet/leaderboard")
    rows = payload.get("leaderboardRows") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        raise ExchangeError(VENUE, "/Mainnet/leaderboard", "field 'leaderboardRows' missing")
    found = (normal_address(row.get("ethAddress")) for row in rows if isinstance(row, dict))
    return sorted({a for a in found if a})


def trade_addresses(landing_root: Path, days: Iterable[dt.date]) -> list[str]:
    """The `users` of the Hyperliquid trades landed on `days` (both sides of every trade)."""
    from pipelines.lib.landing import read_day

    found = set()
    for day in days:
        for record in read_day(Path(landing_root), "trades", VENUE, day, margin_hours=0):
            data = record.get("payload", {}).get("data") if isinstance(record.get("payload"), dict) else None
            for trade in data if isinstance(data, list) else []:
                for user in trade.get("users", []) if isinstance(trade, dict) else []:
                    address = normal_address(user)
                    if address:
                        found.add(address)
    return sorted(found)


def scanned_addresses(root: Path, days: Iterable[dt.date], coins: set[str] | None = None) -> list[str]:
    """Addresses read in the full scans of `days`; with `coins`, only those holding one of them (the hot set)."""
    found = set()
    for day in days:
        for path in day_scans(root, VENUE, day):
            if not path.name.endswith(("_full.parquet", "_full.csv")):
                continue
            frame = read_frame(path, VENUE, ["address", "status", "coin"])
            held = frame["status"] == "ok"
            if coins is not None:
                held &= frame["coin"].isin(coins)
            found.update(a for a in map(normal_address, frame.loc[held, "address"]) if a)
    return sorted(found)


class Scanner:
    """Reads addresses and writes scan files under `root` (the landing folder)."""

    def __init__(self, http: VenueHttp, root: Path, settings: ScanSettings = ScanSettings(),
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.http, self.root, self.settings, self.clock = http, Path(root), settings, clock
        http.budget = RequestBudget(settings.weight_per_minute, 60.0, sleep=sleep)  # the session's own budget, at the scan's rate
        self.batch_works = True  # set False after a batch answer that was not one state per user

    def checkpoint(self, kind: str) -> Path:
        return self.root / "positions" / VENUE / f".partial_{kind}.jsonl"

    def _post(self, body: dict, weight: float):
        return self.http.post("/info", body, weight=weight)

    def _single(self, address: str) -> dict:
        """One address's record: {"address", "status", "account_value", "rows"}."""
        for _ in range(self.settings.attempts):
            try:
                account, rows = parse_state(self._post({"type": "clearinghouseState", "user": address}, self.settings.single_weight))
                return {"address": address, "status": "ok", "account_value": account, "rows": rows}
            except RateLimitStop:
                raise
            except (ExchangeError, FailedRead):
                continue
        return {"address": address, "status": "failed", "account_value": "", "rows": []}

    def _batch(self, addresses: list[str]) -> list[dict]:
        answers = None
        if self.batch_works and len(addresses) > 1:
            try:
                answers = self._post({"type": "batchClearinghouseStates", "users": addresses}, self.settings.batch_weight)
            except RateLimitStop:
                raise
            except ExchangeError:
                answers = None
            if not (isinstance(answers, list) and len(answers) == len(addresses)):
                answers = None
                self.batch_works = False  # the CDN answers null for this type: single calls from now on
        records = []
        for index, address in enumerate(addresses):
            if answers is not None:
                try:
                    account, rows = parse_state(answers[index])
                    records.append({"address": address, "status": "ok", "account_value": account, "rows": rows})
                    continue
                except FailedRead:
                    pass  # a null slot in the batch: read this address alone
            records.append(self._single(address))
        return records

    def _resume(self, kind: str) -> tuple[float | None, dict[str, dict]]:
        path = self.checkpoint(kind)
        if not path.exists():
            return None, {}
        lines = path.read_bytes().splitlines()
        try:
            header = json.loads(lines[0])
        except (ValueError, IndexError):
            return None, {}
        if self.clock() - header.get("scan_start", 0) / 1000 > self.settings.resume_hours * 3600:
            return None, {}
        done = {}
        for line in lines[1:]:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by the crash: that address is read again
            done[record["address"]] = record
        return header["scan_start"] / 1000, done

    def scan(self, addresses: Iterable[str], kind: str = "full", progress: Callable[[int, int], None] | None = None) -> ScanResult:
        """Read every address (resuming an interrupted scan of the same kind) and write the scan file."""
        wanted = sorted({a for a in map(normal_address, addresses) if a})
        started, done = self._resume(kind)
        resumed = len(done)
        if started is None:
            started, done = self.clock(), {}
        path = self.checkpoint(kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        todo = [a for a in wanted if a not in done]
        total = len(set(wanted) | set(done))  # the loop only reads addresses of `todo`
        mode = "ab" if resumed else "wb"
        with open(path, mode) as handle:
            if not resumed:
                handle.write(json.dumps({"scan_start": int(started * 1000), "kind": kind}).encode() + b"\n")
            pending = 0
            for offset in range(0, len(todo), self.settings.batch_size):
                for record in self._batch(todo[offset:offset + self.settings.batch_size]):
                    done[record["address"]] = record
                    handle.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
                    pending += 1
                if pending >= self.settings.checkpoint_every:
                    handle.flush()
                    os.fsync(handle.fileno())
                    pending = 0
                if progress is not None:
                    progress(len(done), total)
            handle.flush()
            os.fsync(handle.fileno())
        ended = self.clock()
        start = dt.datetime.fromtimestamp(started, dt.UTC).replace(tzinfo=None, microsecond=0)
        end = dt.datetime.fromtimestamp(ended, dt.UTC).replace(tzinfo=None, microsecond=0)
        frame = scan_frame(done.values(), start, end, kind)
        out = write_scan(scan_path(self.root, VENUE, start, kind), frame)
        path.unlink()
        failed = sum(r["status"] == "failed" for r in done.values())
        return ScanResult(out, start, end, len(done), len(done) - failed, failed,
                          sum(len(r["rows"]) for r in done.values()), resumed)


def scan_frame(records: Iterable[dict], start: dt.datetime, end: dt.datetime, kind: str) -> pd.DataFrame:
    """Scan records → the scan file's rows (text values as sent; one row per address without positions)."""
    rows = []
    for record in records:
        base = {"address": record["address"], "status": record["status"], "account_value": record.get("account_value", "")}
        if record["status"] == "ok" and record["rows"]:
            rows.extend({**base, **position} for position in record["rows"])
        else:
            rows.append({**base, "coin": ""})
    frame = pd.DataFrame(rows, columns=[c for c in SCAN_COLUMNS if c not in ("scan_start", "scan_end", "kind")]).astype(object).fillna("")
    frame.insert(0, "scan_start", start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    frame.insert(1, "scan_end", end.strftime("%Y-%m-%dT%H:%M:%SZ"))
    frame.insert(2, "kind", kind)
    return frame.astype(str)[SCAN_COLUMNS]


def make_scanner(root: Path, env: Mapping[str, str] = os.environ, timeout: float = 30.0) -> tuple[Scanner, VenueHttp]:
    """A scanner on the venue's REST URL (`LIQLEVELS_HYPERLIQUID_REST_URL`) and the stats host for the
    leaderboard (`LIQLEVELS_HYPERLIQUID_STATS_URL`). Transport retries are few: the scan retries reads itself."""
    from pipelines.lib.exchanges.live import rest_url

    settings = ScanSettings.from_env(env)
    info = VenueHttp(VENUE, rest_url(VENUE, env), timeout=(min(5.0, timeout), timeout), retries=1, backoff=0.2)
    stats = VenueHttp(VENUE, stats_url(env), timeout=(min(5.0, timeout), max(timeout, 120.0)), retries=2, backoff=0.5)
    return Scanner(info, root, settings), stats
