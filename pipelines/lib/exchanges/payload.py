"""From venue payload items to rows `normalize` accepts, and from those to typed rows + rejects.

Every venue parser maps its items through `extract`: an item that lacks a documented field (a
renamed key, a short array) is not dropped but kept as a shape problem naming that field, and
goes to `ops.rejects` with the item as it arrived. Values are passed on as received (strings or
numbers); `normalize` decides what is a valid number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipelines.lib.normalize import INTERVAL_SECONDS, TABLE_FIELDS, Normalized, normalize
from pipelines.lib.warehouse import REJECT_COLUMNS, reject_payload

Getter = str | int | Callable[[Any], Any]


class RowReject(ValueError):
    """Raised by a mapping function: this item cannot become a row, for a reason worth storing."""

    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field, self.reason = field, reason


class MissingField(KeyError):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def pick(item: Any, key: str | int) -> Any:
    """`item[key]` for a dict key or an array position, raising `MissingField` when absent."""
    if isinstance(key, int):
        if isinstance(item, (list, tuple)) and len(item) > key:
            return item[key]
        raise MissingField(f"[{key}]")
    if isinstance(item, dict) and key in item:
        return item[key]
    raise MissingField(key)


def has(item: Any, key: str | int) -> bool:
    try:
        pick(item, key)
        return True
    except MissingField:
        return False


@dataclass
class Fetched:
    """What one venue endpoint returned for one (table, symbol, day)."""

    table: str
    endpoint: str
    records: list[dict] = field(default_factory=list)
    problems: list[tuple[str, str, Any]] = field(default_factory=list)  # (field, reason, item): shape errors
    row_rejects: list[tuple[str, str, Any]] = field(default_factory=list)  # (field, reason, item): bad rows, not a bad shape

    def extend(self, other: Fetched) -> None:
        self.records.extend(other.records)
        self.problems.extend(other.problems)
        self.row_rejects.extend(other.row_rejects)


def extract(table: str, endpoint: str, items: list, mapping: dict[str, Getter], constants: dict | None = None) -> Fetched:
    """Map each payload item to a record with `mapping` (output column -> key, index or function)."""
    out = Fetched(table, endpoint)
    if not isinstance(items, list):
        out.problems.append(("<list>", f"expected a list of items, got {type(items).__name__}", items))
        return out
    for item in items:
        try:
            record = {name: (get(item) if callable(get) else pick(item, get)) for name, get in mapping.items()}
        except MissingField as missing:
            out.problems.append((missing.name, f"missing in the {endpoint} payload", item))
            continue
        except RowReject as reject:
            out.row_rejects.append((reject.field, reject.reason, item))
            continue
        out.records.append(record | (constants or {}))
    return out


def number(value: Any) -> float | Any:
    """`float(value)` for numbers and numeric strings; anything else unchanged (normalize rejects it)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def product(*values: Any) -> float | Any:
    """The product of numeric values, or the first non-numeric one as received."""
    result = 1.0
    for value in values:
        converted = number(value)
        if not isinstance(converted, float):
            return value
        result *= converted
    return result


def to_normalized(fetched: Fetched, venue: str, symbol: str, source: str, day) -> Normalized:
    """Typed rows and rejects: `normalize`'s row checks plus one reject per shape problem."""
    columns = ["ts"] + [f.name for f in TABLE_FIELDS[fetched.table]]
    frame = pd.DataFrame(fetched.records, columns=columns) if fetched.records else pd.DataFrame(columns=columns, dtype=object)
    normalized = normalize(fetched.table, frame, venue=venue, symbol=symbol, source=source)
    if not fetched.problems and not fetched.row_rejects:
        return normalized
    shape = pd.DataFrame(
        [
            {"table_name": fetched.table, "venue": venue, "symbol": symbol, "day": day, "source": source,
             "field": name, "reason": reason, "payload": reject_payload(item if isinstance(item, dict) else {"item": item})}
            for name, reason, item in fetched.problems + fetched.row_rejects
        ],
        columns=REJECT_COLUMNS,
    )
    rejects = pd.concat([normalized.rejects, shape], ignore_index=True) if len(normalized.rejects) else shape
    return Normalized(rows=normalized.rows, rejects=rejects)


def _duration(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms} ms"


def check_spacing(fetched: Fetched) -> None:
    """Bars must be as far apart as the interval asked for: a venue that answers 5-minute OI, 1-minute
    candles or 4-hour bars to a 1h request adds a shape problem on `ts` (the load fails, naming venue,
    endpoint and the spacing found) instead of being stored as 1h. Judged on the greatest common
    divisor of the gaps, so missing bars are not mistaken for a coarser interval."""
    import math

    stamps: dict[str, set[int]] = {}
    for record in fetched.records:
        interval = record.get("interval")
        try:
            ts = int(float(record["ts"]))
        except (TypeError, ValueError, KeyError):
            continue  # normalize rejects it
        if interval in INTERVAL_SECONDS:
            stamps.setdefault(interval, set()).add(ts)
    for interval, values in stamps.items():
        ordered = sorted(values)
        if len(ordered) < 2:
            continue
        spacing = math.gcd(*(b - a for a, b in zip(ordered, ordered[1:])))
        if spacing != INTERVAL_SECONDS[interval] * 1000:
            fetched.problems.append(("ts", f"holds bars {_duration(spacing)} apart, but {interval} was asked for",
                                     {"first_ts": ordered[0], "second_ts": ordered[1], "rows": len(ordered)}))
