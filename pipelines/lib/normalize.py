"""Turn source rows (strings, numbers, mixed timestamps) into typed raw-table rows plus rejects.

Every source — the files source, the exchange clients — hands its rows to `normalize`. A row that
fails a rule is not dropped: it becomes a reject naming the field and the reason, with the row as
it arrived in the payload.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.lib.warehouse import REJECT_COLUMNS, reject_payload

INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
INTERVAL_SECONDS = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
                    "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400}
FUTURE_TOLERANCE = pd.Timedelta(minutes=5)  # clock skew between a venue and us
LIQUIDATION_SIDES = ("long", "short", "unknown")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "number" | "text"
    required: bool = True
    minimum: float | None = None  # inclusive lower bound
    positive: bool = False  # strictly > 0
    allowed: tuple[str, ...] | None = None


# Columns a source provides per table (venue, symbol and the liquidation `source` come from the
# caller). `ts` is always required and parsed separately.
TABLE_FIELDS: dict[str, list[Field]] = {
    "klines": [
        Field("interval", "text", allowed=INTERVALS),
        Field("open", "number", positive=True),
        Field("high", "number", positive=True),
        Field("low", "number", positive=True),
        Field("close", "number", positive=True),
        # Optional: many users' files (and Binance's metrics archive) have none; stored as NULL, and
        # volume-weighted models say they had none.
        Field("volume", "number", required=False, minimum=0.0),
        Field("quote_volume", "number", required=False, minimum=0.0),
        Field("taker_buy_volume", "number", required=False, minimum=0.0),
    ],
    "open_interest": [
        Field("interval", "text", allowed=INTERVALS),
        Field("oi_base", "number", required=False, minimum=0.0),
        Field("oi_usd", "number", minimum=0.0),
    ],
    "funding": [Field("rate", "number")],
    "liquidations": [
        Field("side", "text", allowed=LIQUIDATION_SIDES),
        Field("price", "number", positive=True),
        Field("qty_base", "number", positive=True),
        Field("usd", "number", positive=True),
    ],
    # Liquidated USD per bar, long and short positions, aggregated over exchanges (Coinglass).
    "liquidation_history": [
        Field("interval", "text", allowed=INTERVALS),
        Field("long_usd", "number", minimum=0.0),
        Field("short_usd", "number", minimum=0.0),
    ],
}

# Natural keys within one (venue, symbol); duplicates beyond the first occurrence are rejected.
NATURAL_KEYS: dict[str, list[str]] = {
    "klines": ["interval", "ts"],
    "open_interest": ["interval", "ts"],
    "funding": ["ts"],
    "liquidations": ["ts", "side", "price", "qty_base"],
    "liquidation_history": ["interval", "ts"],
}


class SourceFormatError(ValueError):
    """A source payload or file does not have the expected shape (names venue, source and field)."""


@dataclass(frozen=True)
class Normalized:
    rows: pd.DataFrame  # typed rows with venue, symbol, ts (naive UTC) and the table's columns
    rejects: pd.DataFrame  # REJECT_COLUMNS; `day` is None where the timestamp itself was bad


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Parse timestamps to naive UTC `datetime64[ns]`; unparseable values become NaT.

    Accepts datetimes (naive = UTC), ISO-8601 strings and epoch numbers: milliseconds, or seconds
    when below 1e11 (i.e. before 1973 if read as ms, which no market data is).
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.astype("datetime64[ns]")
    numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
    numbers = values.astype("float64") if numeric else pd.to_numeric(values, errors="coerce")
    n = np.asarray(numbers, dtype="float64")
    is_number = np.isfinite(n)
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    if is_number.any():
        ms = np.where(np.abs(n[is_number]) < 1e11, n[is_number] * 1000.0, n[is_number])
        out[is_number] = pd.to_datetime(ms.round().astype("int64"), unit="ms").to_numpy("datetime64[ns]")
    if not numeric:
        text = ~is_number & values.notna().to_numpy()
        if text.any():
            parsed = pd.to_datetime(values[text].astype(str), utc=True, errors="coerce", format="ISO8601")
            out[text] = parsed.dt.tz_localize(None).to_numpy("datetime64[ns]")
    return pd.Series(out, index=values.index)


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype)


def _blank_at(values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Missing (None/NaN/NaT) or a string of only spaces, judged at `rows` (positions) only."""
    picked = values.iloc[rows]
    return (picked.isna().to_numpy()
            | np.fromiter((isinstance(v, str) and not v.strip() for v in picked), dtype=bool, count=len(rows)))


# A check's result: typed values, the rows that fail (bool array) and their reasons (a Series on those rows).
Check = tuple[pd.Series, np.ndarray, pd.Series]


@dataclass(frozen=True)
class Codes:
    """A text column as integer codes: `ranks[i]` orders row i's value among the distinct `values` (the
    stripped text, sorted; -1 = missing), so keys, grids and order are judged on integers."""

    ranks: np.ndarray
    values: list


