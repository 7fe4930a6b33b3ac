import datetime as dt

import dagster as dg

# The first day of Binance USDⓈ-M archives (data.binance.vision): history can be backfilled from here.
PARTITION_START = dt.date(2019, 9, 1)

# One partition per UTC day; the watchlist (symbols) is configuration, not a partition
# dimension, so a nightly tick is one run and DuckDB sees one writer process.
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITION_START.isoformat(), timezone="UTC")


def last_partition_day(now: dt.datetime | None = None) -> dt.date:
    """The newest complete UTC day (a day's partition exists once the day has ended)."""
    now = now or dt.datetime.now(dt.UTC)
    return now.date() - dt.timedelta(days=1)
