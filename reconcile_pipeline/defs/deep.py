"""Dagster wiring of the sharded deep scan (DESIGN §10): the daily schedule fans out one partition per shard.

Each tick counts the operations and blocks (:mod:`..shard_plan`), picks ``n`` (a power of two, at most
256, from ``[reconciliation] deep_shard_size``), registers the shard keys as partitions of ``deep_shards``
(``64-007``: shard 7 of 64; ``1-000`` when one shard is enough) and requests one ``reconcile_deep`` run per
partition (:mod:`.deep_graph`: the asset graph under ``deep/``), keyed ``deep:<tick>:<key>``, with the
shard's scope in its tags (``reconcile/scope``, ``reconcile/shard``). The run queue and the executor spread
the runs (multiprocess locally, Celery or Kubernetes elsewhere); each run's memory follows its shard. A
shard run is never a complete run (``Scope.complete`` is False), so it resolves only the alerts of entities
it judged and never the group, source or layer-rate alerts of the whole population.
"""

from __future__ import annotations

from datetime import datetime

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from ..cadences import Scope
from ..shard_plan import deep_shard_scopes
from ..shards import Shard
from .deep_graph import DEEP_SHARDS
from .resources import SettingsResource

DEEP_SCHEDULE = "reconcile_deep_schedule"


def partition_key(scope: Scope) -> str:
    """The deep-scan partition of a scope: its shard's key, ``1-000`` for an unsharded scan."""
    return scope.shard.key if scope.shard else Shard(0, 1).key


def shard_run_requests(scopes: list[Scope], when: datetime) -> list[RunRequest]:
    """One run request per shard scope (one for an unsharded scan): its partition, keyed by the tick."""
    requests = []
    for scope in scopes:
        key = partition_key(scope)
        requests.append(RunRequest(run_key=f"deep:{when.isoformat()}:{key}", tags=scope.tags(), partition_key=key))
    return requests


def add_partitions(instance, scopes: list[Scope]) -> None:
    """Register the shard keys of today's scan that the instance does not know yet."""
    keys = [partition_key(scope) for scope in scopes]
    known = set(instance.get_dynamic_partitions(DEEP_SHARDS.name))
    missing = [key for key in keys if key not in known]
    if missing:
        instance.add_dynamic_partitions(DEEP_SHARDS.name, missing)


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
            add_partitions(context.instance, scopes)
            return shard_run_requests(scopes, context.scheduled_execution_time)

    return _schedule
