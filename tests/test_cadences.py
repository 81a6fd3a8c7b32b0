"""The four cadences as Dagster definitions: cron strings, scopes in run tags, the in-scope filter (no world)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from dagster import build_schedule_context, instance_for_test

from reconcile_pipeline.cadences import (
    BLOCK_SCOPE_ATTR,
    Scope,
    block_event_scope,
    cadence_crons,
    in_scope,
    interval_cron,
    operation_event_scope,
    scope_for,
    scope_from_tags,
)
from reconcile_pipeline.defs import defs
from reconcile_pipeline.defs.resources import SettingsResource
from reconcile_pipeline.settings import load_settings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_definitions_have_the_sensor_the_schedules_and_a_job_per_cadence():
    crons = {schedule.name: schedule.cron_schedule for schedule in defs.schedules}
    assert crons == {
        "reconcile_frequent_schedule": "*/5 * * * *",
        "reconcile_regular_schedule": "0 * * * *",
        "reconcile_deep_schedule": "30 2 * * *",
        "prune_run_files_schedule": "30 3 * * *",
    }
    assert {schedule.execution_timezone for schedule in defs.schedules} == {"UTC"}
    sensors = {sensor.name: sensor for sensor in defs.sensors}
    assert set(sensors) == {"reconcile_immediate_sensor", "reconcile_alerts_on_success", "reconcile_alerts_on_failure"}
    assert sensors["reconcile_immediate_sensor"].minimum_interval_seconds == 30
    for cadence in ("immediate", "frequent", "regular", "deep"):
        job = defs.resolve_job_def(f"reconcile_{cadence}")
        assert job.tags["reconcile/cadence"] == cadence
        keys = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
        if cadence == "deep":  # the deep scan's own graph, partitioned by shard
            assert "deep/consistency_findings" in keys and not any("/" not in key for key in keys)
            assert job.partitions_def.name == "deep_shards"
        else:
            assert "consistency_findings" in keys and not any(key.startswith("deep/") for key in keys)
            assert job.partitions_def is None


def test_cron_strings_follow_the_settings():
    settings = load_settings(None, reconciliation={"frequent_interval_s": 600, "regular_interval_s": 7200,
                                                   "deep_interval_s": 86400, "deep_at_utc": "04:15"})  # fmt: skip
    assert cadence_crons(settings) == {"frequent": "*/10 * * * *", "regular": "0 */2 * * *", "deep": "15 4 * * *"}
    assert interval_cron(60) == "* * * * *" and interval_cron(172800, minute=5, hour=1) == "5 1 */2 * *"
    for bad in (90, 420, 25200):
        with pytest.raises(ValueError, match="interval"):
            interval_cron(bad)


def test_scopes_of_each_cadence():
    settings = load_settings(None, reconciliation={"frequent_window_s": 600})
    frequent = scope_for("frequent", settings, NOW)
    assert (frequent.ops, frequent.blocks, frequent.ipfs_mode) == ("since", "window", "regular")
    assert frequent.since == NOW - timedelta(seconds=600) and not frequent.complete
    regular, deep = scope_for("regular", settings, NOW), scope_for("deep", settings, NOW)
    assert regular.complete and regular.ipfs_mode == "regular"
    assert deep.complete and deep.ipfs_mode == "deep"
    op = operation_event_scope(["op-1"])
    assert (op.ops, op.op_ids, op.blocks, op.complete_nfts) == ("ids", ("op-1",), "none", False)
    block = block_event_scope([7, 5, 7])
    assert (block.ops, block.blocks, block.block_numbers) == ("none", "numbers", (5, 7))
    with pytest.raises(ValueError, match="events"):
        scope_for("immediate", settings, NOW)
    with pytest.raises(ValueError, match="bad scope"):
        Scope("frequent", ops="recent")


def test_scope_round_trips_through_run_tags():
    scope = scope_for("frequent", load_settings(), NOW)
    tags = scope.tags()
    assert tags["reconcile/cadence"] == "frequent" and tags["reconcile/ipfs_mode"] == "regular"
    assert tags["reconcile/scope_summary"].startswith("frequent: operations updated since 2026-03-01T11:45:00")
    assert scope_from_tags(tags) == scope
    manual = scope_from_tags({"reconcile/cadence": "regular"})  # the `reconcile` job, or run_reconciliation
    assert manual.complete and manual.ipfs_mode == "deep"


@pytest.mark.parametrize(("cadence", "complete"), [("frequent", False), ("regular", True), ("deep", True)])
def test_each_schedule_requests_a_run_with_its_scope(cadence, complete, tmp_path):
    schedule = next(s for s in defs.schedules if s.name == f"reconcile_{cadence}_schedule")
    with instance_for_test() as instance:  # the deep schedule registers its shard partitions
        with build_schedule_context(
            instance=instance,
            scheduled_execution_time=NOW,
            resources={"settings": SettingsResource(config_path=None)},
            repository_def=defs.get_repository_def(),
        ) as context:  # closing it leaves no instance behind as the current one
            (request,) = schedule.evaluate_tick(context).run_requests
    scope = Scope.from_json(request.tags["reconcile/scope"])
    assert scope.cadence == cadence and scope.complete is complete
    suffix = ":1-000" if cadence == "deep" else ""  # deep: one partition (shard) per run, one shard when small
    assert request.run_key == f"{cadence}:{NOW.isoformat()}{suffix}"
    assert request.partition_key == ("1-000" if cadence == "deep" else None)
    if cadence == "frequent":
        assert scope.since == NOW - timedelta(seconds=900)


def test_in_scope_drops_findings_on_context_blocks_only():
    kv = pd.DataFrame({"key": []})
    kv.attrs[BLOCK_SCOPE_ATTR] = {"judged": [5, 6], "context": [4, 7], "read": [4, 5, 6, 7]}
    findings = pd.DataFrame(
        {
            "check_id": ["BLOCK_CHAIN_BROKEN", "BLOCK_TIER_MISSING", "LATEST_POINTER_STALE", "CHAIN_URI_MISMATCH"],
            "entity_type": ["block", "block", "kv_key", "nft"],
            "entity_id": ["4", "6", "vdc:latest", "4"],
        }
    )
    kept = in_scope(findings, {"blockstore_kv": kv})
    assert list(kept["check_id"]) == ["BLOCK_TIER_MISSING", "LATEST_POINTER_STALE", "CHAIN_URI_MISMATCH"]
    assert in_scope(findings, {"blockstore_kv": pd.DataFrame({"key": []})}).equals(findings)  # a full read
