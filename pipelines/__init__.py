"""liqlevels Dagster code location: ingest → levels → checks → exports."""
