"""NFT checks on local worlds: every manifest finding, nothing else; each layer down in turn -> unknown, never fail.

One module world (seed 7, every fault) serves the healthy comparison and every outage scenario; two more
seeds and a clean world check that the result is not one hand-picked world's. Outages are switched on the
running servers (``faults.mode``) or in the settings (database URL, source folder) and switched back.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from pydantic import SecretStr

from reconcile_pipeline.checks.catalogue import NFT_CHECKS
from reconcile_pipeline.checks.nft_checks import run_nft_checks
from reconcile_pipeline.checks.nft_checks_common import WHOLE_CHECK
from tests.worldkit import expected_findings, finding_keys, running_world, snapshot_frames

SEEDS = (7, 11, 23)
FAST_HTTP = {"timeout_s": 2.0, "max_retry_attempts": 1, "retry_delay_s": 0.01, "retry_max_delay_s": 0.05}

SOLANA_CHECKS = {
    "CHAIN_METADATA_MISSING",
    "CHAIN_URI_MISMATCH",
    "CHAIN_METADATA_MUTABLE",
    "CHAIN_AUTHORITY_UNEXPECTED",
    "TX_FAILED_DB_CONFIRMED",
    "BLOCKCHAIN_SUCCESS_DATABASE_FAILURE",
    "DB_PENDING_TX_FAILED",
    "PARTNER_VERIFICATION_FAILED",
}
GATEWAY_CHECKS = {
    "DATABASE_SUCCESS_IPFS_FAILURE",
    "IPFS_METADATA_INVALID",
    "IPFS_SOURCE_MISMATCH",
    "DB_IPFS_REFERENCE_MISMATCH",
    "IPFS_CID_INTEGRITY",
    "IPFS_PROPAGATION_PARTIAL",
}
DATABASE_CHECKS = {
    "CHAIN_METADATA_MISSING",
    "CHAIN_URI_MISMATCH",
    "TX_FAILED_DB_CONFIRMED",
    "BLOCKCHAIN_SUCCESS_DATABASE_FAILURE",
    "DB_PENDING_TX_FAILED",
    "DB_STUCK_PENDING",
    "DB_DUPLICATE_MINT",
    "DATABASE_SUCCESS_IPFS_FAILURE",
    "IPFS_METADATA_INVALID",
    "IPFS_SOURCE_MISMATCH",
    "DB_IPFS_REFERENCE_MISMATCH",
    "SOURCE_REGISTRY_DRIFT",
}
SOURCE_CHECKS = {"SOURCE_MISSING", "SOURCE_INVALID", "SOURCE_REGISTRY_DRIFT", "SOURCE_MISSING_ACTIVE_NFT"}


def fast(settings, **sections):
    """Settings with few, quick retries (an outage costs milliseconds), plus any section overrides."""
    update = {
        "http": settings.http.model_copy(update=FAST_HTTP),
        "ipfs": settings.ipfs.model_copy(update={"timeout_s": 2.0}),
    }
    for name, values in sections.items():
        update[name] = getattr(settings, name).model_copy(update=values)
    return settings.model_copy(update=update)


@contextlib.contextmanager
def outage(*servers, mode: str = "down", **faults):
    try:
        for server in servers:
            server.faults.mode = mode
            for name, value in faults.items():
                setattr(server.faults, name, value)
        yield
    finally:
        for server in servers:
            server.faults.reset()


def victims(manifest: dict, fault: str) -> list[str]:
    return [entry["entity_id"] for entry in manifest["faults"] if entry["fault"] == fault]


def unknown_covers(findings, keys) -> set:
    """The expected keys NOT covered by an unknown finding (by entity, or by the whole-check ``*``)."""
    unknown = finding_keys(findings, "unknown")
    whole = {check for check, _, entity in unknown if entity == WHOLE_CHECK}
    return {key for key in keys if key not in unknown and key[0] not in whole}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with running_world(tmp_path_factory.mktemp("nft-world"), seed=SEEDS[0], nfts=24, blocks=4, faults="all") as (
        local,
        settings,
    ):
        yield local, fast(settings), local.manifest()


@pytest.fixture(scope="module")
def healthy(world):
    local, settings, manifest = world
    return run_nft_checks(snapshot_frames(settings), settings)


def check_world(settings, manifest) -> None:
    findings = run_nft_checks(snapshot_frames(settings), settings)
    assert finding_keys(findings) == expected_findings(manifest, NFT_CHECKS)
    assert finding_keys(findings, "unknown") == set()


def test_every_fault_found_and_nothing_else(world, healthy):
    _, _, manifest = world
    assert finding_keys(healthy) == expected_findings(manifest, NFT_CHECKS)
    assert finding_keys(healthy, "unknown") == set()
    assert len(expected_findings(manifest, NFT_CHECKS)) >= 25  # every NFT fault had a victim


@pytest.mark.parametrize("seed", SEEDS[1:])
def test_other_seeds(tmp_path, seed):
    with running_world(tmp_path, seed=seed, nfts=24, blocks=4, faults="all") as (local, settings):
        check_world(fast(settings), local.manifest())


def test_clean_world_has_no_findings(tmp_path):
    with running_world(tmp_path, seed=5, nfts=12, blocks=4, faults="none") as (local, settings):
        findings = run_nft_checks(snapshot_frames(fast(settings)), settings)
        assert local.manifest()["expected_findings"] == []
        assert findings.empty, findings[["check_id", "entity_id", "status"]].to_string()


def assert_no_false_failures(findings, manifest, affected: set[str]) -> None:
    failed = finding_keys(findings)
    assert failed <= expected_findings(manifest, NFT_CHECKS), failed - expected_findings(manifest, NFT_CHECKS)
    assert {key for key in failed if key[0] in affected} <= expected_findings(manifest, NFT_CHECKS)


def test_solana_down(world):
    local, settings, manifest = world
    with outage(local.servers.solana):
        findings = run_nft_checks(snapshot_frames(settings), settings)
    assert_no_false_failures(findings, manifest, SOLANA_CHECKS)
    assert {key[0] for key in finding_keys(findings)} & SOLANA_CHECKS == set()
    assert unknown_covers(findings, expected_findings(manifest, tuple(SOLANA_CHECKS))) == set()
    # the DB's URIs are still judged, but without the truth URI a per-NFT IPFS failure is only unknown
    dsif = ("DATABASE_SUCCESS_IPFS_FAILURE", "nft", victims(manifest, "DATABASE_SUCCESS_IPFS_FAILURE")[0])
    assert dsif in finding_keys(findings, "unknown")
    cid_checks = {"IPFS_NOT_PINNED", "IPFS_PROPAGATION_PARTIAL", "IPFS_CID_INTEGRITY"}
    assert expected_findings(
        manifest, tuple(cid_checks | SOURCE_CHECKS | {"DB_STUCK_PENDING", "DB_DUPLICATE_MINT"})
    ) <= finding_keys(findings)


def test_solana_rate_limited(world):
    local, settings, manifest = world
    with outage(local.servers.solana, mode="ratelimit", retry_after_s=0.01):
        findings = run_nft_checks(snapshot_frames(settings), settings)
    assert_no_false_failures(findings, manifest, SOLANA_CHECKS)
    assert {key[0] for key in finding_keys(findings)} & SOLANA_CHECKS == set()
    assert unknown_covers(findings, expected_findings(manifest, tuple(SOLANA_CHECKS))) == set()


def test_all_gateways_down(world):
    local, settings, manifest = world
    with outage(*local.servers.gateways):
        findings = run_nft_checks(snapshot_frames(settings), settings)
    assert_no_false_failures(findings, manifest, GATEWAY_CHECKS)
    assert {key[0] for key in finding_keys(findings)} & GATEWAY_CHECKS == set()
    assert unknown_covers(findings, expected_findings(manifest, tuple(GATEWAY_CHECKS))) == set()
    partner_failed = {key for key in finding_keys(findings) if key[0] == "PARTNER_VERIFICATION_FAILED"}
    steps_before_json = {
        *victims(manifest, "CHAIN_METADATA_MISSING"),
        *victims(manifest, "PARTNER_VERIFICATION_FAILED"),
    }
    assert {key[2] for key in partner_failed} == steps_before_json
    pinned = expected_findings(manifest, ("IPFS_NOT_PINNED",))
    assert pinned <= finding_keys(findings)  # Pinata still answers: the CID named on chain is judged


def test_one_gateway_of_three_down(world):
    local, settings, manifest = world
    with outage(local.servers.gateways[1]):
        findings = run_nft_checks(snapshot_frames(settings), settings)
    # gateway 1 is one of the two that lack the propagation victim: 1 ok + 1 unreadable may still reach k=2
    propagation = ("IPFS_PROPAGATION_PARTIAL", "cid", victims(manifest, "IPFS_PROPAGATION_PARTIAL")[0])
    dsif_mint = victims(manifest, "DATABASE_SUCCESS_IPFS_FAILURE")[0]
    wrong_on_gw1 = victims(manifest, "IPFS_GATEWAY_WRONG_BYTES")[0]  # the gateway serving its wrong bytes is down
    undecided = {
        propagation,
        ("DATABASE_SUCCESS_IPFS_FAILURE", "nft", dsif_mint),
        ("PARTNER_VERIFICATION_FAILED", "nft", dsif_mint),
        ("IPFS_CID_INTEGRITY", "cid", wrong_on_gw1),
    }
    assert finding_keys(findings) == expected_findings(manifest, NFT_CHECKS) - undecided
    unknown = finding_keys(findings, "unknown")
    assert undecided <= unknown
    # the DSIF victim's JSON may sit on the unreadable gateway: every check that reads it is unknown for it
    per_nft = {key for key in unknown if key[1] == "nft"}
    assert {key[2] for key in per_nft} == {dsif_mint}
    assert {key[0] for key in per_nft} >= {
        "DATABASE_SUCCESS_IPFS_FAILURE",
        "PARTNER_VERIFICATION_FAILED",
        "IPFS_METADATA_INVALID",
        "DB_IPFS_REFERENCE_MISMATCH",
    }
    # whether a gateway serves wrong bytes is unknown for every CID while one gateway cannot be read
    per_cid = {key for key in unknown if key[1] == "cid"}
    assert {key[0] for key in per_cid} == {"IPFS_CID_INTEGRITY", "IPFS_PROPAGATION_PARTIAL"}
    # propagation is undecided only where ok < k <= ok + unreadable, or no gateway that answered has it
    integrity_victim = victims(manifest, "IPFS_CID_INTEGRITY")[0]  # ok on gw0, unreadable gw1, bad bytes on gw2
    dsif = findings[(findings["check_id"] == "DATABASE_SUCCESS_IPFS_FAILURE") & (findings["entity_id"] == dsif_mint)]
    dsif_cid = json.loads(dsif["details"].iloc[0])["metadata_cid"]  # missing on gw0 and gw2
    assert {key[2] for key in per_cid if key[0] == "IPFS_PROPAGATION_PARTIAL"} == {
        propagation[2],
        integrity_victim,
        dsif_cid,
    }
    assert ("IPFS_CID_INTEGRITY", "cid", integrity_victim) not in per_cid  # gateway 2 still serves its bad bytes


def test_pinata_down(world):
    local, settings, manifest = world
    with outage(local.servers.pinata):
        findings = run_nft_checks(snapshot_frames(settings), settings)
    not_pinned = expected_findings(manifest, ("IPFS_NOT_PINNED",))
    assert finding_keys(findings) == expected_findings(manifest, NFT_CHECKS) - not_pinned
    unknown = finding_keys(findings, "unknown")
    assert not_pinned <= unknown
    assert {key[0] for key in unknown} == {"IPFS_NOT_PINNED"}


def test_database_unreachable(world, tmp_path):
    local, settings, manifest = world
    closed = fast(settings, database={"url": SecretStr(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")})
    findings = run_nft_checks(snapshot_frames(closed), closed)
    assert_no_false_failures(findings, manifest, DATABASE_CHECKS)
    assert {key[0] for key in finding_keys(findings)} & DATABASE_CHECKS == set()
    assert unknown_covers(findings, expected_findings(manifest, tuple(DATABASE_CHECKS))) == set()
    # source and chain-only facts still stand: missing files, a mutable account, an unpinned CID
    still = ("SOURCE_MISSING", "SOURCE_INVALID", "CHAIN_METADATA_MUTABLE", "IPFS_NOT_PINNED", "IPFS_CID_INTEGRITY")
    assert expected_findings(manifest, still) <= finding_keys(findings)


def test_source_folder_unreadable(world, tmp_path):
    local, settings, manifest = world
    gone = fast(settings, source_images={"assets_dir": tmp_path / "unmounted"})
    findings = run_nft_checks(snapshot_frames(gone), gone)
    affected = SOURCE_CHECKS | {"IPFS_SOURCE_MISMATCH"}
    assert finding_keys(findings) == expected_findings(manifest, tuple(set(NFT_CHECKS) - affected))
    unknown = finding_keys(findings, "unknown")
    levels = manifest["levels"]
    assert {key for key in unknown if key[0] == "SOURCE_MISSING"} == {("SOURCE_MISSING", "level", lv) for lv in levels}
    assert expected_findings(manifest, tuple(affected)) <= unknown
    assert {key[0] for key in unknown} == affected


def test_regular_cadence_verifies_every_gateway(world):
    local, settings, manifest = world
    findings = run_nft_checks(snapshot_frames(settings, ipfs_mode="regular"), settings)
    # raw root-block probes of every gateway: the gateways serving wrong bytes are found too
    assert expected_findings(manifest, ("IPFS_CID_INTEGRITY",))
    assert finding_keys(findings) == expected_findings(manifest, NFT_CHECKS)
    assert finding_keys(findings, "unknown") == set()
