"""The sharded deep scan: the shard function, shard scopes, the schedule's fan-out, and on a faulty world
the union of the shards' findings is exactly the unsharded deep run's (the manifest), no shard reporting a
row outside itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from solders.pubkey import Pubkey

from reconcile_pipeline.alerts.coverage import WHOLE_POPULATION, run_coverage
from reconcile_pipeline.cadences import BLOCK_SCOPE_ATTR, TAG_SHARD, Scope, deep_scope, scope_from_tags
from reconcile_pipeline.clients import database_client
from reconcile_pipeline.defs.deep import shard_run_requests
from reconcile_pipeline.runner import deep_summary, run_deep
from reconcile_pipeline.sandbox.solana_wire import decode_base58btc
from reconcile_pipeline.shard_plan import deep_shard_scopes
from reconcile_pipeline.shards import (
    Shard,
    all_shards,
    base58_byte,
    id_first_byte,
    mint_first_byte,
    operation_byte,
    shard_count,
)
from tests.worldkit import expected_findings, finding_keys, running_world

KEY = Pubkey(bytes([200]) + bytes(range(31)))


# -- the shard function (pure) ---------------------------------------------------------------------
def test_shard_keys_parse_and_validate():
    assert Shard(7, 64).key == "64-007" and Shard.parse("64-007") == Shard.parse("7/64") == Shard(7, 64)
    for bad in ("7/63", "64/64", "-1/4", "x", "1/512"):
        with pytest.raises(ValueError):
            Shard.parse(bad)


@pytest.mark.parametrize(
    ("population", "size", "count"),
    [(0, 50_000, 1), (50_000, 50_000, 1), (50_001, 50_000, 2), (100_000, 50_000, 2), (1_000_000, 50_000, 32)],
)
def test_shard_count_is_the_next_power_of_two(population, size, count):
    assert shard_count(population, size) == count
    assert shard_count(10**9, 1) == 256  # one byte decides: never more than 256


def test_first_bytes_and_block_ranges_partition_everything():
    for count in (1, 2, 8, 256):
        shards = all_shards(count)
        assert sorted(b for s in shards for b in s.first_bytes()) == list(range(256))
        for latest in (0, 5, 99, 1000):
            numbers = [n for s in shards for n in range(*s.block_range(latest))]
            assert numbers == list(range(latest + 1))


def test_operations_are_placed_by_mint_byte_else_by_id():
    assert mint_first_byte(str(KEY)) == 200
    assert operation_byte(str(KEY), "op-1") == 200
    for bad in (None, "", "not-a-key", 42):
        assert mint_first_byte(bad) is None
        assert operation_byte(bad, "op-1") == id_first_byte("op-1")
    assert all(decode_base58btc(base58_byte(b)) == bytes([b]) for b in range(256))


# -- shard scopes -----------------------------------------------------------------------------------
def test_a_shard_scope_round_trips_and_is_never_complete():
    scope = deep_scope(Shard(3, 8))
    assert (scope.blocks, scope.shard, scope.complete_nfts, scope.complete) == ("shard", Shard(3, 8), True, False)
    tags = scope.tags()
    assert tags[TAG_SHARD] == "8-003" and scope_from_tags(tags) == scope
    assert scope.summary().startswith("deep: shard 3 of 8: all operations; the shard's blocks")
    assert deep_scope(Shard(0, 1)) == deep_scope() and deep_scope().complete
    with pytest.raises(ValueError):
        Scope("deep", blocks="shard")
    with pytest.raises(ValueError):
        Scope("deep", shard_index=1, shard_count=2)  # a shard takes the shard's blocks
    coverage = run_coverage(scope, None, None, set(), ["Gold"])
    assert not coverage.complete and WHOLE_POPULATION <= coverage.unjudged_checks


def test_the_schedule_requests_one_run_per_shard():
    when = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)
    requests = shard_run_requests([deep_scope(s) for s in all_shards(4)], when)
    assert [r.run_key for r in requests] == [f"deep:2026-11-22T02:30:00+00:00:4-00{i}" for i in range(4)]
    assert [scope_from_tags(r.tags).shard for r in requests] == all_shards(4)
    assert [r.partition_key for r in requests] == [f"4-00{i}" for i in range(4)]  # Dagster partitions
    (single,) = shard_run_requests([deep_scope()], when)
    assert single.run_key == "deep:2026-11-22T02:30:00+00:00:1-000" and TAG_SHARD not in single.tags
    assert single.partition_key == "1-000" and scope_from_tags(single.tags) == deep_scope()


def test_a_partition_run_without_scope_tags_is_its_shard():
    """A backfill or re-run launched from the UI carries only Dagster's partition tag."""
    assert scope_from_tags({"dagster/partition": "4-002"}) == deep_scope(Shard(2, 4))
    assert scope_from_tags({"dagster/partition": "1-000"}) == deep_scope()
    assert scope_from_tags({"dagster/partition": "nonsense"}).complete  # not a shard key: manual, everything


# -- a faulty world, shard by shard ------------------------------------------------------------------
@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deep-shards")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECONCILE_SOLANA__REQUESTS_PER_WINDOW", "100000")  # 128 listing calls per shard of 2
        patch.setenv("RECONCILE_RECONCILIATION__DEEP_SHARD_SIZE", "13")  # 24 NFTs + a twin -> 2 shards
        with running_world(folder, seed=14, nfts=24, blocks=16) as (world, settings):  # every block fault
            config = str(folder / "reconcile.toml")
            scopes = deep_shard_scopes(settings)
            runs = run_deep(config)  # every shard in sequence, each with its alerts, as `reconcile run` does
            yield world, settings, scopes, runs, config