def _check_number(values: pd.Series, field: Field) -> Check:
    """Typed float64 values and the failures of a numeric field; strings are built for failing rows only."""
    typed = values.astype("float64") if _is_numeric(values) else pd.to_numeric(values, errors="coerce").astype("float64")
    n = typed.to_numpy()
    suspects = np.flatnonzero(~np.isfinite(n))  # NaN or inf: missing, or not a number
    blank = _blank_at(values, suspects)
    fail = np.zeros(len(values), dtype=bool)
    reasons = []
    if field.required and blank.any():
        fail[suspects[blank]] = True
        reasons.append(pd.Series("missing value", index=values.index[suspects[blank]]))
    if (~blank).any():
        rows = suspects[~blank]
        fail[rows] = True
        reasons.append("not a finite number: " + values.iloc[rows].astype(str))
    with np.errstate(invalid="ignore"):
        bounds = ([(n <= 0, "must be > 0, got ")] if field.positive else []) + (
            [(n < field.minimum, f"must be >= {field.minimum:g}, got ")] if field.minimum is not None else [])
    for outside, text in bounds:
        below = ~fail & outside
        if below.any():
            fail |= below
            reasons.append(text + typed[below].astype(str))
    return typed, fail, _joined(reasons)


def _joined(reasons: list[pd.Series]) -> pd.Series:
    return pd.concat(reasons) if reasons else pd.Series(dtype=object)


def _check_text(values: pd.Series, field: Field, codes_out: dict[str, Codes]) -> Check:
    """Stripped text values and the failures of a text field, judged once per distinct value (their
    integer codes go to `codes_out[field.name]`)."""
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable values (a list in a payload): judge their text
        codes, uniques = pd.factorize(values.astype(str).where(values.notna(), None), use_na_sentinel=True)
    uniques = list(uniques)
    blank = np.array([isinstance(u, str) and not u.strip() for u in uniques] + [True], dtype=bool)
    stripped = np.array([u.strip() if isinstance(u, str) else u for u in uniques] + [None], dtype=object)
    allowed = np.array([field.allowed is None or s in field.allowed for s in stripped[:-1]] + [True], dtype=bool)
    missing = blank[codes]
    typed = pd.Series(stripped[codes], index=values.index, dtype=object)
    typed[missing] = None
    typed = typed.infer_objects()  # text columns as pandas' own str dtype, as a per-value strip() gives
    distinct = sorted({v for v in stripped[:-1] if isinstance(v, str)} - {""})
    rank_of = {v: i for i, v in enumerate(distinct)}
    per_code = np.array([rank_of.get(v, -1) if isinstance(v, str) else -1 for v in stripped[:-1]] + [-1], dtype="int64")
    codes_out[field.name] = Codes(np.where(missing, -1, per_code[codes]), distinct)
    fail = np.zeros(len(values), dtype=bool)
    reasons = []
    if field.required and missing.any():
        fail |= missing
        reasons.append(pd.Series("missing value", index=values.index[missing]))
    bad = ~missing & ~allowed[codes]
    if bad.any():
        fail |= bad
        reasons.append(f"not one of {', '.join(field.allowed)}: " + values[bad].astype(str))
    return typed, fail, _joined(reasons)


def off_grid(ts: pd.Series, interval: pd.Series) -> pd.Series:
    """True where a bar's `ts` is not a multiple of its interval since the epoch (UTC): a 5-minute
    timestamp labelled 1h, a 4-hour bar starting at 01:00. NaN/unknown intervals are not judged here."""
    codes, uniques = pd.factorize(interval, use_na_sentinel=True)
    return _off_grid(ts, Codes(codes, list(uniques)))


def _off_grid(ts: pd.Series, interval: Codes) -> pd.Series:
    seconds = np.array([INTERVAL_SECONDS.get(u, 0) if isinstance(u, str) else 0 for u in interval.values] + [0],
                       dtype="int64")[interval.ranks]
    stamps = ts.to_numpy("datetime64[ns]")
    known = (seconds > 0) & ~np.isnat(stamps)
    out = np.zeros(len(ts), dtype=bool)
    if known.any():
        epoch = stamps[known].astype("int64") // 1_000_000_000
        out[known] = (epoch % seconds[known]) != 0
    return pd.Series(out, index=ts.index)


def _key_arrays(frame: pd.DataFrame, key: list[str], codes: dict[str, Codes], rows: np.ndarray) -> list[np.ndarray]:
    """The natural key's columns at `rows` as numbers (text by its codes): cheap to compare and hash."""
    out = []
    for column in key:
        if column in codes:
            out.append(codes[column].ranks[rows])
        elif column == "ts":
            out.append(frame["ts"].to_numpy("datetime64[ns]")[rows].astype("int64"))
        else:
            out.append(frame[column].to_numpy()[rows])
    return out


def _sorted_by(keys: list[np.ndarray]) -> bool:
    """Whether rows are already in (stable) order of `keys`: a sort of a sorted million rows is skipped."""
    if len(keys[0]) < 2:
        return True
    ahead = np.zeros(len(keys[0]) - 1, dtype=bool)  # row i < row i+1 on a key decided so far
    tied = np.ones(len(keys[0]) - 1, dtype=bool)  # equal on every key so far
    for x in keys:
        ahead |= tied & (x[:-1] < x[1:])
        tied &= x[:-1] == x[1:]
    return bool((ahead | tied).all())


