"""The row rules of `pipelines.lib.normalize`, written the slow obvious way (a string per value).

This is the implementation the vectorized one replaced; tests compare the two on messy frames, row for
row and reason for reason, so the fast path cannot drift from the rules.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.lib.normalize import (FUTURE_TOLERANCE, INTERVAL_SECONDS, NATURAL_KEYS, TABLE_FIELDS, Field, Normalized,
                                     SourceFormatError)
from pipelines.lib.warehouse import REJECT_COLUMNS, reject_payload


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Parse timestamps to naive UTC `datetime64[ns]`; unparseable values become NaT.

    Accepts datetimes (naive = UTC), ISO-8601 strings and epoch numbers: milliseconds, or seconds
    when below 1e11 (i.e. before 1973 if read as ms, which no market data is).
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.astype("datetime64[ns]")
    numbers = pd.to_numeric(values, errors="coerce")
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    is_number = numbers.notna() & np.isfinite(numbers)
    if is_number.any():
        n = numbers[is_number].astype("float64")
        ms = np.where(n.abs() < 1e11, n * 1000.0, n)
        out[is_number] = pd.to_datetime(ms.round().astype("int64"), unit="ms")
    text = values[~is_number & values.notna()]
    if len(text):
        parsed = pd.to_datetime(text.astype(str), utc=True, errors="coerce", format="ISO8601")
        out[text.index] = parsed.dt.tz_localize(None).astype("datetime64[ns]")
    return out


def _check_number(values: pd.Series, field: Field) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Return (typed values, failure mask, reason per failing row) for a numeric field."""
    missing = values.isna() | (values.astype(str).str.strip() == "")
    typed = pd.to_numeric(values.where(~missing), errors="coerce").astype("float64")
    not_number = ~missing & (typed.isna() | ~np.isfinite(typed.fillna(0.0)))
    reasons = pd.Series("", index=values.index, dtype=object)
    fail = pd.Series(False, index=values.index)
    if field.required:
        reasons[missing] = "missing value"
        fail |= missing
    reasons[not_number & ~fail] = "not a finite number: " + values[not_number & ~fail].astype(str)
    fail |= not_number
    if field.positive:
        bad = ~fail & typed.notna() & (typed <= 0)
        reasons[bad] = "must be > 0, got " + typed[bad].astype(str)
        fail |= bad
    if field.minimum is not None:
        bad = ~fail & typed.notna() & (typed < field.minimum)
        reasons[bad] = f"must be >= {field.minimum:g}, got " + typed[bad].astype(str)
        fail |= bad
    return typed, fail, reasons


def _check_text(values: pd.Series, field: Field) -> tuple[pd.Series, pd.Series, pd.Series]:
    missing = values.isna() | (values.astype(str).str.strip() == "")
    typed = values.astype(object).where(~missing, None)
    typed = typed.map(lambda v: v.strip() if isinstance(v, str) else v)
    reasons = pd.Series("", index=values.index, dtype=object)
    fail = pd.Series(False, index=values.index)
    if field.required:
        reasons[missing] = "missing value"
        fail |= missing
    if field.allowed is not None:
        bad = ~missing & ~typed.isin(field.allowed)
        reasons[bad] = f"not one of {', '.join(field.allowed)}: " + values[bad].astype(str)
        fail |= bad
    return typed, fail, reasons


def off_grid(ts: pd.Series, interval: pd.Series) -> pd.Series:
    """True where a bar's `ts` is not a multiple of its interval since the epoch (UTC): a 5-minute
    timestamp labelled 1h, a 4-hour bar starting at 01:00. NaN/unknown intervals are not judged here."""
    seconds = interval.map(INTERVAL_SECONDS)
    known = seconds.notna() & ts.notna()
    out = pd.Series(False, index=ts.index)
    if known.any():
        epoch = ts[known].astype("int64") // 1_000_000_000
        out[known] = (epoch % seconds[known].astype("int64")) != 0
    return out


