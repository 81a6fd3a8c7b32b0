"""Dagster wiring of the cadences (DESIGN §7) and the alerts (§6): jobs, schedules, sensors.

    reconcile_immediate   sensor reconcile_immediate_sensor (cursor-based, one run key per event: an operation
                          reaching a confirmed state, vdc:latest moving); in-process executor (small scopes)
    reconcile_frequent    schedule reconcile_frequent_schedule, every 5 minutes: the recent window
    reconcile_regular     schedule reconcile_regular_schedule, hourly: everything, verified content by root blocks
    reconcile_deep        schedule reconcile_deep_schedule, daily: everything re-downloaded and re-hashed, one
                          run per shard of the deep scan (:mod:`.deep`, :mod:`..shards`)

Each job materializes every asset (and asset check) of the definitions; the run's scope travels in its
tags (``reconcile/scope``, ``reconcile/scope_summary``) and shows in every snapshot's metadata. Cron
strings (UTC) come from ``[reconciliation]`` (``*_interval_s``, ``deep_at_utc``), read when the code
location loads. Schedules and the immediate sensor start stopped: turn them on in the UI
(Automation) or with ``dagster schedule start`` / ``dagster sensor start``.

Open-source Dagster has no alert policies, so the alerts are sensors of ours (running by default):
``reconcile_alerts_on_success`` evaluates each finished run (alerts.engine.evaluate_run) and
``reconcile_alerts_on_failure`` alerts on each failed run; a sensor or schedule tick that fails alerts
too (and its next good tick resolves it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunStatusSensorContext,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    define_asset_job,
    in_process_executor,
    run_failure_sensor,
    run_status_sensor,
    schedule,
    sensor,
)

from ..alerts import engine
from ..cadence_events import ImmediateCursor, find_events
from ..cadences import CADENCES, TAG_CADENCE, TAG_PARTITION, TAG_SHARD, cadence_crons, scope_for
from ..settings import load_settings
from .deep import deep_schedule
from .deep_graph import deep_selection, main_selection
from .resources import SettingsResource

IMMEDIATE_SENSOR = "reconcile_immediate_sensor"
DESCRIPTIONS = {
    "immediate": "Verify the operations that reached a confirmed state and the new blocks (one run per event).",
    "frequent": "Verify the operations updated and the blocks mined in the recent window.",
    "regular": "Verify everything; content already verified by CID is checked for availability only.",
    "deep": "Verify everything: content re-downloaded from every gateway and re-hashed, the whole chain.",
}
_SETTINGS = load_settings()  # the code location's settings (RECONCILE_CONFIG / environment): cron strings


def alert_job_name(job_name: str, tags) -> str:
    """The job a run-failure alert is keyed by: a shard of the deep scan is its own (``reconcile_deep:8-003``),
    so one shard's success never resolves another shard's failure."""
    shard = tags.get(TAG_SHARD) or tags.get(TAG_PARTITION)
    return f"{job_name}:{shard}" if shard else job_name


def cadence_job(cadence: str):
    small = cadence in ("immediate", "frequent")
    return define_asset_job(
        f"reconcile_{cadence}",
        selection=deep_selection() if cadence == "deep" else main_selection(),  # deep: partitioned by shard
        tags={TAG_CADENCE: cadence},
        description=DESCRIPTIONS[cadence],
        executor_def=in_process_executor if small else None,
    )


JOBS = {cadence: cadence_job(cadence) for cadence in CADENCES}


@contextlib.contextmanager
def tick_alerts(settings, name: str, log) -> Iterator[None]:
    """A tick that raises alerts (critical) and still fails in Dagster; a good tick resolves that alert."""
    try:
        yield
    except Exception as exc:
        engine.sensor_failed(settings, name, f"{type(exc).__name__}: {exc}"[:2000], logger=log)
        raise
    try:
        engine.sensor_ok(settings, name, logger=log)
    except Exception as exc:  # noqa: BLE001 - the tick itself succeeded; the alert store is a side matter
        log.warning(f"could not resolve the failure alert of {name}: {exc}")


def cadence_schedule(cadence: str, cron: str):
    name = f"reconcile_{cadence}_schedule"

    @schedule(
        name=name,
        cron_schedule=cron,
        job=JOBS[cadence],
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"{DESCRIPTIONS[cadence]} ({cron} UTC)",
    )
    def _schedule(context: ScheduleEvaluationContext, settings: SettingsResource):
        loaded = settings.load()
        with tick_alerts(loaded, name, context.log):
            when = context.scheduled_execution_time
            scope = scope_for(cadence, loaded, when)
            return RunRequest(run_key=f"{cadence}:{when.isoformat()}", tags=scope.tags())

    return _schedule


_CRONS = cadence_crons(_SETTINGS)
SCHEDULES = [cadence_schedule(cadence, cron) for cadence, cron in _CRONS.items() if cadence != "deep"]
SCHEDULES.append(deep_schedule(JOBS["deep"], _CRONS["deep"], DESCRIPTIONS["deep"], tick_alerts))


@sensor(
    name=IMMEDIATE_SENSOR,
    job=JOBS["immediate"],
    minimum_interval_seconds=_SETTINGS.reconciliation.sensor_interval_s,
    default_status=DefaultSensorStatus.STOPPED,
    description=DESCRIPTIONS["immediate"] + " Cursor: the last operation update and block seen.",
)
def immediate_sensor(context: SensorEvaluationContext, settings: SettingsResource) -> SensorResult:
    loaded = settings.load()
    with tick_alerts(loaded, IMMEDIATE_SENSOR, context.log):
        events, cursor, problems = find_events(loaded, ImmediateCursor.from_json(context.cursor))
        for source in ("database", "kv"):  # a source that cannot be read: its own alert, the rest goes on
            if source in problems:
                engine.sensor_failed(loaded, f"{IMMEDIATE_SENSOR}:{source}", problems[source], logger=context.log)
            else:
                engine.sensor_ok(loaded, f"{IMMEDIATE_SENSOR}:{source}", logger=context.log)
        requests = [RunRequest(run_key=e.key, tags=e.scope.tags() | {"reconcile/event": e.key}) for e in events]
        skip = None if requests else "no operation reached a confirmed state and vdc:latest did not move"
        return SensorResult(run_requests=requests, cursor=cursor.to_json(), skip_reason=skip)


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    name="reconcile_alerts_on_success",
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="After each successful run: alert rules over its findings and the repair ledger; notify.",
)
def alerts_on_success(context: RunStatusSensorContext, settings: SettingsResource):
    loaded = settings.load()
    run = context.dagster_run
    with tick_alerts(loaded, "reconcile_alerts_on_success", context.log):
        stats = context.instance.get_run_stats(run.run_id)
        took = stats.end_time - stats.start_time if stats.end_time and stats.start_time else None
        job = alert_job_name(run.job_name, run.tags)
        tags = dict(run.tags)
        summary = engine.evaluate_run(loaded, run.run_id, tags, job_name=job, logger=context.log, duration_s=took)
        context.log.info(f"alerts for run {run.run_id}: {summary}")


@run_failure_sensor(
    name="reconcile_alerts_on_failure",
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="A failed run alerts at once (critical); the job's next successful run resolves it.",
)
def alerts_on_failure(context: RunFailureSensorContext, settings: SettingsResource):
    loaded = settings.load()
    run = context.dagster_run
    message = context.failure_event.message if context.failure_event else "run failed"
    with tick_alerts(loaded, "reconcile_alerts_on_failure", context.log):
        job = alert_job_name(run.job_name, run.tags)
        engine.run_failed(loaded, job, run.run_id, message or "run failed", logger=context.log)


AUTOMATION_JOBS = list(JOBS.values())
SENSORS = [immediate_sensor, alerts_on_success, alerts_on_failure]
