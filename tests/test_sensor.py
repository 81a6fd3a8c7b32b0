"""The immediate sensor against a world's database and KV: cursor across restarts (no miss, no duplicate), alerts."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from dagster import DagsterInstance, SensorResult, build_run_status_sensor_context, build_sensor_context

from reconcile_pipeline.alerts.store import AlertStore
from reconcile_pipeline.cadence_events import ImmediateCursor, find_events
from reconcile_pipeline.cadences import Scope, block_event_scope
from reconcile_pipeline.defs import automation, defs
from reconcile_pipeline.defs.resources import SettingsResource
from reconcile_pipeline.layers.blocks import LATEST_KEY
from reconcile_pipeline.layers.database import DatabaseClient
from tests.worldkit import running_world

SENSOR = automation.IMMEDIATE_SENSOR


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sensor")
    with running_world(folder, seed=11, nfts=6, blocks=4, faults="none") as (world, settings):
        yield world, settings, str(folder / "reconcile.toml")


def tick(config: str, cursor: str | None) -> SensorResult:
    """One evaluation as the daemon does it, from nothing but the saved cursor (a restart between ticks)."""
    resources = {"settings": SettingsResource(config_path=config)}
    context = build_sensor_context(instance=DagsterInstance.ephemeral(), cursor=cursor, resources=resources)
    return automation.immediate_sensor(context)


def run_keys(result: SensorResult) -> list[str]:
    return [request.run_key for request in result.run_requests or []]


def operation(n: int, status: str, updated_at: datetime) -> dict:
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "user_wallet_address": f"wallet{n}",
        "level": "Gold",
        "source_image_path": "assets/images/Gold.png",
        "status": status,
        "created_at": updated_at - timedelta(minutes=1),
        "updated_at": updated_at,
    }


def insert(settings, *rows: dict) -> None:
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        db.insert_minting_operations(list(rows))


@contextlib.contextmanager
def latest_moved_to(world, number: int):
    """vdc:latest names ``number`` (as if blocks were mined) until the block ends."""
    world.servers.kv.set(LATEST_KEY, json.dumps({"blockNumber": number, "hash": "0" * 64}).encode())
    try:
        yield
    finally:
        world.servers.kv.set(LATEST_KEY, world.data.kv[LATEST_KEY])


def test_cursor_across_restarts_misses_nothing_and_repeats_nothing(world):
    world, settings, config = world
    first = tick(config, None)  # the world's operations are over an hour old: only the chain head
    assert run_keys(first) == ["block:3"]
    now = datetime.now(UTC)
    insert(settings, operation(1, "COMPLETED", now - timedelta(seconds=20)), operation(2, "PENDING", now))
    insert(settings, operation(3, "BLOCKCHAIN_CONFIRMED", now - timedelta(seconds=10)))
    with latest_moved_to(world, 5):
        second = tick(config, first.cursor)
        assert run_keys(second) == [
            f"op:{operation(1, '', now)['id']}:COMPLETED",
            f"op:{operation(3, '', now)['id']}:BLOCKCHAIN_CONFIRMED",
            "block:4",
            "block:5",
        ]
        request = second.run_requests[0]
        scope = Scope.from_json(request.tags["reconcile/scope"])
        assert (
            scope.cadence == "immediate" and scope.op_ids == (operation(1, "", now)["id"],) and scope.blocks == "none"
        )
        assert request.tags["reconcile/cadence"] == "immediate"
        assert Scope.from_json(second.run_requests[-1].tags["reconcile/scope"]).block_numbers == (5,)
        third = tick(config, second.cursor)  # nothing happened: nothing to run, same cursor meaning
        assert run_keys(third) == [] and third.skip_reason is not None
        high_water = datetime.fromisoformat(ImmediateCursor.from_json(third.cursor).op_at)
        late = operation(4, "COMPLETED", high_water - timedelta(seconds=60))  # committed late, stamped earlier
        with DatabaseClient(settings.database.url.get_secret_value()) as db:  # a late commit, a new confirmation
            db.insert_minting_operations([late])
            db.insert_minting_operations([operation(5, "COMPLETED", datetime.now(UTC))])
        fourth = tick(config, third.cursor)
        assert run_keys(fourth) == [f"op:{late['id']}:COMPLETED", f"op:{operation(5, '', now)['id']}:COMPLETED"]
        assert run_keys(tick(config, fourth.cursor)) == []


def test_a_capped_tick_leaves_the_rest_for_the_next(world):
    world, settings, config = world
    cursor = ImmediateCursor.from_json(tick(config, None).cursor)
    now = datetime.now(UTC)
    insert(settings, *(operation(10 + i, "VERIFIED", now + timedelta(seconds=i)) for i in range(5)))
    seen: list[str] = []
    for _ in range(4):
        events, cursor, problems = find_events(settings, cursor, max_events=2)
        assert problems == {}
        seen += [event.key for event in events]
    assert seen == [f"op:{operation(10 + i, '', now)['id']}:VERIFIED" for i in range(5)]


def test_an_unreadable_kv_alerts_and_operations_still_run(world):
    world, settings, config = world
    cursor = tick(config, None).cursor
    insert(settings, operation(30, "COMPLETED", datetime.now(UTC)))
    world.servers.kv.faults.mode = "down"
    try:
        result = tick(config, cursor)
    finally:
        world.servers.kv.faults.reset()
    assert run_keys(result) == [f"op:{operation(30, '', datetime.now(UTC))['id']}:COMPLETED"]
    live = AlertStore(settings).live()
    assert live[f"sensor:{SENSOR}:kv"].status == "open" and live[f"sensor:{SENSOR}:kv"].severity == "critical"
    tick(config, result.cursor)  # KV back: the alert resolves
    assert f"sensor:{SENSOR}:kv" not in AlertStore(settings).live()


def test_a_failing_tick_alerts_and_the_next_good_tick_resolves(world, monkeypatch):
    world, settings, config = world
    cursor = tick(config, None).cursor

    def broken(*args, **kwargs):
        raise RuntimeError("event query exploded")

    monkeypatch.setattr(automation, "find_events", broken)
    with pytest.raises(Exception, match="exploded"):
        tick(config, cursor)
    frame = AlertStore(settings).frame(("open",))
    row = frame[frame["fingerprint"] == f"sensor:{SENSOR}"].iloc[0]
    assert row["severity"] == "critical" and "exploded" in row["message"]
    assert row["deliveries"]["opened"]["log"] == "delivered"
    monkeypatch.undo()
    tick(config, cursor)
    resolved = AlertStore(settings).frame(("resolved",))
    assert f"sensor:{SENSOR}" in set(resolved["fingerprint"])


def test_run_status_sensors_evaluate_finished_runs_and_alert_on_failed_ones(world, monkeypatch):
    world, settings, config = world
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def("reconcile_immediate")
    monkeypatch.setenv("RECONCILE_CONFIG", config)
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    good = job.execute_in_process(instance=instance, tags=block_event_scope([3]).tags(), run_config=quiet)
    resources = {"settings": SettingsResource(config_path=config)}
    automation.alerts_on_success(
        build_run_status_sensor_context(
            "reconcile_alerts_on_success", good.get_run_success_event(), instance, good.dagster_run, resources=resources
        )
    )
    notices = AlertStore(settings).frame(("notice",))
    (message,) = notices.loc[notices["fingerprint"] == f"notice:run:{good.run_id}", "message"]
    assert message.startswith(f"immediate run {good.run_id}: 0 failing and 0 unknown findings")
    broken = world.directory / "broken.toml"
    broken.write_text("data_dir = [unclosed\n")  # settings that do not parse: every step fails at once
    monkeypatch.setenv("RECONCILE_CONFIG", str(broken))
    bad = job.execute_in_process(instance=instance, run_config=quiet, raise_on_error=False)
    assert not bad.success
    failure = build_run_status_sensor_context(
        "reconcile_alerts_on_failure", bad.get_run_failure_event(), instance, bad.dagster_run, resources=resources
    ).for_run_failure()
    automation.alerts_on_failure(failure)
    live = AlertStore(settings).live()
    assert live["run:reconcile_immediate"].status == "open" and live["run:reconcile_immediate"].severity == "critical"
