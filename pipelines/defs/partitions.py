import dagster as dg

# One partition per UTC day; the watchlist (symbols) is configuration, not a partition
# dimension, so a nightly tick is one run and DuckDB sees one writer process.
daily_partitions = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")
