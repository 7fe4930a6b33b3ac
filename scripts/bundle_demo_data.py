"""Rebuild the bundled demo data in data/ from the group-m sample (see data/PROVENANCE.md).

    .venv/bin/python scripts/bundle_demo_data.py ../shared/data/group-m
"""

import datetime as dt
import shutil
import sys
from pathlib import Path

from pipelines.lib.group_m import convert
from pipelines.lib.paths import PROJECT_ROOT, watchlist_path
from pipelines.lib.watchlist import load_watchlist

START, END = dt.date(2025, 12, 7), dt.date(2026, 3, 5)

if __name__ == "__main__":
    src = Path(sys.argv[1])
    dst = PROJECT_ROOT / "data"
    for table in ("klines", "open_interest", "funding", "liquidations", "liquidation_history"):
        shutil.rmtree(dst / table, ignore_errors=True)
    print(convert(src, dst, load_watchlist(watchlist_path()), START, END))
