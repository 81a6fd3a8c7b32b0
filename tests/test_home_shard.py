"""The home shard: of a sharded deep scan, only the last shard reports the whole population's entities (the levels'
source images, ``vdc:latest``, ``vdc:pending:count``, the pending queue): findings, audit rows, verification
state and alert coverage; the other shards neither fail, nor mark unknown, nor resolve them. Unsharded runs
judge them as before."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from reconcile_pipeline.alerts.coverage import BLOCK_STORE_KEYS, layers_read, run_coverage
from reconcile_pipeline.alerts.inputs import load_run_outputs
from reconcile_pipeline.alerts.rules import Evaluation, Known, decide
from reconcile_pipeline.alerts.store import AlertStore
from reconcile_pipeline.cadences import (
    POPULATION_CHECKS,
    POPULATION_ENTITY_TYPES,
    Scope,
    deep_scope,
    frequent_scope,
    home_entities_only,
    manual_scope,
    operation_event_scope,
    regular_scope,
)
from reconcile_pipeline.checks.catalogue import CATALOGUE
from reconcile_pipeline.checks.findings import FINDING_COLUMNS
from reconcile_pipeline.commands import judged_findings
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.runner import run_scope
from reconcile_pipeline.shards import Shard
from tests.worldkit import expected_findings, finding_keys, running_world

LEVELS = ["Bronze", "Silver", "Gold", "Diamond"]
POPULATION = {
    "SOURCE_MISSING",
    "SOURCE_INVALID",
    "SOURCE_REGISTRY_DRIFT",
    "LATEST_POINTER_STALE",
    "PENDING_COUNT_DRIFT",
    "PENDING_BACKLOG",
}


def _findings(status: str = "fail") -> pd.DataFrame:
    """One finding per check of the catalogue, on an entity of the check's type."""
    rows = [
        {"check_id": check, "entity_type": spec.entity_type, "entity_id": f"{spec.entity_type}-1",
         "layers": list(spec.layers), "status": status, "severity": spec.severity, "truth": spec.truth,
         "repair": spec.repair if status == "fail" else "NONE", "details": "{}"}
        for check, spec in CATALOGUE.items()
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


# -- the rule (pure) -------------------------------------------------------------------------------
def test_the_population_checks_are_those_of_levels_pointers_and_the_queue():
    assert POPULATION_CHECKS == POPULATION
    assert POPULATION_ENTITY_TYPES == {"level", "kv_key", "queue"}
    assert {CATALOGUE[check].entity_type for check in POPULATION_CHECKS} == {"level", "kv_key", "queue"}
    # an active NFT's level is judged against the shard's own NFTs: the shard holding the NFT reports it
    assert "SOURCE_MISSING_ACTIVE_NFT" not in POPULATION_CHECKS


@pytest.mark.parametrize("status", ["fail", "unknown"])
def test_only_the_home_shard_keeps_findings_on_the_whole_population(status):
    findings = _findings(status)
    for scope in (manual_scope(), regular_scope(), deep_scope(), deep_scope(Shard(3, 4)), deep_scope(Shard(1, 2))):
        kept = home_entities_only(findings, scope)
        assert kept.equals(findings), scope.summary()
    for index in (0, 1, 2):
        kept = home_entities_only(findings, deep_scope(Shard(index, 4)))
        assert set(kept["check_id"]) == set(CATALOGUE) - POPULATION
        assert set(kept["entity_type"]) == {"nft", "operation", "wallet_level", "cid", "block", "tx", "level"}
        assert set(kept.loc[kept["entity_type"] == "level", "check_id"]) == {"SOURCE_MISSING_ACTIVE_NFT"}
        assert list(kept.index) == list(range(len(kept)))
    empty = findings.iloc[0:0]
    assert home_entities_only(empty, deep_scope(Shard(0, 2))).empty


def test_whole_layer_unknowns_and_shard_rows_stay_in_every_shard():
    rows = _findings("unknown").assign(entity_id="*")
    kept = home_entities_only(rows, deep_scope(Shard(1, 4)))
    assert set(kept["check_id"]) == set(CATALOGUE) - POPULATION and (kept["entity_id"] == "*").all()


def test_which_scopes_judge_the_population_and_what_the_summary_says():
    now = pd.Timestamp("2026-03-01T12:00:00Z").to_pydatetime()
    for scope in (manual_scope(), regular_scope(), deep_scope(), frequent_scope(900, now), deep_scope(Shard(7, 8))):
        assert scope.judges_population
    assert operation_event_scope(["op-1"]).judges_population  # not a shard: unchanged
    assert not any(deep_scope(Shard(i, 8)).judges_population for i in range(7))
    home, other = deep_scope(Shard(7, 8)).summary(), deep_scope(Shard(5, 8)).summary()
    assert home.endswith("; source images, vdc:latest and the pending queue judged here; "
                         "dangling vdc:tx index entries judged here")  # fmt: skip
    assert "judged by shard 7; dangling vdc:tx index entries judged by shard 7" in other
    assert "dangling" not in deep_scope().summary() and "judged" not in regular_scope().summary()
    assert Scope.from_json(deep_scope(Shard(5, 8)).to_json()).judges_population is False


def test_a_non_home_shard_covers_no_level_pointer_or_queue_alert():
    home = run_coverage(deep_scope(Shard(3, 4)), None, None, set(), LEVELS)
    other = run_coverage(deep_scope(Shard(2, 4)), None, None, set(), LEVELS)
    population = {("level", level) for level in LEVELS} | set(BLOCK_STORE_KEYS)
    assert population <= home.entities and not population & other.entities
    assert "source_images" in home.layers_read and "source_images" not in other.layers_read
    assert layers_read(deep_scope()) == layers_read(deep_scope(Shard(3, 4)))
    assert {"database", "kv", "r2", "ipfs", "solana", "pinata"} <= other.layers_read
    live = {
        fingerprint: Known(fingerprint, kind, "open", "warning", 3, check_id=check, entity_type=etype, entity_id=eid)
        for fingerprint, kind, check, etype, eid in [
            ("finding:SOURCE_MISSING:level:Diamond", "finding", "SOURCE_MISSING", "level", "Diamond"),
            ("finding:LATEST_POINTER_STALE:kv_key:vdc:latest", "finding", "LATEST_POINTER_STALE", "kv_key",
             "vdc:latest"),
            ("finding:PENDING_BACKLOG:queue:pending", "finding", "PENDING_BACKLOG", "queue", "pending"),
            ("unknown:source_images", "unknown", None, None, None),
        ]
    }  # fmt: skip
    assert decide(Evaluation("run-shard-2", [], other), live) == []  # its silence resolves none of them
    resolved = decide(Evaluation("run-shard-3", [], home), live)
    assert sorted(d.fingerprint for d in resolved if d.action == "resolve") == sorted(live)


def test_alert_inputs_and_the_cli_drop_population_findings_of_other_shards(tmp_path):
    findings = _findings("fail")
    folder = tmp_path / "snapshots" / "consistency_findings"
    folder.mkdir(parents=True)
    findings.to_parquet(folder / "run-1.parquet")
    settings = SimpleNamespace(data_dir=str(tmp_path))
    assert len(load_run_outputs(settings, "run-1").findings) == len(findings)  # no scope: as stored
    assert len(load_run_outputs(settings, "run-1", deep_scope(Shard(1, 2))).findings) == len(findings)
    other = load_run_outputs(settings, "run-1", deep_scope(Shard(0, 2))).findings
    assert set(other["check_id"]) == set(CATALOGUE) - POPULATION
    path = str(folder / "run-1.parquet")
    assert len(judged_findings({}, path)) == len(findings)  # an unsharded run's metadata names no shard
    assert len(judged_findings({"consistency_findings": {"shard": "2-001"}}, path)) == len(findings)
    cli = judged_findings({"consistency_findings": {"shard": "2-000"}}, path)
    assert set(cli["check_id"]) == set(CATALOGUE) - POPULATION


# -- a faulty world: the unsharded deep run against its two shards ------------------------------------
@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("home-shard")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECONCILE_SOLANA__REQUESTS_PER_WINDOW", "100000")  # 128 listing calls per shard of 2
        with running_world(folder, seed=13, nfts=24, blocks=12) as (world, settings):
            config = str(folder / "reconcile.toml")
            whole = run_scope(config, deep_scope())
            shards, states = [], []
            for index in (1, 0):  # the home shard (the last) first: shards[0] is home, shards[1] another
                shards.append(run_scope(config, deep_scope(Shard(index, 2))))
                states.append({fingerprint: known.streak for fingerprint, known in AlertStore(settings).live().items()})
            yield world, settings, whole, shards, states


def _frame(run) -> pd.DataFrame:
    return pd.read_parquet(run.assets["consistency_findings"]["path"])


def _population(findings: pd.DataFrame) -> set[tuple[str, str, str]]:
    return {key for key in finding_keys(findings) if key[0] in POPULATION_CHECKS}


def test_population_findings_come_from_the_home_shard_once(scan):
    world, _, whole, shards, _ = scan
    assert whole.success and all(run.success for run in shards)
    expected = expected_findings(world.manifest())
    population = {key for key in expected if key[0] in POPULATION_CHECKS}
    assert {key[1] for key in population} == {"level", "kv_key", "queue"}  # the world holds each kind
    home, other = _frame(shards[0]), _frame(shards[1])
    assert _population(home) == population == _population(_frame(whole))
    assert not other["check_id"].isin(POPULATION_CHECKS).any()
    rows = pd.concat([home, other])
    assert (rows["check_id"].isin(POPULATION_CHECKS)).sum() == len(population)  # exactly once in the union
    assert set().union(finding_keys(home), finding_keys(other)) == finding_keys(_frame(whole)) == expected
    assert set().union(finding_keys(home, "unknown"), finding_keys(other, "unknown")) == set()
    assert shards[0].assets["consistency_findings"]["judges_population"] is True
    assert shards[1].assets["consistency_findings"]["judges_population"] is False
    assert "judged by shard 1; dangling vdc:tx index entries judged by shard 1" in shards[1].scope


def test_audit_rows_on_population_entities_only_in_the_home_shard(scan):
    world, settings, whole, shards, _ = scan
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        audit = {run.run_id: db.read_consistency_checks(run_id=run.run_id) for run in (whole, *shards)}
        stored = {run.run_id: db.read_findings(run_id=run.run_id) for run in (whole, *shards)}

    def population_rows(frame: pd.DataFrame) -> set[tuple[str, str, str, str]]:
        rows = frame[frame["check_id"].isin(POPULATION_CHECKS)]
        return set(zip(rows["check_id"], rows["entity_type"], rows["entity_id"], rows["status"], strict=True))

    home, other = audit[shards[0].run_id], audit[shards[1].run_id]
    assert population_rows(home) == population_rows(audit[whole.run_id]) != set()
    assert population_rows(other) == set()
    assert not other["entity_type"].isin(["kv_key", "queue"]).any()
    level_checks = set(other.loc[other["entity_type"] == "level", "check_id"])
    assert level_checks <= {"SOURCE_MISSING_ACTIVE_NFT"}  # the level of an active NFT of this shard
    passed = {run_id: frame[frame["status"] == "PASSED"] for run_id, frame in audit.items()}
    assert all(set(rows["entity_type"]) <= {"nft", "operation", "block"} for rows in passed.values())
    assert not stored[shards[1].run_id]["check_id"].isin(POPULATION_CHECKS).any()
    assert set(stored[shards[0].run_id]["check_id"]) & POPULATION_CHECKS == POPULATION_CHECKS & {
        f["check_id"] for f in world.manifest()["expected_findings"]
    }


def test_a_non_home_shard_neither_counts_nor_resolves_population_alerts(scan):
    _, settings, _, shards, states = scan
    after_home, after_other = states
    pointer = "finding:LATEST_POINTER_STALE:kv_key:vdc:latest"
    queue = ["finding:PENDING_COUNT_DRIFT:kv_key:vdc:pending:count", "finding:PENDING_BACKLOG:queue:pending"]
    for fingerprint in (pointer, *queue):
        assert after_home[fingerprint] == 2  # the unsharded run, then the home shard
        assert after_other[fingerprint] == 2  # shard 1: not counted again, not cleared
    population = [fp for fp in after_home if fp.split(":")[1] in POPULATION_CHECKS or fp == "group:SOURCE_IMAGES"]
    assert population and all(fp in after_other for fp in population)
    assert shards[1].alerts["decisions"].get("resolve", 0) == shards[1].alerts["decisions"].get("clear", 0) == 0


def test_a_non_home_shard_records_no_level_as_verified(scan):
    world, settings, _, shards, _ = scan
    from reconcile_pipeline.verification import read_states

    levels = read_states(settings, "level")
    failing = {key[2] for key in expected_findings(world.manifest()) if key[1] == "level"}
    assert failing and set(levels.loc[levels["result"] == "fail", "key"]) >= failing
    assert shards[1].alerts["source_levels_ok"] == "0 of 0"  # judged none
    rows = levels.set_index("key")
    assert all(rows.loc[level, "run_id"] != shards[1].run_id for level in failing - {"Gold"}), rows["run_id"]
    levels_ok = shards[0].alerts["source_levels_ok"]
    assert levels_ok.endswith(f"of {len(settings.source_images.supported_levels)}")
