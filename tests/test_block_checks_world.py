"""The block checks against the local world: every block fault of the manifest is found exactly, a clean
world is clean, and each tier down in turn gives unknown, never fail.

One world per seed (nfts=4, blocks=20 to stay fast); the first seed's world is shared by the
tier-down tests, which switch a server off and back on.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import boto3
import httpx
import pandas as pd
import pytest

from reconcile_pipeline.alerts.signals import RuleConfig, failure_signals
from reconcile_pipeline.checks.block_checks import run_block_checks
from reconcile_pipeline.checks.block_join import build_block_consistency
from reconcile_pipeline.checks.block_status import block_statuses, status_report
from reconcile_pipeline.checks.catalogue import BLOCK_CHECKS
from reconcile_pipeline.checks.findings import findings_records
from reconcile_pipeline.layers import blocks as fmt
from reconcile_pipeline.repairs.current import plan_now
from reconcile_pipeline.reports.repairs import planned_repairs
from reconcile_pipeline.settings import Settings
from reconcile_pipeline.snapshots import blockstore
from tests.worldkit import expected_findings, finding_keys, running_world, snapshot_frames

SEEDS = (3, 11, 29)
BLOCKS = 20
TIER_FAULTS = ("BLOCK_TIER_MISSING", "BLOCK_TIER_DIVERGENT", "BLOCK_IPFS_HASH_INVALID")
R2_CHECKS = ("BLOCK_TIER_MISSING", "BLOCK_TIER_DIVERGENT", "PENDING_COUNT_DRIFT", "PENDING_ALREADY_MINED",
             "PENDING_BACKLOG")  # fmt: skip


def fast(settings: Settings, **blockstore_changes: object) -> Settings:
    """Fewer, shorter retries so a tier that is down is given up on quickly."""
    http = settings.http.model_copy(update={"max_retry_attempts": 1, "retry_delay_s": 0.01, "timeout_s": 2.0})
    store = settings.blockstore.model_copy(update=blockstore_changes)
    return settings.model_copy(update={"http": http, "blockstore": store})


def block_frames(settings: Settings) -> dict[str, pd.DataFrame]:
    """Only the block-store snapshots, chained as in snapshots.collect (KV first: IPFS is read by its ipfsHash)."""

    async def collect() -> dict[str, pd.DataFrame]:
        kv, r2 = await asyncio.gather(blockstore.snapshot_kv(settings), blockstore.snapshot_r2(settings))
        ipfs = await blockstore.snapshot_block_ipfs(settings, kv.frame)
        return {"blockstore_kv": kv.frame, "blockstore_r2": r2.frame, "blockstore_ipfs": ipfs.frame}

    return asyncio.run(collect())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def victims(manifest: dict, *faults: str) -> set[str]:
    return {entry["entity_id"] for entry in manifest["faults"] if entry["fault"] in faults}


def gone_block(manifest: dict) -> tuple[str, str, set[str]]:
    """The block BLOCK_GONE deleted from KV and R2, the block after it, and its transactions' ids."""
    entry = next(e for e in manifest["faults"] if e["fault"] == "BLOCK_GONE")
    txs = {f["entity_id"] for f in entry["expected_findings"] if f["check_id"] == "TX_INDEX_INCONSISTENT"}
    return entry["entity_id"], str(int(entry["entity_id"]) + 1), txs


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("blocks-world")
    with running_world(directory, seed=SEEDS[0], nfts=4, blocks=BLOCKS, faults="all") as (world, settings):
        yield world, settings, world.manifest()


