"""The whole reconciliation through Dagster: findings, asset checks, audit rows, the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from reconcile_pipeline.cli import main
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.runner import run_reconciliation
from tests.worldkit import expected_findings, finding_keys, running_world


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    with running_world(folder, seed=13, nfts=24, blocks=12) as (world, settings):
        summary = run_reconciliation(str(folder / "reconcile.toml"), cadence="regular")
        yield world, settings, world.manifest(), summary


def test_findings_are_exactly_the_manifest(faulty_run):
    _, _, manifest, summary = faulty_run
    assert summary.success
    findings = pd.read_parquet(summary.assets["consistency_findings"]["path"])
    assert finding_keys(findings) == expected_findings(manifest)
    assert finding_keys(findings, "unknown") == set()


def test_structural_expectations_pass_and_data_expectations_see_the_faults(faulty_run):
    _, _, _, summary = faulty_run
    checks = summary.checks
    assert len(checks) == 24
    assert all(c["passed"] for c in checks.values() if c["severity"] == "ERROR")
    assert not checks["nft_immutable"]["passed"] and checks["nft_immutable"]["metadata"]["unexpected_count"] == 1
    assert not checks["block_kv_r2_agree"]["passed"]


def test_audit_rows_and_run_history_are_written(faulty_run):
    world, settings, manifest, summary = faulty_run
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        audit = db.read_consistency_checks(run_id=summary.run_id)
        stored = db.read_findings(run_id=summary.run_id)
        history = db.read_run_history()
    assert set(audit["status"]) == {"PASSED", "FAILED"}
    failed = audit[audit["status"] == "FAILED"]
    assert set(zip(failed["check_id"], failed["entity_type"], failed["entity_id"], strict=True)) == expected_findings(
        manifest
    )
    assert set(audit["check_type"]) == {"SOURCE_IMAGE", "BLOCKCHAIN", "IPFS", "PARTNER_VERIFICATION", "BLOCK_STORE"}
    assert len(stored) == len(manifest["expected_findings"])
    assert summary.run_id in set(history["run_id"])


def test_audit_written_on_each_backend(tmp_path, db_url):
    with running_world(tmp_path, seed=2, nfts=8, blocks=4, faults="CHAIN_METADATA_MUTABLE", db_url=db_url) as (w, s):
        summary = run_reconciliation(str(tmp_path / "reconcile.toml"), cadence="regular")
    with DatabaseClient(db_url) as db:
        audit = db.read_consistency_checks(run_id=summary.run_id)
    failed = audit[audit["status"] == "FAILED"]
    assert list(failed["check_id"]) == ["CHAIN_METADATA_MUTABLE"]
    assert failed["operation_id"].notna().all()


def test_a_layer_down_gives_unknowns_not_failures(tmp_path):
    with running_world(tmp_path, seed=4, nfts=10, blocks=6, faults="none") as (world, settings):
        world.servers.solana.faults.mode = "down"
        summary = run_reconciliation(str(tmp_path / "reconcile.toml"), cadence="regular")
    findings = pd.read_parquet(summary.assets["consistency_findings"]["path"])
    assert (findings["status"] == "fail").sum() == 0
    unknown = findings[findings["status"] == "unknown"]
    assert {"CHAIN_METADATA_MUTABLE", "CHAIN_URI_MISMATCH", "TX_FAILED_DB_CONFIRMED"} <= set(unknown["check_id"])
    assert set(unknown["repair"]) == {"NONE"}


def test_run_json_prints_the_findings_array(tmp_path, capsys):
    with running_world(tmp_path, seed=5, nfts=8, blocks=6, faults="IPFS_NOT_PINNED,PENDING_COUNT_DRIFT") as (w, s):
        assert main(["run", "--cadence", "regular", "--config", str(tmp_path / "reconcile.toml"), "--json"]) == 1
        truth = expected_findings(w.manifest())
    printed = json.loads(capsys.readouterr().out)
    assert {(f["check_id"], f["entity_type"], f["entity_id"]) for f in printed} == truth
    for finding in printed:
        assert set(finding) == {"check_id", "entity_type", "entity_id", "layers", "status", "severity", "truth",
                                "repair", "details"}
        assert isinstance(finding["layers"], list) and isinstance(finding["details"], dict)


def test_blocks_status_matches_seed_004_shape(tmp_path, capsys):
    faults = "BLOCK_TIER_MISSING,BLOCK_IPFS_HASH_INVALID"
    with running_world(tmp_path, seed=6, nfts=2, blocks=10, faults=faults) as (world, _):
        assert main(["blocks", "status", "--config", str(tmp_path / "reconcile.toml"), "--json"]) == 1  # incomplete
        manifest = world.manifest()
    report = json.loads(capsys.readouterr().out)
    assert report["totalBlocks"] == 10 and len(report["blocks"]) == 10
    missing_r2 = next(int(f["entity_id"]) for f in manifest["faults"] if f["fault"] == "BLOCK_TIER_MISSING")
    row = next(b for b in report["blocks"] if b["blockNumber"] == missing_r2)
    assert row["kv"] is True and row["r2"] is False and row["complete"] is False and row["status"] == "partial"
    assert report["summary"]["complete"] + report["summary"]["incomplete"] == 10
    assert report["summary"]["incomplete"] == 2
