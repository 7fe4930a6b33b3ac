"""Per symbol-day isolation of an asset's work: one symbol's failure is reported for that
symbol-day and the other symbols still complete.

Assets are partitioned by (day, symbol) and loop over the symbol-days of their run (a range run
may hold many days, and a run may hold several symbols). Without this, one symbol's
exception failed the whole step, and with it every downstream asset of every symbol. Now:

- an exception while computing (asset, symbol, day) becomes an `error` note in `ops.asset_notes`
  (one log line, no traceback at INFO), and the loop goes on with the next symbol;
- an asset whose upstream asset has an error note for the same symbol-day does not compute it
  (its stored rows stay as they were) and notes why: errors propagate down the graph, so the
  symbol-day's exports are withheld;
- `warn()` records what an asset had to do without (no volume, no OI) as a `warning` note;
- the asset's check reads the notes, so the failure shows on that symbol-day's check.

Notes of a symbol-day are replaced every time the asset reruns it, so a fixed rerun clears them.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Callable
from typing import Any

import dagster as dg
import pandas as pd

from pipelines.defs.partitions import partition_key
from pipelines.lib.report import NOT_COMPUTED
from pipelines.lib.warehouse import failed_assets, replace_notes


def log_note(context, severity: str, text: str) -> None:
    """One line for a note: to the Dagster log and to the progress lines the CLI prints."""
    level = logging.ERROR if severity == "error" else logging.WARNING
    (context.log.error if severity == "error" else context.log.warning)(text)
    logging.getLogger("liqlevels.progress").log(level, text)


def asset_name(key: list[str] | dg.AssetKey) -> str:
    return "/".join(key.path if isinstance(key, dg.AssetKey) else key)


class SymbolDays:
    """Run one asset's per-(symbol, day) work with isolation, notes and a summary for metadata."""

    def __init__(self, context, con, asset: list[str], upstream: tuple[list[str], ...] = ()):
        self.context = context
        self.con = con
        self.asset = asset_name(asset)
        self.upstream = [asset_name(u) for u in upstream]
        self.failed: list[dict] = []
        self.warnings: list[dict] = []
        self._pending: list[tuple[str, str]] | None = None
        self._per_day: dict[tuple[str, dt.date], dict[str, float]] = {}

    def count(self, symbol: str, day: dt.date, **numbers: float) -> None:
        """Add the symbol-day's numbers (rows, USD...) to its partition's own metadata: a range run then
        shows each partition its numbers, not the run's last day's (`dagster/row_count` as `row_count`)."""
        totals = self._per_day.setdefault((symbol, day), {})
        for name, value in numbers.items():
            totals[name] = totals.get(name, 0) + value

    def warn(self, message: str) -> None:
        """Note something the current symbol-day had to do without (shown in the run summary)."""
        if self._pending is None:
            raise RuntimeError("warn() outside SymbolDays.run()")
        self._pending.append(("warning", message))

    def run(self, symbol: str, day: dt.date, work: Callable[[], Any]) -> Any | None:
        """`work()` for (symbol, day); None when it failed or an upstream asset failed for that symbol-day."""
        self._pending = []
        self._per_day.setdefault((symbol, day), {})
        try:
            upstream = failed_assets(self.con, self.upstream, symbol, day)
            if upstream:
                failed, message = upstream[0]
                # Say the root cause once, not a chain: an upstream note that is itself "not computed" is passed on.
                note = message if message.startswith(NOT_COMPUTED) else f"{NOT_COMPUTED}{failed} failed ({message})"
                self._pending.append(("error", note))
                log_note(self.context, "warning", f"{self.asset} {symbol} {day}: {note}")
                return None
            try:
                result = work()
            except Exception as exc:  # noqa: BLE001 - isolated per symbol-day on purpose, reported below
                message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".rstrip(": ")
                self._pending.append(("error", message))
                log_note(self.context, "error", f"{self.asset} {symbol} {day}: {message}")
                self.context.log.debug("".join(traceback.format_exception(exc)))
                return None
            for _, message in self._pending:
                log_note(self.context, "warning", f"{self.asset} {symbol} {day}: {message}")
            return result
        finally:
            for severity, message in self._pending:
                (self.failed if severity == "error" else self.warnings).append(
                    {"day": day.isoformat(), "symbol": symbol, "severity": severity, "message": message})
            replace_notes(self.con, self.asset, symbol, day, self._pending)
            self._pending = None

    def metadata(self) -> dict[str, dg.MetadataValue]:
        """The run's summary, returned by the asset; each day of a multi-day run also gets its own
        numbers and notes as partition-scoped metadata, which Dagster puts on that partition's event."""
        add_partition_metadata(self.context, {key: self._summary(key, numbers) for key, numbers in self._per_day.items()})
        return self._summary()

    def _summary(self, key: tuple[str, dt.date] | None = None, numbers: dict[str, float] | None = None) -> dict[str, dg.MetadataValue]:
        chosen = [n for n in self.failed + self.warnings if key is None or (n["symbol"], n["day"]) == (key[0], key[1].isoformat())]
        notes = pd.DataFrame(chosen, columns=["day", "symbol", "severity", "message"])
        out = {
            "failed_symbol_days": dg.MetadataValue.int(sum(n["severity"] == "error" for n in chosen)),
            "warnings": dg.MetadataValue.int(sum(n["severity"] != "error" for n in chosen)),
            "notes": dg.MetadataValue.md(notes.tail(40).to_markdown(index=False) if len(notes) else "_none_"),
        }
        return {**out, **number_metadata(numbers or {})}


def number_metadata(numbers: dict[str, float]) -> dict[str, dg.MetadataValue]:
    """Numbers as Dagster metadata the Plots tab can draw: whole numbers as int (USD rounded to the
    dollar, shown with separators, never as 1.85444e+07), others rounded; `row_count` is Dagster's own."""
    out = {}
    for name, value in numbers.items():
        key = "dagster/row_count" if name == "row_count" else name
        value = float(value)
        out[key] = dg.MetadataValue.int(int(round(value))) if name.endswith("_usd") or value.is_integer() \
            else dg.MetadataValue.float(round(value, 4))
    return out


def add_partition_metadata(context, per_partition: dict[tuple[str, dt.date], dict]) -> None:
    """Partition-scoped metadata for each symbol-day of a run over several (a range): Dagster puts it
    on that partition's materialization over the run-wide values, so each partition shows its own."""
    keys = {str(k) for k in context.partition_keys} if (context.has_partition_key or context.has_partition_key_range) else set()
    if len(keys) > 1:
        for (symbol, day), metadata in per_partition.items():
            if str(partition_key(symbol, day)) in keys:
                context.add_asset_metadata(metadata, partition_key=str(partition_key(symbol, day)))
