"""Dagster wiring of the sharded deep scan (DESIGN §10): the daily schedule fans out one run per shard.

Each tick counts the operations and blocks (:mod:`..shard_plan`), picks ``n`` (a power of two, at most
256, from ``[reconciliation] deep_shard_size``) and requests one ``reconcile_deep`` run per shard, keyed
``deep:<tick>:<n>-<i>``, with the shard's scope in its tags (``reconcile/scope``) and ``reconcile/shard``
(``64-007``: shard 7 of 64). The run queue and the executor spread the runs (multiprocess locally, Celery
or Kubernetes elsewhere); each run's memory follows its shard.

The shards are run tags, not Dagster partitions: the snapshot assets are shared by every cadence and
unpartitioned, and Dagster requires a partitioned job's assets to share its PartitionsDefinition. A shard
run is never a complete run (``Scope.complete`` is False), so it resolves only the alerts of entities it
judged and never the group, source or layer-rate alerts of the whole population.
"""

from __future__ import annotations

from datetime import datetime

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from ..cadences import Scope
from ..shard_plan import deep_shard_scopes
from .resources import SettingsResource

DEEP_SCHEDULE = "reconcile_deep_schedule"


def shard_run_requests(scopes: list[Scope], when: datetime) -> list[RunRequest]:
    """One run request per shard scope (one for an unsharded scan), keyed by the tick and the shard."""
    requests = []
    for scope in scopes:
        suffix = f":{scope.shard.key}" if scope.shard else ""
        requests.append(RunRequest(run_key=f"deep:{when.isoformat()}{suffix}", tags=scope.tags()))
    return requests


def deep_schedule(job, cron: str, description: str, tick_alerts):
    @schedule(
        name=DEEP_SCHEDULE,
        cron_schedule=cron,
        job=job,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"{description} One run per shard of the deep scan. ({cron} UTC)",
    )
    def _schedule(context: ScheduleEvaluationContext, settings: SettingsResource):
        loaded = settings.load()
        with tick_alerts(loaded, DEEP_SCHEDULE, context.log):
            scopes = deep_shard_scopes(loaded)
            context.log.info(f"deep scan: {len(scopes)} shard(s)")
            return shard_run_requests(scopes, context.scheduled_execution_time)

    return _schedule
