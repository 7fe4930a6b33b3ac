"""Partitions: one per (UTC day, symbol).

Why two dimensions: Dagster can then run, retry and check each symbol-day on its own, and the runs
of different symbols can go at once (`liqlevels run --parallel N`, or the queued runs of a
deployment): each writes its own partitions of the lake (`LIQLEVELS_LAKE`). The symbol dimension
is dynamic — its keys are the watchlist's symbols, added when a run or the nightly schedule sees
them — so a new symbol in the watchlist needs no code. Keys are never removed: a symbol dropped
from the watchlist keeps its history.
"""

import datetime as dt

import dagster as dg

# The first day of Binance USDⓈ-M archives (data.binance.vision): history can be backfilled from here.
PARTITION_START = dt.date(2019, 9, 1)

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITION_START.isoformat(), timezone="UTC")
SYMBOLS = "symbols"  # the dynamic partitions' name (Dagster stores its keys in the instance)
symbol_partitions = dg.DynamicPartitionsDefinition(name=SYMBOLS)
symbol_day_partitions = dg.MultiPartitionsDefinition({"date": daily_partitions, "symbol": symbol_partitions})


def last_partition_day(now: dt.datetime | None = None) -> dt.date:
    """The newest complete UTC day (a day's partition exists once the day has ended)."""
    now = now or dt.datetime.now(dt.UTC)
    return now.date() - dt.timedelta(days=1)


def partition_key(symbol: str, day: dt.date) -> dg.MultiPartitionKey:
    """The partition of one symbol-day (its string form is `<day>|<symbol>`)."""
    return dg.MultiPartitionKey({"date": day.isoformat(), "symbol": symbol})


def _keys(context) -> list[dg.MultiPartitionKey]:
    keys = list(context.partition_keys)
    return [k if isinstance(k, dg.MultiPartitionKey) else symbol_day_partitions.get_partition_key_from_str(k) for k in keys]


def partition_days(context) -> list[dt.date]:
    """The days of this run, oldest first: one for a nightly run, many for a range."""
    return sorted({dt.date.fromisoformat(k.keys_by_dimension["date"]) for k in _keys(context)})


def partition_symbols(context) -> list[str]:
    """The symbols of this run, in the order of their partition keys (usually one)."""
    return list(dict.fromkeys(k.keys_by_dimension["symbol"] for k in _keys(context)))


def range_tags(start: dt.date, end: dt.date, symbol: str) -> dict[str, str]:
    """Run tags that make one run cover the days [start, end] of one symbol (a single-run range)."""
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    return {ASSET_PARTITION_RANGE_START_TAG: str(partition_key(symbol, start)),
            ASSET_PARTITION_RANGE_END_TAG: str(partition_key(symbol, end))}


def add_symbols(instance: dg.DagsterInstance, symbols: list[str]) -> list[str]:
    """Make `symbols` keys of the symbol dimension (the ones missing, in the given order); returns those added."""
    known = set(instance.get_dynamic_partitions(SYMBOLS))
    new = [s for s in dict.fromkeys(symbols) if s not in known]
    if new:
        instance.add_dynamic_partitions(SYMBOLS, new)
    return new
