"""Unit tests of the repair plan (pure), the action keys and the content archive; no world, no network."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pandas as pd
import pytest

from reconcile_pipeline.checks.findings import FINDING_COLUMNS
from reconcile_pipeline.layers.unixfs import unixfs_cid
from reconcile_pipeline.repairs.actions import PLAN_COLUMNS, Action, action_id_of
from reconcile_pipeline.repairs.actions_ipfs import pin_version
from reconcile_pipeline.repairs.archive import ContentArchive, archive_key
from reconcile_pipeline.repairs.plan import build_plan, plan_actions, resolve_repairs
from reconcile_pipeline.repairs.plan_nft import record_id_for
from reconcile_pipeline.settings import Settings

SETTINGS = Settings()
MINT, OP = "6VF1L7vnGTXYw8UqcnGntymUqybkZcZNA1pt4LxST9ZB", "e5835fad-c2d2-484e-812a-6ab3937f0c54"
CID = str(unixfs_cid(b"metadata"))


def finding(check_id: str, entity_id: object, repair: str, *, status: str = "fail", entity_type: str = "nft",
            details: dict | None = None, severity: str = "warning") -> dict:  # fmt: skip
    return {"check_id": check_id, "entity_type": entity_type, "entity_id": str(entity_id), "layers": [],
            "status": status, "severity": severity, "truth": "", "repair": repair,
            "details": json.dumps(details or {})}  # fmt: skip


def nft_row(**values: object) -> dict:
    row = {"entity_type": "nft", "entity_id": MINT, "mint": MINT, "op_id": OP, "db_status": "COMPLETED",
           "db_metadata_uri": "ipfs://old", "db_image_uri": "ipfs://img", "chain_read": "ok",
           "chain_uri": f"ipfs://{CID}", "tx_read": "ok", "db_tx_signature": "sig", "tx_err": None,
           "metadata_read": "ok", "metadata_cid": CID, "metadata_path": "", "image_read": "ok",
           "image_cid": None, "image_path": "", "json_image": "ipfs://new-img", "json_level": "Gold",
           "check_level": "Gold"}  # fmt: skip
    return row | values


def block_row(number: int, **values: object) -> dict:
    row = {"block_number": number, "source_tier": "kv", "ref_hash": f"h{number}", "kv_ipfs_hash": None}
    for tier in ("kv", "r2", "ipfs"):
        row |= {f"{tier}_status": "present", f"{tier}_core_sha256": "core"}
    return row | values


def plan_of(findings: list[dict], nfts: list[dict] = (), blocks: list[dict] = ()) -> pd.DataFrame:
    nft_frame = pd.DataFrame(list(nfts), columns=list(nft_row()))
    block_frame = pd.DataFrame(list(blocks), columns=list(block_row(0)))
    return build_plan(pd.DataFrame(findings, columns=FINDING_COLUMNS), nft_frame, block_frame, SETTINGS)


def only(plan: pd.DataFrame) -> Action:
    assert len(plan) == 1, plan
    return plan_actions(plan)[0]


# -- one action per finding -------------------------------------------------------------------
def test_one_entry_per_failing_finding_manual_and_no_action_included_nothing_for_unknown():
    findings = [
        finding("CHAIN_URI_MISMATCH", MINT, "DB_UPDATE_URIS_FROM_CHAIN"),
        finding("CHAIN_URI_MISMATCH", "other", "NONE", status="unknown"),
        finding("CHAIN_METADATA_MUTABLE", "other", "MANUAL_REVIEW"),
        finding("IPFS_CID_INTEGRITY", CID, "MARK_GATEWAY_BAD", entity_type="cid"),
        finding("DB_STUCK_PENDING", OP, "RECHECK", entity_type="operation"),
        finding("PENDING_BACKLOG", "pending", "NONE", entity_type="queue"),
    ]
    plan = plan_of(findings, [nft_row()])
    assert list(plan.columns) == PLAN_COLUMNS
    assert list(zip(plan["check_id"], plan["repair"], strict=True)) == [
        ("CHAIN_URI_MISMATCH", "DB_UPDATE_URIS_FROM_CHAIN"),
        ("CHAIN_METADATA_MUTABLE", "MANUAL_REVIEW"),
        ("DB_STUCK_PENDING", "RECHECK"),
        ("IPFS_CID_INTEGRITY", "MANUAL_REVIEW"),
        ("PENDING_BACKLOG", "NONE"),
    ]
    update = plan_actions(plan)[0]
    assert update.target == {"op_id": OP, "mint": MINT, "set": {"metadata_uri": f"ipfs://{CID}"}}
    assert update.before == {"metadata_uri": "ipfs://old"} and update.truth == {"chain_uri": f"ipfs://{CID}"}


def resolved_of(findings: list[dict], nfts: list[dict] = (), blocks: list[dict] = ()) -> pd.DataFrame:
    nft_frame = pd.DataFrame(list(nfts), columns=list(nft_row()))
    block_frame = pd.DataFrame(list(blocks), columns=list(block_row(0)))
    return resolve_repairs(pd.DataFrame(findings, columns=FINDING_COLUMNS), nft_frame, block_frame, SETTINGS)


def test_a_findings_repair_is_its_plan_entrys_and_planning_resolved_findings_changes_nothing():
    findings = [
        finding("TX_FAILED_DB_CONFIRMED", MINT, "DB_STATUS_FROM_CHAIN", severity="critical"),  # chain has it: manual
        finding("BLOCK_TIER_DIVERGENT", 3, "REHYDRATE_BLOCK", entity_type="block", severity="critical"),
        finding("CHAIN_URI_MISMATCH", "other", "NONE", status="unknown"),
        finding("PENDING_BACKLOG", "pending", "NONE", entity_type="queue"),
    ]
    blocks = [block_row(3, source_tier="r2", kv_core_sha256="tampered")]
    resolved = resolved_of(findings, [nft_row()], blocks)
    assert list(resolved["repair"]) == ["MANUAL_REVIEW", "MANUAL_REVIEW", "NONE", "NONE"]
    reasons = [json.loads(d).get("review_reason", "") for d in resolved["details"]]
    assert "find the transaction that minted it" in reasons[0] and "never overwritten" in reasons[1]
    assert reasons[2:] == ["", ""]
    again = plan_of(resolved.to_dict("records"), [nft_row()], blocks)
    first = plan_of(findings, [nft_row()], blocks)
    assert again.drop(columns=["reason"]).equals(first.drop(columns=["reason"]))
    assert list(again["reason"]) == list(first["reason"])
    assert sorted(zip(first["check_id"], first["repair"], strict=True)) == sorted(
        (f["check_id"], r) for f, r in zip(findings, resolved["repair"], strict=True) if f["status"] == "fail")


@pytest.mark.parametrize(("other", "status", "automatic"), [
    ("IPFS_SOURCE_MISMATCH", "fail", False), ("IPFS_METADATA_INVALID", "fail", False),
    ("CHAIN_METADATA_MUTABLE", "fail", False), ("PARTNER_VERIFICATION_FAILED", "unknown", False),
    ("IPFS_PROPAGATION_PARTIAL", "fail", True), ("DB_STUCK_PENDING", "fail", True),
])  # fmt: skip
def test_a_db_copy_is_automatic_only_when_its_truth_passes_every_check_of_its_entity(other, status, automatic):
    findings = [finding("DB_IPFS_REFERENCE_MISMATCH", MINT, "DB_UPDATE_IMAGE_URI_FROM_IPFS"),
                finding("CHAIN_URI_MISMATCH", MINT, "DB_UPDATE_URIS_FROM_CHAIN"),
                finding(other, MINT, "MANUAL_REVIEW", status=status)]  # fmt: skip
    plan = plan_of(findings, [nft_row(json_image=f"ipfs://{CID}")])
    copies = plan[plan["check_id"].isin(["DB_IPFS_REFERENCE_MISMATCH", "CHAIN_URI_MISMATCH"])]
    if automatic:
        assert set(copies["repair"]) == {"DB_UPDATE_IMAGE_URI_FROM_IPFS", "DB_UPDATE_URIS_FROM_CHAIN"}
    else:
        assert set(copies["repair"]) == {"MANUAL_REVIEW"} and all(other in r for r in copies["reason"])


def test_keys_are_stable_and_follow_the_truths_version():
    first = only(plan_of([finding("CHAIN_URI_MISMATCH", MINT, "DB_UPDATE_URIS_FROM_CHAIN")], [nft_row()]))
    again = only(plan_of([finding("CHAIN_URI_MISMATCH", MINT, "DB_UPDATE_URIS_FROM_CHAIN")], [nft_row()]))
    moved = only(plan_of([finding("CHAIN_URI_MISMATCH", MINT, "DB_UPDATE_URIS_FROM_CHAIN")],
                         [nft_row(chain_uri="ipfs://elsewhere")]))  # fmt: skip
    assert first.key == again.key and first.action_id == again.action_id == action_id_of(first.key)
    assert first.key.startswith(f"CHAIN_URI_MISMATCH|nft|{MINT}|") and len(first.key) <= 255
    assert moved.key != first.key and moved.action_id != first.action_id
    manual = only(plan_of([finding("CHAIN_METADATA_MUTABLE", MINT, "MANUAL_REVIEW", details={"x": 1})]))
    assert manual.key == f"CHAIN_METADATA_MUTABLE|nft|{MINT}|"
    assert Action.from_record(first.record()) == first


def test_a_plan_row_round_trips_through_parquet(tmp_path):
    plan = plan_of([finding("CHAIN_URI_MISMATCH", MINT, "DB_UPDATE_URIS_FROM_CHAIN")], [nft_row()])
    plan.to_parquet(tmp_path / "plan.parquet")
    assert plan_actions(pd.read_parquet(tmp_path / "plan.parquet")) == plan_actions(plan)


# -- DB from the chain ------------------------------------------------------------------------
def test_failed_transaction_marks_failed_only_when_the_chain_lacks_the_nft():
    fault = finding("TX_FAILED_DB_CONFIRMED", MINT, "DB_STATUS_FROM_CHAIN")
    on_chain = only(plan_of([fault], [nft_row(tx_err="Custom:1")]))
    assert on_chain.repair == "MANUAL_REVIEW" and "chain holds" in on_chain.reason
    absent = only(plan_of([fault], [nft_row(chain_read="missing", tx_err="Custom:1")]))
    assert absent.repair == "DB_STATUS_FROM_CHAIN"
    assert absent.target["set"]["status"] == "FAILED" and absent.before == {"status": "COMPLETED"}


def test_chain_success_creates_a_record_with_a_deterministic_id_or_marks_it_complete():
    no_row = finding("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", MINT, "DB_RECORD_FROM_CHAIN",
                     details={"case": "no_db_row"}, severity="critical")  # fmt: skip
    create = only(plan_of([no_row], [nft_row(op_id=None, db_status=None, db_metadata_uri=None, db_image_uri=None)]))
    values = create.target["create"]
    assert values["id"] == record_id_for(MINT) == create.target["op_id"]
    assert values | {"id": None} == {
        "id": None, "mint_address": MINT, "level": "Gold", "status": "COMPLETED", "metadata_uri": f"ipfs://{CID}",
        "image_uri": "ipfs://new-img", "transaction_signature": None, "user_wallet_address": "",
    }  # fmt: skip
    failed = finding("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", MINT, "DB_RECORD_FROM_CHAIN", details={"case": "db_failed"})
    mark = only(plan_of([failed], [nft_row(db_status="FAILED")]))
    assert mark.target["set"] == {"status": "COMPLETED", "failure_reason": None}
    unknown_level = only(plan_of([no_row], [nft_row(op_id=None, json_level=None)]))
    assert unknown_level.repair == "MANUAL_REVIEW"


# -- IPFS and source images -------------------------------------------------------------------
def test_repin_names_whole_cids_only():
    dsif = finding("DATABASE_SUCCESS_IPFS_FAILURE", MINT, "IPFS_REPIN_EXACT", severity="critical")
    action = only(plan_of([dsif], [nft_row(metadata_read="missing")]))
    assert action.target["objects"] == [{"cid": CID, "path": "", "role": "metadata", "level": None}]
    sub_path = only(plan_of([dsif], [nft_row(metadata_read="missing", metadata_path="/1.json")]))
    assert sub_path.repair == "MANUAL_REVIEW" and "sub-path" in sub_path.reason
    pin = only(plan_of([finding("IPFS_NOT_PINNED", CID, "IPFS_REPIN_EXACT", entity_type="cid")]))
    assert pin.target["objects"][0]["cid"] == CID


def test_restore_source_needs_a_backup_matching_the_registry():
    good = {"registry_hash": "ab" * 32, "backup_matches_registry": True, "status": "missing"}
    action = only(plan_of([finding("SOURCE_MISSING", "Gold", "RESTORE_SOURCE_FROM_BACKUP", entity_type="level",
                                   details=good)]))  # fmt: skip
    assert action.truth == {"level": "Gold", "registry_hash": "ab" * 32} and action.target == {"level": "Gold"}
    bad = good | {"backup_matches_registry": False}
    refused = only(plan_of([finding("SOURCE_MISSING", "Gold", "RESTORE_SOURCE_FROM_BACKUP", entity_type="level",
                                    details=bad)]))  # fmt: skip
    assert refused.repair == "MANUAL_REVIEW"


# -- block store ------------------------------------------------------------------------------
def block_finding(check_id: str, number: object, repair: str, **details: object) -> dict:
    return finding(check_id, number, repair, entity_type="block", details=details)


def test_rehydration_copies_the_best_valid_tier_and_never_overwrites_kv():
    missing_r2 = block_row(3, r2_status="missing", r2_core_sha256=None)
    action = only(plan_of([block_finding("BLOCK_TIER_MISSING", 3, "REHYDRATE_BLOCK")], blocks=[missing_r2]))
    assert action.target["tiers"] == ["r2"] and action.truth == {"source": "kv", "core_sha256": "core"}
    no_kv = block_row(4, kv_status="missing", kv_core_sha256=None, ipfs_status="unlocated", source_tier="r2")
    fill = only(plan_of([block_finding("BLOCK_TIER_MISSING", 4, "REHYDRATE_BLOCK")], blocks=[no_kv]))
    assert fill.target["tiers"] == ["kv", "ipfs"] and fill.truth["source"] == "r2"
    kv_differs = block_row(5, kv_core_sha256="other", source_tier="r2")
    manual = only(plan_of([block_finding("BLOCK_TIER_DIVERGENT", 5, "REHYDRATE_BLOCK")], blocks=[kv_differs]))
    assert manual.repair == "MANUAL_REVIEW" and "never overwritten" in manual.reason
    nothing_valid = block_row(6, r2_status="missing", source_tier=None)
    assert only(plan_of([block_finding("BLOCK_TIER_MISSING", 6, "REHYDRATE_BLOCK")],
                        blocks=[nothing_valid])).repair == "MANUAL_REVIEW"  # fmt: skip


def test_kv_pointers_and_the_destructive_pending_delete():
    blocks = [block_row(0), block_row(1), block_row(2)]
    plan = plan_of([
        block_finding("LATEST_POINTER_STALE", "vdc:latest", "REWRITE_LATEST_POINTER", latest=1, highest=2),
        finding("TX_INDEX_INCONSISTENT", "tx-a", "REWRITE_TX_INDEX", entity_type="tx", details={"held_in": [1]}),
        finding("TX_INDEX_INCONSISTENT", "tx-b", "REWRITE_TX_INDEX", entity_type="tx", details={"held_in": [0, 1]}),
        finding("PENDING_ALREADY_MINED", "tx-c", "DELETE_MINED_PENDING", entity_type="tx",
                details={"pending_key": "pending/tx-c.json", "mined_in": [2]}, severity="critical"),
        finding("PENDING_COUNT_DRIFT", "vdc:pending:count", "REWRITE_PENDING_COUNT", entity_type="kv_key",
                details={"count": 5, "queue": 3}),
    ], blocks=blocks)  # fmt: skip
    by_entity = {a.entity_id: a for a in plan_actions(plan)}
    assert by_entity["vdc:latest"].truth == {"blockNumber": 2, "hash": "h2"}
    assert by_entity["tx-a"].truth == {"blockNumber": 1, "blockHash": "h1"}
    assert by_entity["tx-b"].repair == "MANUAL_REVIEW"
    delete = by_entity["tx-c"]
    assert delete.destructive and delete.target["mined_in"] == {"2": "h2"}
    assert [a.destructive for a in plan_actions(plan)].count(True) == 1
    assert list(plan["repair"])[-2:] == ["REWRITE_PENDING_COUNT", "MANUAL_REVIEW"]  # the count after the delete


def test_an_unsound_frame_blocks_the_whole_plan():
    twice = [nft_row(), nft_row()]
    plan = plan_of([finding("CHAIN_URI_MISMATCH", MINT, "DB_UPDATE_URIS_FROM_CHAIN")], twice)
    assert plan.empty and plan.attrs["blocked"] == ["nft_consistency: (entity_type, entity_id) is not unique"]


# -- exact bytes ------------------------------------------------------------------------------
@pytest.mark.parametrize("version", [0, 1])
def test_pin_version_reproduces_the_cid_or_refuses(version):
    data = os.urandom(300_000)  # more than one chunk: a real DAG
    cid = str(unixfs_cid(data, cid_version=version))
    assert pin_version(cid, data) == version
    assert pin_version(str(unixfs_cid(data, cid_version=version).to_v1()), data) == version
    assert pin_version(cid, data + b"!") is None


def test_content_archive_keeps_only_verified_bytes(tmp_path):
    archive = ContentArchive.from_settings(SimpleNamespace(ipfs=SimpleNamespace(archive_dir=tmp_path / "a")))
    data = b'{"name": "x"}'
    cid = unixfs_cid(data)
    assert archive.put(str(cid), b"other bytes") is False and not archive.has(str(cid))
    assert archive.put(str(cid), data) is True and archive.put(str(cid), data) is True
    assert archive.get(str(cid)) == data == archive.get(str(cid.to_v1()))  # one file for both spellings
    stored = archive.path_for(archive_key(str(cid)))
    assert stored.read_bytes() == data and [p.name for p in stored.parent.iterdir()] == [stored.name]
    stored.write_bytes(b"rotted")
    assert archive.has(str(cid)) and archive.get(str(cid)) is None  # re-verified on read
    assert archive.put(str(cid), data) and archive.get(str(cid)) == data  # a good copy replaces it
    assert archive.get("not-a-cid") is None and archive.put("not-a-cid", data) is False


def test_bucket_archive_behind_the_same_interface():
    from reconcile_pipeline.repairs.archive import BucketArchive
    from reconcile_pipeline.sandbox.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server

    server = S3Server().start()
    try:
        server.create_bucket("archive-test")
        settings = Settings(
            blockstore={"r2_endpoint_url": server.url, "r2_region": REGION, "r2_access_key_id": ACCESS_KEY_ID,
                        "r2_secret_access_key": SECRET_ACCESS_KEY, "r2_bucket": "vdc"},
            repairs={"archive_bucket": "archive-test"},
        )  # fmt: skip
        archive = ContentArchive.from_settings(settings)
        assert isinstance(archive, BucketArchive) and archive.client.bucket == "archive-test"
        data, cid = b"block bytes", str(unixfs_cid(b"block bytes", cid_version=1))
        assert not archive.has(cid) and archive.get(cid) is None
        assert archive.put(cid, b"not it") is False and archive.put(cid, data) is True
        assert archive.has(cid) and archive.get(cid) == data
        key = BucketArchive.object_key(archive_key(cid))
        assert key.startswith("content-archive/") and archive.client.get_sync(key) == data
        archive.client.put_sync(key, b"rotted")
        assert archive.get(cid) is None
        archive.close()
    finally:
        server.stop()
