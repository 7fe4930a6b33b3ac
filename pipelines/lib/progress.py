"""Progress lines that reach both the Dagster log and a plain Python logger (the demo prints it).

A line that starts with a day (`2026-03-04 levels.objective: …`) is per-day progress: on a
terminal it overwrites the previous one, elsewhere (logs, CI) it is dropped, so a long range prints
one line per step (the step's summary), not one per day and step.
"""

import logging
import re

progress_logger = logging.getLogger("liqlevels.progress")
PER_DAY = re.compile(r"^\d{4}-\d{2}-\d{2} ")


def report(context, message: str) -> None:
    context.log.info(message)
    progress_logger.info(message, extra={"per_day": bool(PER_DAY.match(message))})
