"""Position scans as files: the files source's layout, and what the live scan writes.

Layout (one file per scan, CSV or Parquet), under the files source's root or the landing folder:

    <root>/positions/<venue>/<YYYY-MM-DD>/scan_<YYYYMMDDTHHMMSS>Z_<kind>.parquet | .csv

The folder is the UTC day of the scan's start. Columns (one row per position, plus one row per
address read without a position and one per failed read):

    scan_start, scan_end   when the scan began and ended: ISO-8601 UTC text, epoch ms, or a Parquet
                           timestamp; the same on every row
    kind                   full (every known address) or hot (the holders of the watched symbols)
    address                0x + 40 hex digits
    status                 ok (the address was read) or failed (no usable answer after retries)
    coin                   the venue's coin name (empty: the address holds no position)
    side                   long | short
    size_base              coins, > 0
    entry_price            USD, > 0
    liq_price              USD, > 0, empty when the venue computes none
    leverage               the position's set leverage (x)
    margin_mode            cross | isolated
    position_usd           USD value of the position, > 0
    margin_used            USD, optional
    account_value          USD, the whole account (cross positions fail with it), optional

Reading rules: a file that cannot be read, lacks a column or has more than one scan_start fails the
day with an error naming venue, file and field; a bad row is a reject naming its field and place in
the file; a failed read is never taken for "no position". Positions of coins outside the watchlist
stay in the file (a symbol added later can be re-read) but not in `raw.positions`.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.lib.normalize import SourceFormatError
from pipelines.lib.positions.state import ADDRESS, COIN, MARGIN_MODES
from pipelines.lib.warehouse import RAW_COLUMNS, REJECT_COLUMNS, reject_payload
from pipelines.lib.watchlist import validate_venue

SCAN_COLUMNS = ["scan_start", "scan_end", "kind", "address", "status", "coin", "side", "size_base", "entry_price", "liq_price",
                "leverage", "margin_mode", "position_usd", "margin_used", "account_value"]
OPTIONAL = ("liq_price", "margin_used", "account_value")
KINDS = ("full", "hot")
STATUSES = ("ok", "failed")
SUFFIXES = (".parquet", ".csv")
_NAME = re.compile(r"^scan_(\d{8}T\d{6})Z_(full|hot)\.(parquet|csv)$")
SCAN_TABLE_COLUMNS = ["venue", "snapshot_ts", "scan_end", "kind", "addresses_read", "addresses_failed", "positions", "source"]


@dataclass
class ScanRead:
    """One scan file: `positions` (raw.positions rows of watched coins), `scan` (its raw.position_scans
    row), `failed` (raw.position_failures rows), `rejects` (ops.rejects rows)."""

    positions: pd.DataFrame
    scan: dict
    failed: pd.DataFrame
    rejects: pd.DataFrame


def scan_name(start: dt.datetime, kind: str, suffix: str = ".parquet") -> str:
    if kind not in KINDS or suffix not in SUFFIXES:
        raise ValueError(f"scan kind must be one of {KINDS} and suffix one of {SUFFIXES}")
    return f"scan_{start:%Y%m%dT%H%M%S}Z_{kind}{suffix}"


def scan_path(root: Path, venue: str, start: dt.datetime, kind: str, suffix: str = ".parquet") -> Path:
    return Path(root) / "positions" / validate_venue(venue) / start.date().isoformat() / scan_name(start, kind, suffix)


def day_scans(root: Path, venue: str, day: dt.date) -> list[Path]:
    """The scan files of `day` (by their start), oldest first; other files in the folder are ignored."""
    folder = Path(root) / "positions" / validate_venue(venue) / day.isoformat()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and _NAME.fullmatch(p.name))


def write_scan(path: Path, frame: pd.DataFrame) -> Path:
    """Write one scan atomically (temporary file + rename) in the documented layout."""
    from pipelines.lib.landing import write_atomically

    missing = [c for c in SCAN_COLUMNS if c not in frame]
    if missing:
        raise ValueError(f"scan frame lacks {missing}")
    out = frame[SCAN_COLUMNS].copy()
    path = Path(path)
    if path.suffix == ".csv":
        data = out.to_csv(index=False).encode()
    else:
        buffer = io.BytesIO()
        out.to_parquet(buffer, index=False)
        data = buffer.getvalue()
    write_atomically(path, data)
    return path


def read_frame(path: Path, venue: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A scan file as it is (CSV as text), or only `columns`; an unreadable file fails naming venue and file."""
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, usecols=columns)
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:  # noqa: BLE001 - any reader error is the same fault: the file is unreadable
        raise SourceFormatError(f"{venue} file {path}: unreadable scan file ({type(exc).__name__}: {exc})") from exc


def _times(values: pd.Series) -> pd.Series:
    from pipelines.lib.normalize import parse_timestamps

    return parse_timestamps(values)


