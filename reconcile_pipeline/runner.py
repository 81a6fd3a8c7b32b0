"""Materialize assets in process (the CLI's `demo`, `run`), outside the Dagster daemon.

:func:`run_cadence` runs one cadence's scope (:mod:`.cadences`) as the schedules and the sensor do, then
evaluates its alerts (:mod:`.alerts.engine`): the CLI's `reconcile run --cadence ...`. The CLI's immediate
cadence runs the events since its own cursor (table ``automation_cursors``, name ``cli:immediate``) as one
run, or, the first time, every operation in a confirmed state and the block ``vdc:latest`` names.
:func:`run_deep` runs the deep scan shard by shard (:mod:`.shards`; every shard in sequence, or one).
:func:`run_reconciliation` runs everything with deep reads whatever the cadence label (tests, benchmarks).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dagster import DagsterInstance, Definitions, define_asset_job
from dagster._core.definitions.materialize import EPHEMERAL_JOB_NAME
from dagster._core.utils import make_new_run_id

from . import execution
from .cadences import CONFIRMED_STATES, Scope, deep_scope, scope_for
from .defs import ALL_ASSETS, DEEP_ASSETS, DEEP_GX_CHECKS, build_definitions
from .defs.assets import SNAPSHOT_ASSETS
from .defs.deep import partition_key
from .defs.deep_graph import DEEP_SHARDS
from .defs.gx_checks import GX_CHECKS
from .defs.outcome import OUTCOME_CHECK_NAMES
from .layers.errors import LayerError
from .settings import load_settings
from .shard_plan import deep_shard_scopes
from .shards import Shard

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
CLI_CURSOR = "cli:immediate"
UNCAPPED = 10**9  # the CLI runs every new event at once
log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    run_id: str
    success: bool
    assets: dict[str, dict] = field(default_factory=dict)  # asset -> materialization metadata (plain values)
    checks: dict[str, dict] = field(default_factory=dict)  # expectation check -> {passed, severity, metadata}
    scope: str = ""  # the scope's summary (cadence runs)
    alerts: dict = field(default_factory=dict)  # what the alert engine did after the run
    shards: list[RunSummary] = field(default_factory=list)  # a sharded deep scan: one run per shard, in order
    outcome: dict[str, dict] = field(default_factory=dict)  # the outcome checks (defs/outcome.py), the same shape


def _plain(metadata: dict) -> dict:
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


def materialize_in_process(
    config_path: str | None, selection: list, *, tags: dict[str, str] | None = None, partition: str | None = None
) -> RunSummary:
    """Run the given assets (and asset checks) once (``partition``: a deep-scan shard), as ``materialize`` does,
    on the instance :mod:`.execution` names (default: an ephemeral one), its listener seeing every event."""
    defs = build_definitions(config_path)
    listener = execution.current().listener
    run_id = make_new_run_id()
    job = Definitions(
        jobs=[define_asset_job(EPHEMERAL_JOB_NAME)], assets=selection, resources=defs.resources
    ).resolve_job_def(EPHEMERAL_JOB_NAME)
    instance = execution.current().instance or DagsterInstance.ephemeral()
    if partition is not None:
        instance.add_dynamic_partitions(DEEP_SHARDS.name, [partition])
    if listener is not None:
        instance.add_event_listener(run_id, listener)
    result = job.execute_in_process(
        run_config=QUIET, instance=instance, partition_key=partition, raise_on_error=False, tags=tags, run_id=run_id
    )
    return _summary(result)


def _summary(result) -> RunSummary:
    summary = RunSummary(result.run_id, result.success)
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        summary.assets[materialization.asset_key.path[-1]] = _plain(materialization.metadata)  # deep/x: x
    for evaluation in result.get_asset_check_evaluations():
        into = summary.outcome if evaluation.check_name in OUTCOME_CHECK_NAMES else summary.checks
        into[evaluation.check_name] = {
            "passed": evaluation.passed,
            "severity": evaluation.severity.value,
            "metadata": _plain(evaluation.metadata),
        }
    return summary


def materialize_snapshots(config_path: str | None, *, tags: dict[str, str] | None = None) -> dict[str, dict]:
    """Every snapshot asset once; each asset's materialization metadata."""
    return materialize_in_process(config_path, SNAPSHOT_ASSETS, tags=tags).assets


def run_reconciliation(config_path: str | None, *, cadence: str, tags: dict[str, str] | None = None) -> RunSummary:
    """Snapshots, joined frames, expectation suites, every check, findings recorded (everything, deep reads)."""
    return materialize_in_process(
        config_path, [*ALL_ASSETS, *GX_CHECKS], tags={"reconcile/cadence": cadence, **(tags or {})}
    )