def _findings_of_seed(seed: int, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[pd.DataFrame, dict]:
    if seed == SEEDS[0]:
        _, settings, manifest = request.getfixturevalue("shared_world")
        return run_block_checks(snapshot_frames(settings), settings), manifest
    with running_world(tmp_path, seed=seed, nfts=4, blocks=BLOCKS, faults="all") as (world, settings):
        return run_block_checks(snapshot_frames(settings), settings), world.manifest()


@pytest.mark.parametrize("seed", SEEDS)
def test_every_block_fault_is_found_exactly(seed: int, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    findings, manifest = _findings_of_seed(seed, request, tmp_path)
    expected = expected_findings(manifest, BLOCK_CHECKS)
    assert {check for check, _, _ in expected} == set(BLOCK_CHECKS)  # every block fault was injected
    assert finding_keys(findings) == expected
    assert finding_keys(findings, "unknown") == set()
    assert not findings.duplicated(["check_id", "entity_id"]).any()
    gone, _, _ = gone_block(manifest)
    tiers = findings[findings["check_id"].isin(["BLOCK_TIER_MISSING", "BLOCK_TIER_DIVERGENT"])]
    rehydrations = tiers[tiers["entity_id"] != gone]
    assert set(rehydrations["repair"]) == {"REHYDRATE_BLOCK"}
    assert all('"source": "kv"' in text for text in rehydrations["details"])
    assert tiers.loc[tiers["entity_id"] == gone, ["severity", "repair"]].values.tolist() == [
        ["critical", "MANUAL_REVIEW"]]  # fmt: skip


def test_clean_world_has_no_block_findings(tmp_path: Path) -> None:
    with running_world(tmp_path, seed=SEEDS[1], nfts=4, blocks=BLOCKS, faults="none") as (world, settings):
        frames = block_frames(settings)
        assert world.manifest()["expected_findings"] == []
    findings = run_block_checks(frames, settings)
    assert findings.empty, findings.to_dict("records")
    statuses = block_statuses(build_block_consistency(frames, settings), findings)
    assert status_report(statuses)["summary"] == {"complete": BLOCKS, "incomplete": 0, "unknown": 0}


def test_status_report_agrees_with_the_manifest(shared_world) -> None:
    _, settings, manifest = shared_world
    frames = block_frames(settings)
    blocks = build_block_consistency(frames, settings)
    report = status_report(block_statuses(blocks, run_block_checks(frames, settings, blocks)))
    damaged = victims(manifest, *TIER_FAULTS, "BLOCK_KV_TAMPERED")
    assert len(damaged) == 4
    assert report["totalBlocks"] == BLOCKS - 1  # the block gone from KV and R2 has no row (its findings name it)
    assert report["summary"] == {"complete": BLOCKS - 5, "incomplete": 4, "unknown": 0}
    by_status = {str(b["blockNumber"]): b["status"] for b in report["blocks"]}
    assert {n for n, status in by_status.items() if status != "ok"} == damaged
    assert {by_status[n] for n in damaged} == {"partial"}
    missing = victims(manifest, "BLOCK_TIER_MISSING").pop()
    assert next(b for b in report["blocks"] if b["blockNumber"] == int(missing))["r2"] is False


def test_kv_down_gives_unknown_for_kv_checks(shared_world) -> None:
    world, settings, manifest = shared_world
    world.servers.kv.faults.mode = "down"
    try:
        frames = block_frames(fast(settings))
    finally:
        world.servers.kv.faults.reset()
    findings = run_block_checks(frames, settings)
    expected = expected_findings(manifest, BLOCK_CHECKS)
    judged_from_r2 = {key for key in expected if key[0] in ("PENDING_BACKLOG", "PENDING_ALREADY_MINED")}
    assert finding_keys(findings) == judged_from_r2
    unknown = finding_keys(findings, "unknown")
    not_seen = victims(manifest, "BLOCK_TIER_MISSING")  # in KV only (R2 copy deleted): invisible with KV down
    gone, _, gone_txs = gone_block(manifest)
    not_seen |= {gone, *gone_txs}  # in no tier: only the whole-tier unknowns speak for it
    assert {key for key in expected - judged_from_r2 if key[2] not in not_seen} <= unknown
    assert {check for check, _, _ in unknown} == set(BLOCK_CHECKS) - {"PENDING_BACKLOG"}
    assert all(block not in not_seen for check, kind, block in unknown if kind == "block")


def test_r2_down_gives_unknown_for_r2_checks(shared_world) -> None:
    _, settings, manifest = shared_world
    frames = block_frames(fast(settings, r2_endpoint_url=f"http://127.0.0.1:{closed_port()}"))
    assert frames["blockstore_r2"].attrs["read_status"]["status"] == "unavailable"
    findings = run_block_checks(frames, settings)
    expected = expected_findings(manifest, BLOCK_CHECKS)
    gone, after_gap, gone_txs = gone_block(manifest)
    undecided = {("BLOCK_CHAIN_BROKEN", "block", after_gap)} | {("TX_INDEX_INCONSISTENT", "tx", t) for t in gone_txs}
    assert finding_keys(findings) == {key for key in expected if key[0] not in R2_CHECKS} - undecided
    unknown = finding_keys(findings, "unknown")
    assert undecided <= unknown  # a gap is a gap only if R2 was read too
    assert {check for check, _, _ in unknown} == set(R2_CHECKS) | {"BLOCK_CHAIN_BROKEN", "TX_INDEX_INCONSISTENT"}
    all_blocks = {str(n) for n in range(BLOCKS)} - {gone}
    assert {("BLOCK_TIER_MISSING", "block", n) for n in all_blocks} <= unknown
    assert ("PENDING_COUNT_DRIFT", "kv_key", "vdc:pending:count") in unknown
    assert ("PENDING_BACKLOG", "queue", "pending") in unknown


def test_gateways_down_give_unknown_for_ipfs_checks(shared_world) -> None:
    world, settings, manifest = shared_world
    for gateway in world.servers.gateways:
        gateway.faults.mode = "down"
    try:
        frames = block_frames(fast(settings))
    finally:
        for gateway in world.servers.gateways:
            gateway.faults.reset()
    findings = run_block_checks(frames, settings)
    expected = expected_findings(manifest, BLOCK_CHECKS)
    assert finding_keys(findings) == expected  # the mock ipfsHash needs no network; nothing else needs IPFS
    mock, missing = victims(manifest, "BLOCK_IPFS_HASH_INVALID"), victims(manifest, "BLOCK_TIER_MISSING")
    all_blocks = {str(n) for n in range(BLOCKS)} - {gone_block(manifest)[0]}
    assert finding_keys(findings, "unknown") == (
        {("BLOCK_IPFS_HASH_INVALID", "block", n) for n in all_blocks - mock}
        | {("BLOCK_TIER_MISSING", "block", n) for n in all_blocks - mock - missing}
    )


# -- faults made by hand through each tier's own protocol (issue 16) --------------------------------------------
def kv_url(settings: Settings, key: str) -> str:
    bs = settings.blockstore
    return f"{bs.kv_api_url}/accounts/{bs.kv_account_id}/storage/kv/namespaces/{bs.kv_namespace_id}/values/{key}"


def kv_request(settings: Settings, method: str, key: str, body: bytes | None = None) -> bytes:
    """One request to the Cloudflare KV REST API of the world, as any client would send it."""
    headers = {"Authorization": f"Bearer {settings.blockstore.kv_api_token.get_secret_value()}"}
    response = httpx.request(method, kv_url(settings, key), content=body, headers=headers, timeout=10)
    response.raise_for_status()
    return response.content


def r2_delete(settings: Settings, key: str) -> None:
    bs = settings.blockstore
    s3 = boto3.client("s3", endpoint_url=bs.r2_endpoint_url, region_name="us-east-1",
                      aws_access_key_id=bs.r2_access_key_id.get_secret_value(),
                      aws_secret_access_key=bs.r2_secret_access_key.get_secret_value())  # fmt: skip
    s3.delete_object(Bucket=bs.r2_bucket, Key=key)


def block_findings_of(findings: pd.DataFrame) -> pd.DataFrame:
    return findings[findings["check_id"].isin(BLOCK_CHECKS) & (findings["status"] == "fail")]


def test_a_kv_block_tampered_by_hand_is_hash_and_merkle_on_kv_and_nothing_names_a_repair_over_it(tmp_path: Path):
    with running_world(tmp_path, seed=SEEDS[2], nfts=4, blocks=8, faults="none") as (world, settings):
        block = json.loads(kv_request(settings, "GET", fmt.block_key(3)))
        block["transactions"][0]["amount"] += 1  # hash and merkleRoot left as they were
        kv_request(settings, "PUT", fmt.block_key(3), fmt.canonical_json(block))
        judged, plan = plan_now(settings)
    found = block_findings_of(judged.findings)
    assert finding_keys(found) == {("BLOCK_HASH_INVALID", "block", "3"), ("BLOCK_MERKLE_INVALID", "block", "3")}
    records = findings_records(found)
    assert {(r["severity"], r["repair"], r["details"]["tier"]) for r in records} == {
        ("critical", "MANUAL_REVIEW", "kv")}  # fmt: skip
    assert list(zip(plan["check_id"], plan["entity_id"], plan["repair"], strict=True)) == [
        ("BLOCK_HASH_INVALID", "3", "MANUAL_REVIEW"), ("BLOCK_MERKLE_INVALID", "3", "MANUAL_REVIEW")]  # fmt: skip
    alerts = failure_signals(found, RuleConfig(), set())
    assert [a.details["repair"] for a in alerts] == ["MANUAL_REVIEW", "MANUAL_REVIEW"]
    assert not any("REHYDRATE" in a.message or "REHYDRATE" in json.dumps(a.details) for a in alerts)
    assert set(planned_repairs(judged.findings)["repair"]) == {"MANUAL_REVIEW"}


def test_a_block_deleted_by_hand_from_kv_and_r2_is_named_missing_itself(tmp_path: Path):
    with running_world(tmp_path, seed=SEEDS[2], nfts=4, blocks=8, faults="none") as (world, settings):
        txs = [tx["txId"] for tx in json.loads(kv_request(settings, "GET", fmt.block_key(4)))["transactions"]]
        kv_request(settings, "DELETE", fmt.block_key(4))
        r2_delete(settings, fmt.r2_block_key(4))
        judged, plan = plan_now(settings)
    found = block_findings_of(judged.findings)
    assert finding_keys(found) == {("BLOCK_TIER_MISSING", "block", "4"), ("BLOCK_CHAIN_BROKEN", "block", "5")} | {
        ("TX_INDEX_INCONSISTENT", "tx", tx) for tx in txs}  # fmt: skip
    missing = next(r for r in findings_records(found) if r["check_id"] == "BLOCK_TIER_MISSING")
    assert (missing["severity"], missing["repair"]) == ("critical", "MANUAL_REVIEW")
    assert (missing["details"]["missing"], missing["details"]["unknown"]) == (["kv", "r2"], ["ipfs"])
    assert set(plan["repair"]) == {"MANUAL_REVIEW"} and len(plan) == len(found)
