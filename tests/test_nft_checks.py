"""Unit tests of single NFT checks on small hand-made frames (see tests/test_nft_join.py for the kit)."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from reconcile_pipeline.checks import nft_checks_chain as chain
from reconcile_pipeline.checks import nft_checks_db as db
from reconcile_pipeline.checks import nft_checks_ipfs as ipfs
from reconcile_pipeline.checks.catalogue import NFT_CHECKS
from reconcile_pipeline.checks.findings import FINDING_COLUMNS
from reconcile_pipeline.checks.nft_checks import nft_metrics, run_nft_checks
from reconcile_pipeline.checks.nft_checks_cid import check_ipfs_propagation_partial, cid_objects
from reconcile_pipeline.checks.nft_checks_partner import check_partner_verification_failed
from reconcile_pipeline.checks.nft_join import build_nft_consistency
from tests.test_nft_join import (
    GATEWAYS,
    IMAGES,
    NOW,
    cid,
    make_frames,
    metadata_bytes,
    nft,
    pubkey,
    settings,
    sha,
    unavailable,
)


def keys(findings: pd.DataFrame, status: str = "fail") -> set[tuple[str, str]]:
    rows = findings[findings["status"] == status]
    return set(zip(rows["check_id"], rows["entity_id"], strict=True))


def run(specs: list[dict], **sources) -> pd.DataFrame:
    return run_nft_checks(make_frames(specs, **sources), settings(), now=NOW)


def join(specs: list[dict]) -> pd.DataFrame:
    return build_nft_consistency(make_frames(specs), settings())


def details(findings: pd.DataFrame, check_id: str) -> dict:
    return json.loads(findings.loc[findings["check_id"] == check_id, "details"].iloc[0])


def test_healthy_frames_give_no_findings():
    findings = run([nft(0), nft(1), nft(2)])
    assert list(findings.columns) == FINDING_COLUMNS
    assert findings.empty


# -- CHAIN_URI_MISMATCH --------------------------------------------------------------------------
def test_uri_forms_naming_the_same_cid_are_not_a_mismatch():
    spec = nft(0)
    v0 = spec["uri"].removeprefix("ipfs://")
    from reconcile_pipeline.layers.cid import parse_cid

    v1 = str(parse_cid(v0).to_v1())
    forms = [
        f"https://gateway.pinata.cloud/ipfs/{v0}",
        f"ipfs://{v1}",
        f"https://{v1}.ipfs.dweb.link/",
        f"/ipfs/{v0}",
        f"ipfs://ipfs/{v0}",
        f" {spec['uri']} ",
    ]
    frame = join([nft(i, db_uri=form, uri=spec["uri"], meta=spec["meta"]) for i, form in enumerate(forms)])
    assert chain.check_chain_uri_mismatch(frame, settings()).empty


def test_uri_mismatch_names_both_uris():
    stale = f"ipfs://{cid(b'stale upload')}"
    findings = chain.check_chain_uri_mismatch(join([nft(0, db_uri=stale), nft(1, db_uri=None)]), settings())
    assert keys(findings) == {("CHAIN_URI_MISMATCH", pubkey(0)), ("CHAIN_URI_MISMATCH", pubkey(1))}
    evidence = json.loads(findings["details"].iloc[0])
    assert evidence["db_metadata_uri"] == stale and evidence["chain_uri"].startswith("ipfs://Qm")
    assert set(findings["repair"]) == {"DB_UPDATE_URIS_FROM_CHAIN"}


def test_uri_mismatch_unknown_when_the_chain_could_not_be_read():
    findings = chain.check_chain_uri_mismatch(join([nft(0, chain="unavailable", db_uri="ipfs://x")]), settings())
    assert keys(findings, "unknown") == {("CHAIN_URI_MISMATCH", pubkey(0))}
    assert keys(findings) == set()
    assert set(findings["repair"]) == {"NONE"}
    assert "rpc down" in details(findings, "CHAIN_URI_MISMATCH")["reason"]


# -- IPFS_METADATA_INVALID -----------------------------------------------------------------------
BOMBS = {
    "not json": b"<html>gateway error page</html>",
    "deep nesting": b"[" * 200_000 + b"]" * 200_000,
    "not an object": b'["name", "image"]',
    "no image": metadata_bytes("NFT", "Bronze", None),
    "no level": metadata_bytes("NFT", None, f"ipfs://{cid(IMAGES['Bronze'])}"),
    "huge number": b'{"name": 1' + b"0" * 5000 + b"}",
    "invalid utf-8 escape": b'{"name": "\\ud800", "image": 1}',
}


@pytest.mark.parametrize("content", list(BOMBS.values()), ids=list(BOMBS))
def test_bad_metadata_json_is_ipfs_metadata_invalid(content):
    spec = nft(0, meta=content, level="Bronze")
    frame = join([spec])
    findings = ipfs.check_ipfs_metadata_invalid(frame, settings())
    assert keys(findings) == {("IPFS_METADATA_INVALID", pubkey(0))}
    assert details(findings, "IPFS_METADATA_INVALID")["problem"]
    partner = check_partner_verification_failed(frame, settings())
    assert keys(partner) == {("PARTNER_VERIFICATION_FAILED", pubkey(0))}  # a broken JSON breaks the partner flow
    assert details(partner, "PARTNER_VERIFICATION_FAILED")["step"] in {"json", "level", "image"}


def test_metadata_over_the_json_cap_is_invalid():
    frames = make_frames([nft(0)])
    small = settings(ipfs={"max_json_bytes": 20})
    findings = ipfs.check_ipfs_metadata_invalid(build_nft_consistency(frames, small), small)
    assert "byte cap" in details(findings, "IPFS_METADATA_INVALID")["problem"]


def test_metadata_level_differing_from_the_db_is_invalid_but_partner_passes():
    image = f"ipfs://{cid(IMAGES['Bronze'])}"
    frame = join([nft(0, level="Bronze", meta=metadata_bytes("NFT", "Silver", image))])
    assert keys(ipfs.check_ipfs_metadata_invalid(frame, settings())) == {("IPFS_METADATA_INVALID", pubkey(0))}
    assert check_partner_verification_failed(frame, settings()).empty
    assert ipfs.check_ipfs_source_mismatch(frame, settings()).empty  # judged against the DB's level: Bronze


# -- DB_STUCK_PENDING and its sharper diagnoses --------------------------------------------------
def pending(age_s: int, **overrides) -> dict:
    return nft(0, status="IPFS_UPLOADED", age_s=age_s, mint=None, signature=None, chain=None, **overrides)


@pytest.mark.parametrize("age_s, stuck", [(599, False), (601, True)])
def test_stuck_pending_after_the_timeout(age_s, stuck):
    frame = join([pending(age_s)])
    findings = db.check_db_stuck_pending(frame, settings(), now=NOW)
    assert keys(findings) == ({("DB_STUCK_PENDING", "op-0")} if stuck else set())
    later = db.check_db_stuck_pending(frame, settings(), now=NOW + timedelta(seconds=10))
    assert keys(later) == {("DB_STUCK_PENDING", "op-0")}


def test_stuck_pending_gives_way_to_sharper_diagnoses():
    specs = [
        nft(0, status="BLOCKCHAIN_SUBMITTED", age_s=7200, tx_ok=False, chain="missing"),  # DB_PENDING_TX_FAILED
        nft(1, status="BLOCKCHAIN_SUBMITTED", age_s=7200),  # chain has it: stale pending is BSDF
        nft(2, status="BLOCKCHAIN_SUBMITTED", age_s=7200, tx="unavailable", chain="missing"),  # sharper unknown
        nft(3, status="BLOCKCHAIN_SUBMITTED", age_s=60),  # in flight: nothing
        nft(4, status="VERIFIED", age_s=7200),  # minted, never completed
    ]
    findings = run(specs)
    assert keys(findings) == {
        ("DB_PENDING_TX_FAILED", pubkey(0)),
        ("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", pubkey(1)),
        ("DB_STUCK_PENDING", "op-4"),
    }
    assert keys(findings, "unknown") == {("DB_PENDING_TX_FAILED", pubkey(2)), ("DB_STUCK_PENDING", "op-2")}
    assert details(findings, "BLOCKCHAIN_SUCCESS_DATABASE_FAILURE")["case"] == "stale_pending"


def test_blockchain_success_database_failure_cases():
    findings = run(
        [nft(0, in_db=False), nft(1, status="FAILED"), nft(2, in_db=False, listed=False, authority=pubkey(99))]
    )
    assert keys(findings) == {
        ("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", pubkey(0)),
        ("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", pubkey(1)),
        ("CHAIN_AUTHORITY_UNEXPECTED", pubkey(2)),
    }


def test_no_chain_only_orphan_is_reported_while_the_database_is_unreadable():
    frames = make_frames([nft(0), nft(1)])
    frames["db_minting_operations"] = unavailable(frames["db_minting_operations"], "database")
    findings = run_nft_checks(frames, settings(), now=NOW)
    assert keys(findings) == set()
    unknown = keys(findings, "unknown")
    assert {
        ("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", pubkey(0)),
        ("CHAIN_URI_MISMATCH", pubkey(1)),
        ("DB_STUCK_PENDING", "*"),
        ("DB_DUPLICATE_MINT", "*"),
        ("CHAIN_METADATA_MISSING", "*"),
    } <= unknown
    assert all(check in NFT_CHECKS for check, _ in unknown)


def test_chain_listing_unreadable_makes_orphans_unknown_not_missing():
    frames = make_frames([nft(0), nft(1, status="FAILED")])
    frames["solana_metadata_accounts"]["listing_status"] = "unavailable: HTTP 429"
    findings = run_nft_checks(frames, settings(), now=NOW)
    assert keys(findings) == {("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", pubkey(1))}  # the DB row says FAILED
    assert ("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", "*") in keys(findings, "unknown")


# -- chain and transaction -----------------------------------------------------------------------
def test_tx_failed_or_unknown_to_the_cluster_while_db_confirmed():
    findings = run([nft(0, tx_ok=False), nft(1, tx="missing"), nft(2, tx="unavailable")])
    assert keys(findings) == {("TX_FAILED_DB_CONFIRMED", pubkey(0)), ("TX_FAILED_DB_CONFIRMED", pubkey(1))}
    assert keys(findings, "unknown") == {("TX_FAILED_DB_CONFIRMED", pubkey(2))}


def test_failed_tx_is_the_sharper_diagnosis_of_a_missing_account():
    findings = run([nft(0, tx_ok=False, chain="missing"), nft(1, chain="missing")])
    assert keys(findings) == {
        ("TX_FAILED_DB_CONFIRMED", pubkey(0)),
        ("PARTNER_VERIFICATION_FAILED", pubkey(0)),
        ("CHAIN_METADATA_MISSING", pubkey(1)),
        ("PARTNER_VERIFICATION_FAILED", pubkey(1)),
    }


def test_mutable_and_foreign_authority():
    findings = run([nft(0, is_mutable=True), nft(1, authority=pubkey(50), listed=False)])
    assert keys(findings) == {("CHAIN_METADATA_MUTABLE", pubkey(0)), ("CHAIN_AUTHORITY_UNEXPECTED", pubkey(1))}
    assert details(findings, "CHAIN_AUTHORITY_UNEXPECTED")["chain_update_authority"] == pubkey(50)
    relaxed = run_nft_checks(make_frames([nft(0, is_mutable=True)]), settings(solana={"require_immutable": False}))
    assert relaxed.empty


def test_duplicate_completed_mints_for_one_wallet_and_level():
    findings = run([nft(0, wallet="w"), nft(2, wallet="w"), nft(1, wallet="w"), nft(4, wallet="w", status="FAILED")])
    assert keys(findings) == {("DB_DUPLICATE_MINT", "w:Bronze"), ("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", pubkey(4))}
    assert details(findings, "DB_DUPLICATE_MINT")["op_ids"] == ["op-0", "op-2"]


# -- IPFS ----------------------------------------------------------------------------------------
def test_database_success_ipfs_failure_metadata_or_image():
    findings = run([nft(0, meta_status="missing"), nft(1, image_status="missing"), nft(2, meta_status="unavailable")])
    assert keys(findings) == {
        ("DATABASE_SUCCESS_IPFS_FAILURE", pubkey(0)),
        ("PARTNER_VERIFICATION_FAILED", pubkey(0)),
        ("DATABASE_SUCCESS_IPFS_FAILURE", pubkey(1)),
        ("PARTNER_VERIFICATION_FAILED", pubkey(1)),
    }
    assert set(findings.loc[findings["status"] == "fail", "repair"]) == {"IPFS_REPIN_EXACT"}
    assert {("DATABASE_SUCCESS_IPFS_FAILURE", pubkey(2)), ("PARTNER_VERIFICATION_FAILED", pubkey(2))} <= keys(
        findings, "unknown"
    )


def test_ipfs_failure_on_the_dbs_uri_is_unknown_while_the_chain_is_unreadable():
    findings = run([nft(0, chain="unavailable", meta_status="missing")])
    assert "DATABASE_SUCCESS_IPFS_FAILURE" not in {check for check, _ in keys(findings)}
    assert ("DATABASE_SUCCESS_IPFS_FAILURE", pubkey(0)) in keys(findings, "unknown")


def test_source_mismatch_only_on_a_valid_registered_source():
    other = b"another rendering"
    image_uri = f"ipfs://{cid(other)}"
    specs = [
        nft(0, level="Bronze", image_uri=image_uri, image_bytes=other, db_image_uri=image_uri),
        nft(1, level="Silver", image_uri=image_uri, image_bytes=other, db_image_uri=image_uri),
    ]
    drifted = {"Silver": b"redrawn silver"}  # Silver's file no longer matches the registry: SOURCE_* says so
    findings = run(specs, images=drifted)
    assert keys(findings) == {("IPFS_SOURCE_MISMATCH", pubkey(0)), ("SOURCE_REGISTRY_DRIFT", "Silver")}
    evidence = details(findings, "IPFS_SOURCE_MISMATCH")
    assert evidence["image_sha256"] == sha(other) and evidence["source_sha256"] == sha(IMAGES["Bronze"])


def test_db_image_uri_differs_from_the_metadata_image():
    image_v1 = f"ipfs://{cid(IMAGES['Bronze'], version=1)}"  # another CID than the v0 the metadata names
    same_cid = f"https://gateway.pinata.cloud/ipfs/{cid(IMAGES['Bronze'])}"
    findings = run(
        [
            nft(0, db_image_uri=f"ipfs://{cid(IMAGES['Silver'])}"),
            nft(2, db_image_uri=same_cid),
            nft(4, db_image_uri=image_v1),
        ]
    )
    assert keys(findings) == {("DB_IPFS_REFERENCE_MISMATCH", pubkey(0)), ("DB_IPFS_REFERENCE_MISMATCH", pubkey(4))}


def test_not_pinned_and_pinata_unreadable():
    findings = run([nft(0, pinned=False)])
    meta_cid = nft(0)["uri"].removeprefix("ipfs://")
    assert keys(findings) == {("IPFS_NOT_PINNED", meta_cid), ("IPFS_NOT_PINNED", cid(IMAGES["Bronze"]))}
    frames = make_frames([nft(0, pinned=False)])
    frames["pinata_pins"] = unavailable(frames["pinata_pins"], "pinata")
    unknown = run_nft_checks(frames, settings(), now=NOW)
    assert keys(unknown) == set()
    assert keys(unknown, "unknown") == {("IPFS_NOT_PINNED", meta_cid), ("IPFS_NOT_PINNED", cid(IMAGES["Bronze"]))}


@pytest.mark.parametrize(
    "statuses, k, expected",
    [
        (["ok", "ok", "ok"], 2, None),
        (["ok", "missing", "missing"], 2, "fail"),
        (["ok", "unavailable", "missing"], 2, "unknown"),  # the unreadable gateway may hold it
        (["ok", "ok", "unavailable"], 2, None),  # one gateway down of three: still k
        (["ok", "unavailable", "missing"], 3, "fail"),  # even if the unreadable one has it: 2 < 3
        (["ok", "integrity", "missing"], 2, "fail"),  # wrong bytes do not count as reachable
        (["missing", "missing", "unavailable"], 2, "unknown"),  # maybe nowhere (DSIF), maybe one: undecided
        (["missing", "missing", "missing"], 2, None),  # on no gateway: DATABASE_SUCCESS_IPFS_FAILURE's finding
    ],
)
def test_propagation_k_of_n(statuses, k, expected):
    gateways = dict(zip(GATEWAYS, statuses, strict=True))
    status = "ok" if "ok" in statuses else ("unavailable" if "unavailable" in statuses else "missing")
    frame = join([nft(0, gateways=gateways, meta_status=status, image_gateways=dict.fromkeys(GATEWAYS, "ok"))])
    custom = settings(ipfs={"min_gateways": k})
    findings = check_ipfs_propagation_partial(cid_objects(frame), custom)
    assert set(findings["status"]) == ({expected} if expected else set())
    assert set(findings["entity_id"]) <= {nft(0)["uri"].removeprefix("ipfs://")}


def test_cid_integrity_names_the_bad_gateway():
    gateways = dict(zip(GATEWAYS, ["ok", "ok", "integrity"], strict=True))
    findings = run([nft(0, gateways=gateways, image_gateways=dict.fromkeys(GATEWAYS, "ok"))])
    meta_cid = nft(0)["uri"].removeprefix("ipfs://")
    assert keys(findings) == {("IPFS_CID_INTEGRITY", meta_cid)}
    assert details(findings, "IPFS_CID_INTEGRITY")["bad_gateways"] == [GATEWAYS[2]]


# -- partner flow --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides, step, status",
    [
        ({"chain": "missing"}, "chain", "fail"),
        ({"chain": "unavailable"}, "chain", "unknown"),
        ({"uri": "https://metadata.example/1.json", "db_uri": "https://metadata.example/1.json"}, "uri", "fail"),
        ({"meta_status": "missing"}, "json", "fail"),
        ({"meta_status": "unavailable"}, "json", "unknown"),
        ({"meta": metadata_bytes("N", "Ruby", "ipfs://" + cid(IMAGES["Bronze"]))}, "level", "fail"),
        ({"image_status": "missing"}, "image", "fail"),
        ({"image_status": "unavailable"}, "image", "unknown"),
    ],
)
def test_partner_flow_stops_at_the_first_failing_step(overrides, step, status):
    findings = check_partner_verification_failed(join([nft(0, level="Bronze", **overrides)]), settings())
    assert list(findings["status"]) == [status]
    evidence = json.loads(findings["details"].iloc[0])
    assert evidence["step"] == step


# -- source images -------------------------------------------------------------------------------
def test_source_missing_restores_only_a_backup_that_matches_the_registry():
    findings = run([nft(0), nft(1)], images={"Bronze": None, "Silver": None}, backups={"Silver": b"not the same"})
    repairs = dict(zip(zip(findings["check_id"], findings["entity_id"], strict=True), findings["repair"], strict=True))
    assert repairs == {
        ("SOURCE_MISSING", "Bronze"): "RESTORE_SOURCE_FROM_BACKUP",
        ("SOURCE_MISSING", "Silver"): "MANUAL_REVIEW",
        ("SOURCE_MISSING_ACTIVE_NFT", "Bronze"): "RESTORE_SOURCE_FROM_BACKUP",
        ("SOURCE_MISSING_ACTIVE_NFT", "Silver"): "MANUAL_REVIEW",
    }


def test_source_checks_unknown_while_the_folder_is_unreadable():
    frames = make_frames([nft(0)])
    frames["source_images"]["status"] = "unavailable"
    frames["source_images"]["error"] = "folder /a does not exist"
    findings = run_nft_checks(frames, settings(), now=NOW)
    assert keys(findings) == set()
    assert keys(findings, "unknown") == {
        ("SOURCE_MISSING", "Bronze"),
        ("SOURCE_MISSING", "Silver"),
        ("SOURCE_INVALID", "Bronze"),
        ("SOURCE_INVALID", "Silver"),
        ("SOURCE_REGISTRY_DRIFT", "Bronze"),
        ("SOURCE_REGISTRY_DRIFT", "Silver"),
        ("SOURCE_MISSING_ACTIVE_NFT", "Bronze"),
        ("IPFS_SOURCE_MISMATCH", pubkey(0)),
    }


def test_registry_row_missing_is_drift():
    frames = make_frames([nft(0)])
    frames["db_source_image_registry"] = frames["db_source_image_registry"].iloc[:1]  # Bronze only
    assert keys(run_nft_checks(frames, settings(), now=NOW)) == {("SOURCE_REGISTRY_DRIFT", "Silver")}


# -- metrics -------------------------------------------------------------------------------------
def test_metrics_count_layers_and_operations():
    specs = [
        nft(0),
        nft(1, tx_ok=False),
        nft(2, meta_status="missing"),
        nft(3, status="IPFS_UPLOADED", age_s=60, chain="missing"),
    ]
    frames = make_frames(specs, images={"Silver": None})
    nft_frame = build_nft_consistency(frames, settings())
    metrics = nft_metrics(nft_frame, run_nft_checks(frames, settings(), now=NOW), frames)
    assert metrics["sourceImages"] == {
        "availableImages": 1,
        "missingImages": 1,
        "corruptedImages": 0,
        "unreadableImages": 0,
    }
    assert metrics["blockchain"] == {
        "successfulTransactions": 3,
        "metadataAccountCreations": 3,
        "transactionFailures": 1,
    }
    assert metrics["database"] == {"completedRecords": 3, "pendingRecords": 1, "inconsistentRecords": 3}
    assert metrics["crossLayer"] == {
        "consistentOperations": 1,
        "inconsistentOperations": 3,
        "unverifiedOperations": 0,
        "endToEndVerificationSuccess": 2,
        "endToEndVerificationAttempts": 3,
    }
    assert metrics["ipfs"]["brokenReferences"] == 1
    assert all(isinstance(v, int) for group in metrics.values() for v in group.values())