def normalize(table: str, frame: pd.DataFrame, *, venue: str, symbol: str, source: str,
              now: pd.Timestamp | None = None) -> Normalized:
    """Validate and type `frame` (one venue and symbol) for raw table `table`.

    Raises `SourceFormatError` when a required column is absent altogether; row-level problems
    (a string price, a missing timestamp, a negative OI, a duplicate key, a bar off its interval's
    grid, a row dated after `now`) become rejects.
    """
    fields = TABLE_FIELDS[table]
    for column in ["ts"] + [f.name for f in fields if f.required]:
        if column not in frame.columns:
            raise SourceFormatError(
                f"{venue} {source}: required field '{column}' is missing for raw.{table} "
                f"(columns present: {', '.join(map(str, frame.columns)) or 'none'})"
            )
    frame = frame.reset_index(drop=True)
    out = pd.DataFrame(index=frame.index)
    failed_field = pd.Series(None, index=frame.index, dtype=object)
    failed_reason = pd.Series(None, index=frame.index, dtype=object)

    def record(name: str, fail: pd.Series, reasons: pd.Series) -> None:
        new = fail & failed_field.isna()
        failed_field[new] = name
        failed_reason[new] = reasons[new]

    ts = parse_timestamps(frame["ts"])
    ts_missing = frame["ts"].isna() | (frame["ts"].astype(str).str.strip() == "")
    ts_reason = "unparseable timestamp: " + frame["ts"].astype(str).astype(object)
    ts_reason[ts_missing] = "missing timestamp"
    record("ts", ts.isna(), ts_reason)
    out["ts"] = ts
    for field in fields:
        values = frame[field.name] if field.name in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        check = _check_number if field.kind == "number" else _check_text
        typed, fail, reasons = check(values, field)
        record(field.name, fail, reasons)
        out[field.name] = typed

    # Reasons are formatted for the failing rows only: on a clean file these checks are two vector compares.
    now = pd.Timestamp.now(tz="UTC").tz_localize(None) if now is None else pd.Timestamp(now)
    future = failed_field.isna() & (ts > now + FUTURE_TOLERANCE)
    if future.any():
        record("ts", future, "dated in the future (now " + now.strftime("%Y-%m-%dT%H:%M:%SZ") + "): "
               + ts[future].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if "interval" in out:
        grid = failed_field.isna() & off_grid(ts, out["interval"])
        if grid.any():
            rows = pd.Series([f" (data row {i + 1} of {source})" for i in frame.index[grid]], index=frame.index[grid])
            record("ts", grid, "ts " + ts[grid].dt.strftime("%Y-%m-%dT%H:%M:%SZ") + " is off the " + out["interval"][grid].astype(str)
                   + " grid: a bar of that interval starts at a multiple of it since 00:00 UTC" + rows)

    valid = failed_field.isna()
    key = NATURAL_KEYS[table]
    duplicate = pd.Series(False, index=frame.index)
    duplicate[valid] = out.loc[valid, key].duplicated(keep="first")
    record("+".join(key), duplicate, pd.Series("duplicate natural key; first occurrence kept", index=frame.index))

    bad = failed_field.notna()
    rejects = pd.DataFrame(
        {
            "table_name": table,
            "venue": venue,
            "symbol": symbol,
            "day": ts[bad].dt.date.astype(object).where(ts[bad].notna(), None),
            "source": source,
            "field": failed_field[bad],
            "reason": failed_reason[bad].astype(str),
            "payload": [reject_payload(r) for r in frame[bad].to_dict("records")],
        },
        columns=REJECT_COLUMNS,
    )
    rows = out[~bad].copy()
    rows.insert(0, "venue", venue)
    rows.insert(1, "symbol", symbol)
    if table == "liquidations":
        rows["source"] = source
    rows = rows.sort_values(key, kind="stable").reset_index(drop=True)
    return Normalized(rows=rows, rejects=rejects.reset_index(drop=True))