def run_scope(config_path: str | None, scope: Scope, *, alerts: bool = True) -> RunSummary:
    """One reconciliation over ``scope``, then (``alerts``) its alert evaluation."""
    started = time.monotonic()
    if scope.cadence == "deep":  # the deep scan's partitioned graph: one partition per shard
        graph, partition = [*DEEP_ASSETS, *DEEP_GX_CHECKS], partition_key(scope)
    else:
        graph, partition = [*ALL_ASSETS, *GX_CHECKS], None
    summary = materialize_in_process(config_path, graph, tags=scope.tags(), partition=partition)
    summary.scope = scope.summary()
    if alerts:
        summary.alerts = _evaluate_alerts(config_path, summary, scope, time.monotonic() - started)
    return summary


def _evaluate_alerts(config_path: str | None, summary: RunSummary, scope: Scope, took: float) -> dict:
    from .alerts import engine

    settings = load_settings(config_path)
    job = f"cli:{scope.cadence}" + (f":{scope.shard.key}" if scope.shard else "")  # a shard's failure: its own
    try:
        if summary.success:
            return engine.evaluate_run(settings, summary.run_id, scope.tags(), job_name=job, duration_s=took)
        return engine.run_failed(settings, job, summary.run_id, "the reconciliation run failed (see its steps)")
    except (LayerError, ValueError) as exc:
        log.warning("alerts not evaluated: %s", exc)
        return {"error": str(exc)[:500]}


def immediate_scope(config_path: str | None, now: datetime | None = None):
    """(scope or None when nothing happened, the cursor to save after a good run) for the CLI's immediate run."""
    from .alerts.store import AlertStore
    from .cadence_events import ImmediateCursor, combined_scope, find_events

    settings = load_settings(config_path)
    saved = AlertStore(settings).get_cursor(CLI_CURSOR)
    if saved is None:  # first time: every confirmed operation, and the head of the block chain
        scope = Scope("immediate", "regular", op_statuses=CONFIRMED_STATES, blocks="latest")
        _, cursor, _ = find_events(settings, ImmediateCursor(), now=now, max_events=UNCAPPED)
        cursor.op_at = cursor.op_at or (now or datetime.now(UTC)).isoformat()
        return scope, cursor
    events, cursor, problems = find_events(
        settings, ImmediateCursor.from_json(saved["cursor"]), now=now, max_events=UNCAPPED
    )
    if problems:
        raise ValueError("cannot look for new events: " + "; ".join(f"{k}: {v}" for k, v in problems.items()))
    return (combined_scope(events) if events else None), cursor


def run_cadence(config_path: str | None, cadence: str, *, now: datetime | None = None) -> RunSummary | None:
    """The CLI's `reconcile run --cadence`: the same scope as the schedule (or sensor) of ``cadence``.

    None for an immediate run with no new event since the last one."""
    now = now or datetime.now(UTC)
    if cadence == "deep":
        return deep_summary(run_deep(config_path))
    if cadence != "immediate":
        return run_scope(config_path, scope_for(cadence, load_settings(config_path), now))
    scope, cursor = immediate_scope(config_path, now)
    if scope is None:
        return None
    summary = run_scope(config_path, scope)
    if summary.success:
        from .alerts.store import AlertStore

        AlertStore(load_settings(config_path)).set_cursor(CLI_CURSOR, {"cursor": cursor.to_json()})
    return summary


def run_deep(config_path: str | None, shard: Shard | None = None, *, count: int | None = None) -> list[RunSummary]:
    """The deep scan in process: ``shard`` alone, else every shard of today's count (``count`` to force one)
    in sequence, each its own run (findings, audit, alerts), as the deep schedule's runs are."""
    if shard is not None:
        return [run_scope(config_path, deep_scope(shard))]
    scopes = deep_shard_scopes(load_settings(config_path), count)
    return [run_scope(config_path, scope) for scope in scopes]


def deep_summary(summaries: list[RunSummary]) -> RunSummary:
    """One summary for a deep scan: the run itself when unsharded, else the last shard's with every shard's."""
    if len(summaries) == 1:
        return summaries[0]
    last = summaries[-1]
    success = all(summary.success for summary in summaries)
    scope = f"deep scan in {len(summaries)} shards (the last: {last.scope})"
    return RunSummary(last.run_id, success, last.assets, last.checks, scope, last.alerts, summaries, last.outcome)
