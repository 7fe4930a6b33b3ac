"""Non-Dagster helpers: paths, watchlist, warehouse I/O, normalization and data sources."""
