"""Record a CLI command that runs outside the asset graph (`reconcile repair apply`) as a Dagster run.

:func:`recorded` runs ``work`` as the single op of a run of ``job_name`` on the instance :mod:`.execution`
names (the one ``DAGSTER_HOME`` names, unless ``--ephemeral``), so the UI lists it with its runs and shows
``metadata_of(result)`` as an observation of ``asset``; ``work``'s result comes back to the caller, and an
exception it raises propagates unchanged (the run is then marked failed). With no persistent instance
(``--ephemeral``, or outside :func:`.execution.using`) ``work`` simply runs.
"""

from collections.abc import Callable
from typing import TypeVar

from dagster import AssetObservation, OpExecutionContext, job, op

from . import execution

T = TypeVar("T")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def recorded(job_name: str, op_name: str, asset: str, work: Callable[[], T], metadata_of: Callable[[T], dict]) -> T:
    instance = execution.current().instance
    if instance is None:
        return work()
    holder: dict[str, T] = {}

    @op(name=op_name, description="Run from the reconcile CLI.")
    def cli_step(context: OpExecutionContext) -> None:
        holder["result"] = work()
        context.log_event(AssetObservation(asset_key=asset, metadata=metadata_of(holder["result"])))

    @job(name=job_name, description="Recorded from the reconcile CLI.", tags={"reconcile/source": "cli"})
    def cli_job() -> None:
        cli_step()

    cli_job.execute_in_process(instance=instance, run_config=QUIET)
    return holder["result"]