def read_scan(path: Path, venue: str, coins: dict[str, str], source: str) -> ScanRead:
    """One scan file → positions of the watched `coins` ({coin: canonical symbol}), its scan row, rejects."""
    frame = read_frame(path, venue)
    missing = [c for c in SCAN_COLUMNS if c not in frame.columns]
    if missing:
        raise SourceFormatError(f"{venue} file {path}: field '{missing[0]}' missing (a scan file has {', '.join(SCAN_COLUMNS)})")
    frame = frame[SCAN_COLUMNS].reset_index(drop=True)
    starts, ends = _times(frame["scan_start"]), _times(frame["scan_end"])
    if len(frame) == 0:
        raise SourceFormatError(f"{venue} file {path}: field 'scan_start' has no rows (an empty scan has one row per address read)")
    if starts.isna().any() or starts.nunique() != 1 or ends.isna().any() or ends.nunique() != 1:
        raise SourceFormatError(f"{venue} file {path}: field 'scan_start'/'scan_end' must be one valid time on every row")
    start, end = starts.iloc[0], ends.iloc[0]
    if end < start:
        raise SourceFormatError(f"{venue} file {path}: field 'scan_end' is before scan_start")
    kinds = set(frame["kind"].astype(str))
    if len(kinds) != 1 or not kinds <= set(KINDS):
        raise SourceFormatError(f"{venue} file {path}: field 'kind' must be one of {KINDS} on every row, got {sorted(kinds)}")
    reasons = pd.Series("", index=frame.index, dtype=object)
    fields = pd.Series("", index=frame.index, dtype=object)

    def flag(bad: pd.Series, name: str, reason: str) -> None:
        fresh = bad & (reasons == "")
        reasons[fresh] = reason
        fields[fresh] = name

    address = frame["address"].astype(str).str.strip().str.lower()
    flag(~address.str.fullmatch(ADDRESS.pattern), "address", "not a 0x address of 40 hex digits")
    status = frame["status"].astype(str)
    flag(~status.isin(STATUSES), "status", f"must be one of {STATUSES}")
    coin = frame["coin"].where(frame["coin"].notna(), "").astype(str).str.strip()
    held = (status == "ok") & (coin != "")
    flag(held & ~coin.str.fullmatch(COIN.pattern), "coin", "not a coin name")
    numbers = {}
    for name in ("size_base", "entry_price", "liq_price", "leverage", "position_usd", "margin_used", "account_value"):
        raw = frame[name]
        if not pd.api.types.is_numeric_dtype(raw.dtype):  # text columns (CSV, the live scan's decimal text): blank = missing
            raw = raw.where(raw.notna() & (raw.astype(str).str.strip() != ""))
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        numbers[name] = values
        present = raw.notna()
        flag(present & ~np.isfinite(values), name, "not a finite number")
        if name not in OPTIONAL:
            flag(held & ~present, name, "missing on a position row")
        if name in ("size_base", "entry_price", "liq_price", "leverage", "position_usd"):
            flag(held & present & (values <= 0), name, "must be > 0")
    flag(held & ~frame["side"].isin(("long", "short")), "side", "must be long or short (the sign of szi)")
    flag(held & ~frame["margin_mode"].isin(MARGIN_MODES), "margin_mode", f"must be one of {MARGIN_MODES}")
    duplicate = held & (reasons == "") & pd.DataFrame({"a": address, "c": coin}).duplicated(keep="first")
    flag(duplicate, "address,coin", "a second row for the same address and coin in one scan")
    bad = reasons != ""
    rejects = pd.DataFrame({
        "table_name": "positions", "venue": venue, "symbol": coin.where(coin != "", "*")[bad].map(lambda c: coins.get(c, c)),
        "day": start.date(), "source": source, "field": fields[bad],
        "reason": [f"row {i + 2} of {path.name}: {r}" for i, r in zip(frame.index[bad], reasons[bad])],
        "payload": [reject_payload(row) for row in frame[bad].to_dict("records")],
    }, columns=REJECT_COLUMNS)
    good = ~bad
    # an address counts as read when its answer came (status ok), even if one of its positions is a reject
    valid = address.str.fullmatch(ADDRESS.pattern)
    read_ok = set(address[valid & (status == "ok")])
    failed = set(address[valid & (status == "failed")]) - read_ok
    watched = good & held & coin.isin(list(coins))
    positions = pd.DataFrame({
        "venue": venue, "symbol": coin[watched].map(coins), "snapshot_ts": start.to_datetime64(), "address": address[watched],
        "side": frame.loc[watched, "side"].astype(str),
        **{name: numbers[name][watched] for name in ("size_base", "entry_price", "liq_price", "leverage")},
        "margin_mode": frame.loc[watched, "margin_mode"].astype(str),
        **{name: numbers[name][watched] for name in ("position_usd", "margin_used", "account_value")},
    }, columns=RAW_COLUMNS["positions"]).reset_index(drop=True)
    scan = {"venue": venue, "snapshot_ts": start.to_pydatetime(), "scan_end": end.to_pydatetime(), "kind": kinds.pop(),
            "addresses_read": len(read_ok), "addresses_failed": len(failed), "positions": int((good & held).sum()), "source": source}
    failures = pd.DataFrame({"venue": venue, "snapshot_ts": start.to_datetime64(), "address": sorted(failed)},
                            columns=["venue", "snapshot_ts", "address"])
    return ScanRead(positions, scan, failures, rejects)
