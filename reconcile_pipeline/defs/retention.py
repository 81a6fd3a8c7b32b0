"""Dagster wiring of retention: the ``prune_run_files`` job and its daily schedule (stopped by default)."""

from dagster import DefaultScheduleStatus, MetadataValue, OpExecutionContext, Output, job, op, schedule

from ..retention import prune_run_files
from .resources import SettingsResource


@op(description="Remove per-run snapshot files and report folders past [reports] retention_days.")
def prune_files(context: OpExecutionContext, settings: SettingsResource) -> Output[dict]:
    report = prune_run_files(settings.load())
    for error in report.errors:
        context.log.warning(f"could not remove {error}")
    context.log.info(f"pruned {len(report.removed)} per-run file(s), {report.bytes} bytes")
    metadata = {"removed": len(report.removed), "bytes": report.bytes, "errors": MetadataValue.json(report.errors)}
    return Output(report.as_dict(), metadata=metadata)


@job(name="prune_run_files", description="Retention: per-run files older than [reports] retention_days.")
def prune_run_files_job() -> None:
    prune_files()


@schedule(
    name="prune_run_files_schedule",
    cron_schedule="30 3 * * *",
    job=prune_run_files_job,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Daily at 03:30 UTC: remove per-run files past the retention window.",
)
def prune_run_files_schedule() -> dict:
    return {}


RETENTION_JOBS = [prune_run_files_job]
RETENTION_SCHEDULES = [prune_run_files_schedule]
