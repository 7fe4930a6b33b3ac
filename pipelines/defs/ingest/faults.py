"""How the ingest assets survive venue faults: one venue failing does not stop the others.

A transient error (retries exhausted on 429/5xx/timeouts) fails the step after every other
venue has been written, so Dagster's retry policy reruns it (idempotently). A ban or hard rate
limit stops all further calls to that venue and fails without retries, as does a payload with
the wrong shape (it stays wrong on a retry).
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
import pandas as pd

from pipelines.lib.exchanges.http import ExchangeError, PayloadShapeError, RateLimitStop
from pipelines.lib.exchanges.live import LiveSource, to_normalized
from pipelines.lib.warehouse import Partition, replace_in_transaction, replace_rejects
from pipelines.lib.lake import ANY_SYMBOL

STREAM_VENUES = ("binance", "bybit", "okx")


class VenueFaults:
    def __init__(self):
        self.stopped: dict[str, RateLimitStop] = {}
        self.errors: list[str] = []
        self.shape_errors: list[str] = []

    @contextmanager
    def guard(self, venue: str, symbol: str, day: dt.date) -> Iterator[None]:
        try:
            yield
        except RateLimitStop as exc:
            self.stopped[venue] = exc.first  # the original stop, said once per venue
        except PayloadShapeError as exc:
            self.shape_errors.append(f"{exc} ({symbol}, {day})")
        except ExchangeError as exc:
            self.errors.append(f"{exc} ({symbol}, {day})")

    def raise_if_any(self, table: str) -> None:
        hard = [str(e) for e in self.stopped.values()] + self.shape_errors
        if hard:
            raise dg.Failure(description=f"raw.{table}: " + "; ".join(hard + self.errors), allow_retries=False)
        if self.errors:
            raise dg.Failure(description=f"raw.{table}: " + "; ".join(self.errors), allow_retries=True)


def record_stream_leftovers(con: duckdb.DuckDBPyConnection, source: LiveSource, venues: set[str], day: dt.date) -> int:
    """Store the day's stream gaps in `ops.stream_gaps` and its unattributable messages as rejects.

    Returns the number of rejects written (messages that were not JSON or had no symbol).
    """
    written = 0
    for venue in sorted(set(venues) & set(STREAM_VENUES)):
        records = source.landed("liquidations", venue, day, 0)
        gaps = pd.DataFrame(
            [{"venue": venue, "day": day, "start_ts": pd.Timestamp(r["gap"]["start"], unit="ms"),
              "end_ts": pd.Timestamp(r["gap"]["end"], unit="ms"), "reason": str(r["gap"].get("reason", "")),
              "landing_file": r["_file"]} for r in records if isinstance(r.get("gap"), dict)],
            columns=["venue", "day", "start_ts", "end_ts", "reason", "landing_file"],
        ).drop_duplicates(["venue", "start_ts"])
        replace_in_transaction(con, [("delete from ops.stream_gaps where venue = ? and day = ?", [venue, day])],
                               [("ops.stream_gaps", gaps)])
        orphans = source.stream_orphans(venue, day)
        source_name = f"{venue}:landing liquidations/{venue}"
        rejects = to_normalized(orphans, venue, ANY_SYMBOL, source_name, day).rejects
        replace_rejects(con, Partition("liquidations", venue, ANY_SYMBOL, day), rejects, source_name)
        written += len(rejects)
    return written
