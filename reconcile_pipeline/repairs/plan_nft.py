"""Planners of the NFT repairs (pure): a failing finding and its ``nft_consistency`` row -> an Action.

Each planner takes the finding (a dict), the joined row of its entity (a dict, None values for NA; None
if the frame has no row for it) and the settings, and returns an :class:`Action`: the automatic repair
with the truth it copies, the target, the compare-and-set ``before``, or a manual review saying why not.

- DB from the chain (the truth for "was it minted" and the URI; seed 000 "Blockchain-Database
  Reconciliation"): create a record, mark complete, mark failed, update URIs. A transaction that failed
  while the chain *has* the NFT is not "mark failed" (that would contradict the chain): manual.
- Re-pin exact bytes (IPFS_REPIN_EXACT): the objects no gateway serves (or Pinata does not pin), whole
  CIDs only (a sub-path cannot be re-pinned byte-exactly).
- Restore a source image from its backup, checked against the registry hash.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from ..checks.nft_join_ipfs import ref_key
from ..layers.cid import DAG_PB, RAW, SHA2_256, parse_cid
from ..layers.errors import DecodeError
from .actions import MANUAL, Action

Planner = Callable[[dict, dict | None, object], Action]
RECORD_NAMESPACE = uuid.UUID("6f0c8a57-6d1c-4f5e-9a55-1c0e3b7d2a11")
GONE = ("missing", "invalid")
DB_FIELDS = {"status": "db_status", "metadata_uri": "db_metadata_uri", "image_uri": "db_image_uri"}


def finding_details(finding: dict) -> dict:
    details = finding.get("details")
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            return {}
    return details if isinstance(details, dict) else {}


def manual(finding: dict, reason: str) -> Action:
    return Action(finding["check_id"], finding["entity_type"], str(finding["entity_id"]), MANUAL,
                  finding["severity"], reason=reason)  # fmt: skip


def automatic(finding: dict, truth: dict, target: dict, before: dict, reason: str, **extra: object) -> Action:
    return Action(finding["check_id"], finding["entity_type"], str(finding["entity_id"]), finding["repair"],
                  finding["severity"], truth, target, before, reason, **extra)  # fmt: skip


def record_id_for(mint: str) -> str:
    """The id of a minting_operations row created from the chain: deterministic, so a retry cannot duplicate it."""
    return str(uuid.uuid5(RECORD_NAMESPACE, f"minting_operations:{mint}"))


def _db_update(finding: dict, row: dict, updates: dict, truth: dict, reason: str) -> Action:
    before = {column: row.get(DB_FIELDS[column]) for column in updates if column in DB_FIELDS}
    target = {"op_id": row["op_id"], "mint": row.get("mint"), "set": updates}
    return automatic(finding, truth, target, before, reason)


def _needs_db_row(finding: dict, row: dict | None) -> Action | None:
    if row is None:
        return manual(finding, "no joined row for this entity in nft_consistency")
    if not row.get("op_id"):
        return manual(finding, "no database row to update")
    return None


def plan_uris_from_chain(finding: dict, row: dict | None, settings: object) -> Action:
    if (blocked := _needs_db_row(finding, row)) or not row.get("chain_uri"):
        return blocked or manual(finding, "the on-chain URI is not known")
    uri = row["chain_uri"]
    return _db_update(finding, row, {"metadata_uri": uri}, {"chain_uri": uri}, "set metadata_uri to the on-chain URI")


def plan_status_from_chain(finding: dict, row: dict | None, settings: object) -> Action:
    """TX_FAILED_DB_CONFIRMED: mark FAILED only when the chain has no metadata account for the mint either."""
    if blocked := _needs_db_row(finding, row):
        return blocked
    if row.get("chain_read") != "missing":
        return manual(finding, "the chain holds this NFT's metadata account although the recorded mint transaction "
                               "failed or is unknown: find the transaction that minted it")  # fmt: skip
    problem = "failed" if row.get("tx_read") == "ok" else "is unknown to the cluster"
    reason = f"mint transaction {problem} ({row.get('tx_err') or 'no error given'}); no metadata account on chain"
    truth = {"tx_signature": row.get("db_tx_signature"), "tx_read": row.get("tx_read"), "chain_read": "missing"}
    return _db_update(finding, row, {"status": "FAILED", "failure_reason": reason}, truth, "mark FAILED: " + reason)


def plan_mark_failed(finding: dict, row: dict | None, settings: object) -> Action:
    if blocked := _needs_db_row(finding, row):
        return blocked
    reason = f"mint transaction failed on chain ({row.get('tx_err') or 'no error given'})"
    truth = {"tx_signature": row.get("db_tx_signature"), "tx_succeeded": False}
    return _db_update(finding, row, {"status": "FAILED", "failure_reason": reason}, truth, "mark FAILED: " + reason)


def _verified_image(row: dict) -> bool:
    """The metadata's image may be written to the DB only if it names IPFS content that was read and verified:
    never copy a URL the policy refused (an attacker's host, a non-IPFS scheme) into the platform's records."""
    return bool(row.get("json_image")) and ref_key(row["json_image"]) is not None and row.get("image_read") == "ok"


def plan_image_uri_from_ipfs(finding: dict, row: dict | None, settings: object) -> Action:
    if (blocked := _needs_db_row(finding, row)) or not _verified_image(row):
        return blocked or manual(finding, "the metadata's image is not a verified IPFS reference")
    truth = {"metadata_cid": row.get("metadata_cid"), "json_image": row["json_image"]}
    return _db_update(finding, row, {"image_uri": row["json_image"]}, truth, "set image_uri to the metadata's image")


def plan_record_from_chain(finding: dict, row: dict | None, settings: object) -> Action:
    """BLOCKCHAIN_SUCCESS_DATABASE_FAILURE: create the missing row, or mark a FAILED / stale pending row COMPLETED."""
    if row is None or not row.get("chain_uri"):
        return manual(finding, "the on-chain URI is not known")
    case = finding_details(finding).get("case")
    truth = {"mint": row.get("mint"), "chain_uri": row["chain_uri"], "case": case}
    if case == "no_db_row":
        return _plan_create(finding, row, truth, settings)
    if not row.get("op_id"):
        return manual(finding, f"case {case!r} without a database row")
    updates = {"status": "COMPLETED", "failure_reason": None}
    if not row.get("db_metadata_uri"):
        updates["metadata_uri"] = row["chain_uri"]
    if not row.get("db_image_uri") and _verified_image(row):
        updates["image_uri"] = row["json_image"]
    return _db_update(finding, row, updates, truth, f"mark COMPLETED ({case}): the chain has the NFT")


def _plan_create(finding: dict, row: dict, truth: dict, settings: object) -> Action:
    level, levels = row.get("json_level"), list(settings.source_images.supported_levels)
    if level not in levels:
        return manual(finding, f"cannot create the record: the metadata's level {level!r} is not a supported level")
    values = {
        "id": record_id_for(row["mint"]), "mint_address": row["mint"], "level": level, "status": "COMPLETED",
        "metadata_uri": row["chain_uri"], "image_uri": row.get("json_image"), "transaction_signature": None,
        "user_wallet_address": "",  # the metadata account does not name the owner: left empty for a person
    }  # fmt: skip
    target = {"op_id": values["id"], "mint": row["mint"], "create": values}
    reason = "create the minting_operations row from the chain (owner wallet and signature unknown: left empty)"
    return automatic(finding, truth, target, {"row": None}, reason)


# -- IPFS --------------------------------------------------------------------------------------
def _repinnable(cid: str) -> str | None:
    """Why ``cid`` cannot be re-pinned byte-exactly (None if it can)."""
    try:
        parsed = parse_cid(cid)
    except DecodeError as exc:
        return f"not a CID: {exc.reason}"
    if parsed.hash_code != SHA2_256 or parsed.codec not in (RAW, DAG_PB):
        return "only sha2-256 raw or dag-pb (UnixFS file) CIDs can be rebuilt from bytes"
    return None


def _objects(finding: dict, row: dict | None) -> list[dict]:
    if finding["entity_type"] == "cid":
        cid, _, path = str(finding["entity_id"]).partition("/")
        return [{"cid": cid, "path": "/" + path if path else "", "role": None, "level": None}]
    if row is None:
        return []
    wanted = []
    if row.get("metadata_read") in GONE:
        wanted.append({"cid": row.get("metadata_cid"), "path": row.get("metadata_path") or "", "role": "metadata"})
    if row.get("metadata_read") == "ok" and row.get("image_read") in GONE:
        wanted.append({"cid": row.get("image_cid"), "path": row.get("image_path") or "", "role": "image"})
    return [obj | {"level": row.get("check_level") if obj["role"] == "image" else None} for obj in wanted]


def plan_repin(finding: dict, row: dict | None, settings: object) -> Action:
    objects = [obj for obj in _objects(finding, row) if obj["cid"]]
    if not objects:
        return manual(finding, "no retrievable-by-CID object to re-pin was identified")
    for obj in objects:
        problem = "a sub-path of a directory cannot be re-pinned byte-exactly" if obj["path"] else None
        if problem := problem or _repinnable(obj["cid"]):
            return manual(finding, f"{obj['cid']}{obj['path']}: {problem}")
    truth = {"cids": sorted(obj["cid"] for obj in objects)}
    before = {"objects": [{"cid": o["cid"], "role": o["role"]} for o in objects]}
    if row is not None:
        before |= {"metadata_read": row.get("metadata_read"), "image_read": row.get("image_read")}
    reason = "re-pin the exact bytes (content archive, a gateway's verified copy or the source image) by CID"
    return automatic(finding, truth, {"objects": objects}, before, reason)


# -- source images -----------------------------------------------------------------------------
def plan_restore_source(finding: dict, row: dict | None, settings: object) -> Action:
    details = finding_details(finding)
    registry_hash = details.get("registry_hash")
    if not registry_hash or not details.get("backup_matches_registry"):
        return manual(finding, "no backup whose SHA-256 equals the registry hash")
    truth = {"level": finding["entity_id"], "registry_hash": registry_hash}
    before = {"status": details.get("status"), "sha256": details.get("sha256")}
    reason = "restore the level image from the backup (its SHA-256 equals the registry's)"
    return automatic(finding, truth, {"level": str(finding["entity_id"])}, before, reason)


NFT_PLANNERS: dict[str, Planner] = {
    "DB_UPDATE_URIS_FROM_CHAIN": plan_uris_from_chain,
    "DB_STATUS_FROM_CHAIN": plan_status_from_chain,
    "DB_RECORD_FROM_CHAIN": plan_record_from_chain,
    "DB_MARK_FAILED": plan_mark_failed,
    "DB_UPDATE_IMAGE_URI_FROM_IPFS": plan_image_uri_from_ipfs,
    "IPFS_REPIN_EXACT": plan_repin,
    "RESTORE_SOURCE_FROM_BACKUP": plan_restore_source,
}