def normalize(table: str, frame: pd.DataFrame, *, venue: str, symbol: str, source: str,
              now: pd.Timestamp | None = None, row_numbers: np.ndarray | None = None) -> Normalized:
    """Validate and type `frame` (one venue and symbol) for raw table `table`.

    Raises `SourceFormatError` when a required column is absent altogether; row-level problems
    (a string price, a missing timestamp, a negative OI, a duplicate key, a bar off its interval's
    grid, a row dated after `now`) become rejects. Checks are vector compares on typed columns;
    text (reasons, payloads) is built for failing rows only, so a clean million rows costs little
    more than their conversion. `row_numbers` (0-based, one per row) are the rows' places in their
    file when `frame` is a part of it; reasons that name a row use them.
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
    names: list[str] = []
    first_failure = np.full(len(frame), -1, dtype="int16")  # index into `names` of a row's first failing check
    reason_parts: list[pd.Series] = []

    def record(name: str, fail: np.ndarray, reasons: pd.Series) -> None:
        new = fail & (first_failure < 0)
        if new.any():
            names.append(name)
            first_failure[new] = len(names) - 1
            reason_parts.append(reasons.loc[frame.index[new]])

    ts = parse_timestamps(frame["ts"])
    unparsed = np.flatnonzero(np.isnat(ts.to_numpy()))
    if len(unparsed):
        missing = _blank_at(frame["ts"], unparsed)
        reasons = "unparseable timestamp: " + frame["ts"].iloc[unparsed].astype(str).astype(object)
        reasons[missing] = "missing timestamp"
        fail = np.zeros(len(frame), dtype=bool)
        fail[unparsed] = True
        record("ts", fail, reasons)
    out["ts"] = ts
    codes: dict[str, Codes] = {}
    for field in fields:
        values = frame[field.name] if field.name in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        typed, fail, reasons = _check_number(values, field) if field.kind == "number" else _check_text(values, field, codes)
        record(field.name, fail, reasons)
        out[field.name] = typed

    now = pd.Timestamp.now(tz="UTC").tz_localize(None) if now is None else pd.Timestamp(now)
    future = (first_failure < 0) & (ts > now + FUTURE_TOLERANCE).to_numpy()
    if future.any():
        record("ts", future, "dated in the future (now " + now.strftime("%Y-%m-%dT%H:%M:%SZ") + "): "
               + ts[future].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if "interval" in out:
        grid = (first_failure < 0) & _off_grid(ts, codes["interval"]).to_numpy()
        if grid.any():
            places = frame.index[grid] if row_numbers is None else np.asarray(row_numbers)[grid]
            rows = pd.Series([f" (data row {i + 1} of {source})" for i in places], index=frame.index[grid])
            record("ts", grid, "ts " + ts[grid].dt.strftime("%Y-%m-%dT%H:%M:%SZ") + " is off the " + out["interval"][grid].astype(str)
                   + " grid: a bar of that interval starts at a multiple of it since 00:00 UTC" + rows)

    valid = first_failure < 0
    key = NATURAL_KEYS[table]
    duplicate = np.zeros(len(frame), dtype=bool)
    keys = _key_arrays(out, key, codes, np.flatnonzero(valid))
    in_order = _sorted_by(keys)
    if in_order:  # sorted: a duplicate equals the row before it on every key (what duplicated(keep="first") finds)
        same = np.ones(max(len(keys[0]) - 1, 0), dtype=bool)
        for x in keys:
            same &= x[1:] == x[:-1]
        duplicate[valid] = np.concatenate([[False], same]) if len(keys[0]) else same
    else:
        duplicate[valid] = pd.DataFrame(dict(enumerate(keys))).duplicated(keep="first").to_numpy()
    if duplicate.any():
        record("+".join(key), duplicate, pd.Series("duplicate natural key; first occurrence kept", index=frame.index[duplicate]))

    bad = first_failure >= 0
    failed_ts = ts[bad]
    reasons = pd.concat(reason_parts).reindex(frame.index[bad]) if bad.any() else pd.Series(dtype=object)
    rejects = pd.DataFrame(
        {
            "table_name": table,
            "venue": venue,
            "symbol": symbol,
            "day": failed_ts.dt.date.astype(object).where(failed_ts.notna(), None),
            "source": source,
            "field": pd.Series(np.array(names, dtype=object)[first_failure[bad]] if bad.any() else [], index=frame.index[bad], dtype=object),
            "reason": reasons.astype(str),
            "payload": [reject_payload(r) for r in frame[bad].to_dict("records")],
        },
        columns=REJECT_COLUMNS,
    )
    rows = out[~bad].copy() if bad.any() else out
    rows.insert(0, "venue", venue)
    rows.insert(1, "symbol", symbol)
    if table == "liquidations":
        rows["source"] = source
    if not in_order:  # (rows in order stay in order when some are rejected)
        rows = rows.sort_values(key, kind="stable")
    return Normalized(rows=rows.reset_index(drop=True), rejects=rejects.reset_index(drop=True))