def _frame(run, asset: str) -> pd.DataFrame:
    return pd.read_parquet(run.assets[asset]["path"])


def test_the_union_of_the_shards_is_the_whole_deep_scan(sharded):
    world, settings, scopes, runs, _ = sharded
    assert [scope.shard for scope in scopes] == all_shards(2)
    assert all(run.success for run in runs)
    with database_client(settings) as db:
        ops = db.read_minting_operations()
    twins = ops[ops["user_wallet_address"].duplicated(keep=False) & ops["status"].eq("COMPLETED")]
    assert {operation_byte(m, i) // 128 for m, i in zip(twins["mint_address"], twins["id"], strict=True)} == {0, 1}
    # ^ the duplicate-mint twins' own mints fall in different shards: only their group's anchor joins them
    findings = [_frame(run, "consistency_findings") for run in runs]
    assert set().union(*map(finding_keys, findings)) == expected_findings(world.manifest())
    assert set().union(*(finding_keys(f, "unknown") for f in findings)) == set()
    ids = [i for run in runs for i in _frame(run, "db_minting_operations")["id"]]
    assert sorted(ids) == sorted(ops["id"])  # every operation in exactly one shard


def test_each_shard_keeps_only_the_pins_its_rows_name(sharded):
    world, _, _, runs, _ = sharded
    everything = {str(record.cid) for record in world.servers.store.pins()}
    kept = [set(_frame(run, "pinata_pins")["cid"]) for run in runs]
    assert all(pins < everything for pins in kept) and set().union(*kept) <= everything
    assert sum(run.assets["pinata_pins"]["dagster/row_count"] for run in runs) < 2 * len(everything)
    assert "kept" in runs[0].assets["pinata_pins"]["message"]  # "kept N of M pins ..."


def test_no_shard_reports_a_row_outside_itself(sharded):
    _, _, scopes, runs, _ = sharded
    for scope, run in zip(scopes, runs, strict=True):
        ops = _frame(run, "db_minting_operations")
        judged = set(_frame(run, "blockstore_kv").attrs[BLOCK_SCOPE_ATTR]["judged"])
        findings = _frame(run, "consistency_findings")
        for row in findings.itertuples():
            if row.entity_type == "operation":
                assert row.entity_id in set(ops["id"]), (scope.shard, row.check_id)
            elif row.entity_type == "mint":
                mint = row.entity_id
                assert mint in set(ops["mint_address"]) or scope.shard.holds(mint_first_byte(mint)), row.check_id
            elif row.entity_type == "block":
                assert int(row.entity_id) in judged, (scope.shard, row.check_id)


def test_shard_runs_alert_without_resolving_each_other(sharded):
    _, _, _, runs, _ = sharded
    assert all("error" not in run.alerts for run in runs)
    assert runs[1].alerts["decisions"].get("resolve", 0) == 0  # shard 1 resolves nothing shard 0 saw failing
    combined = deep_summary(runs)
    assert combined.shards == runs and combined.success and combined.scope.startswith("deep scan in 2 shards")


def test_the_deep_schedule_fans_out_on_the_world(sharded):
    from dagster import build_schedule_context, instance_for_test

    from reconcile_pipeline.defs import defs
    from reconcile_pipeline.defs.resources import SettingsResource

    _, _, _, _, config = sharded
    schedule = next(s for s in defs.schedules if s.name == "reconcile_deep_schedule")
    when = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)

    def tick():
        resources = {"settings": SettingsResource(config_path=config)}
        with build_schedule_context(
            instance=instance,
            scheduled_execution_time=when,
            resources=resources,
            repository_def=defs.get_repository_def(),  # resolves the partitions
        ) as context:  # closing it leaves no instance behind as the current one
            return schedule.evaluate_tick(context).run_requests

    with pytest.MonkeyPatch.context() as patch, instance_for_test() as instance:  # a schedule needs a persistent one
        patch.setenv("RECONCILE_RECONCILIATION__DEEP_SHARD_SIZE", "13")
        requests, again = tick(), tick()  # the second tick finds its keys registered
        registered = instance.get_dynamic_partitions("deep_shards")
    assert [r.tags[TAG_SHARD] for r in requests] == ["2-000", "2-001"] == [r.partition_key for r in requests]
    assert registered == ["2-000", "2-001"] and len(again) == 2


def test_the_cli_refuses_a_bad_shard(capsys):
    from reconcile_pipeline.cli import main

    assert main(["run", "--cadence", "regular", "--shard", "0/2"]) == 2
    assert main(["run", "--cadence", "deep", "--shard", "3/2"]) == 2
    assert "shard index 3 is outside 0..1" in capsys.readouterr().err


def test_a_shard_failure_alert_is_keyed_by_its_shard():
    from reconcile_pipeline.defs.automation import alert_job_name

    assert alert_job_name("reconcile_deep", deep_scope(Shard(3, 8)).tags()) == "reconcile_deep:8-003"
    assert alert_job_name("reconcile_deep", deep_scope().tags()) == "reconcile_deep"
