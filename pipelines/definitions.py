import warnings
from pathlib import Path

import dagster as dg

from pipelines.lib.deployment import executor_from_env

# BackfillPolicy and partitioned asset checks are flagged beta/preview in 1.13 and the project relies on
# both: said once here, for every process that loads the definitions (step workers included).
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


@dg.definitions
def defs() -> dg.Definitions:
    # In-process by default: steps run one after another in one process, so a run is a single DuckDB
    # writer (and about 2.5x faster than multiprocess on 2 cores). With a lake (LIQLEVELS_LAKE) steps
    # write their own partitions and may run anywhere: LIQLEVELS_EXECUTOR=multiprocess or celery.
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=executor_from_env()),
    )


def nightly_job() -> dg.JobDefinition:
    """The nightly job, for executors that run steps in other processes (they rebuild it from here:
    `dg.reconstructable(nightly_job)`)."""
    return defs().resolve_job_def("nightly")
