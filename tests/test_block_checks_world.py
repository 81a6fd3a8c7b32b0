"""The block checks against the local world: every block fault of the manifest is found exactly, a clean
world is clean, and each tier down in turn gives unknown, never fail.

One world per seed (nfts=4, blocks=20 to stay fast); the first seed's world is shared by the
tier-down tests, which switch a server off and back on.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pandas as pd
import pytest

from reconcile_pipeline.checks.block_checks import run_block_checks
from reconcile_pipeline.checks.block_join import build_block_consistency
from reconcile_pipeline.checks.block_status import block_statuses, status_report
from reconcile_pipeline.checks.catalogue import BLOCK_CHECKS
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
    rehydrations = findings[findings["check_id"].isin(["BLOCK_TIER_MISSING", "BLOCK_TIER_DIVERGENT"])]
    assert set(rehydrations["repair"]) == {"REHYDRATE_BLOCK"}
    assert all('"source": "kv"' in text for text in rehydrations["details"])


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
    damaged = victims(manifest, *TIER_FAULTS)
    assert len(damaged) == 3
    assert report["totalBlocks"] == BLOCKS
    assert report["summary"] == {"complete": BLOCKS - 3, "incomplete": 3, "unknown": 0}
    by_status = {str(b["blockNumber"]): b["status"] for b in report["blocks"]}
    assert {n for n, status in by_status.items() if status != "ok"} == damaged
    assert {by_status[n] for n in damaged} == {"partial"}
    missing = victims(manifest, "BLOCK_TIER_MISSING").pop()
    assert report["blocks"][int(missing)]["r2"] is False


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
    assert {key for key in expected - judged_from_r2 if key[2] not in not_seen} <= unknown
    assert {check for check, _, _ in unknown} == set(BLOCK_CHECKS) - {"PENDING_BACKLOG"}
    assert all(block not in not_seen for check, kind, block in unknown if kind == "block")


def test_r2_down_gives_unknown_for_r2_checks(shared_world) -> None:
    _, settings, manifest = shared_world
    frames = block_frames(fast(settings, r2_endpoint_url=f"http://127.0.0.1:{closed_port()}"))
    assert frames["blockstore_r2"].attrs["read_status"]["status"] == "unavailable"
    findings = run_block_checks(frames, settings)
    expected = expected_findings(manifest, BLOCK_CHECKS)
    assert finding_keys(findings) == {key for key in expected if key[0] not in R2_CHECKS}
    unknown = finding_keys(findings, "unknown")
    assert {check for check, _, _ in unknown} == set(R2_CHECKS)
    all_blocks = {str(n) for n in range(BLOCKS)}
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
    all_blocks = {str(n) for n in range(BLOCKS)}
    assert finding_keys(findings, "unknown") == (
        {("BLOCK_IPFS_HASH_INVALID", "block", n) for n in all_blocks - mock}
        | {("BLOCK_TIER_MISSING", "block", n) for n in all_blocks - mock - missing}
    )
