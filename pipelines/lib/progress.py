"""Progress lines that reach both the Dagster log and a plain Python logger (the demo prints it)."""

import logging

progress_logger = logging.getLogger("liqlevels.progress")


def report(context, message: str) -> None:
    context.log.info(message)
    progress_logger.info(message)
