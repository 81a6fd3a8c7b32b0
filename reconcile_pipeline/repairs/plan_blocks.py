"""Planners of the block-store repairs (pure; seed 004's rehydration): a finding and ``block_consistency`` -> Action.

- REHYDRATE_BLOCK: copy the best valid tier (KV > R2 > IPFS, ``source_tier``) into the tiers that miss the
  block or hold other bytes. KV is the truth: a missing KV block may be filled from a valid R2/IPFS copy
  (seed 004 restores KV from R2 or IPFS), an existing KV block's core is never overwritten (manual).
- REPIN_BLOCK_AND_UPDATE_KV: pin the KV copy's core and point KV's ``ipfsHash``/``ipfsGatewayUrl`` at it
  (the documented exception to "never write KV's block": only those two fields change).
- REWRITE_LATEST_POINTER, REWRITE_TX_INDEX, REWRITE_PENDING_COUNT: KV values derived from the blocks
  and the queue. DELETE_MINED_PENDING (destructive: needs approval) deletes a pending copy whose
  transaction a valid persisted block holds.
"""

from __future__ import annotations

from collections.abc import Callable

from ..checks.block_join import MISSING, PRESENT, TIERS
from .actions import Action
from .plan_nft import automatic, finding_details, manual

BlockPlanner = Callable[[dict, "BlockEvidence", object], Action]


class BlockEvidence:
    """``block_consistency`` rows by block number (dicts, NA as None) and the highest block's row."""

    def __init__(self, rows: dict[int, dict]) -> None:
        self.rows = rows

    def get(self, number: object) -> dict | None:
        try:
            return self.rows.get(int(number))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None

    def highest(self) -> dict | None:
        return self.rows[max(self.rows)] if self.rows else None


def _tier_facts(row: dict) -> dict:
    return {tier: {"status": row.get(f"{tier}_status"), "core_sha256": row.get(f"{tier}_core_sha256")}
            for tier in TIERS}  # fmt: skip


def plan_rehydrate(finding: dict, evidence: BlockEvidence, settings: object) -> Action:
    row = evidence.get(finding["entity_id"])
    source = row.get("source_tier") if row else None
    if source is None:
        return manual(finding, "no tier holds a copy that validates (hash and Merkle root): nothing to copy from")
    core = row[f"{source}_core_sha256"]
    differs = {t for t in TIERS if row.get(f"{t}_status") == PRESENT and row.get(f"{t}_core_sha256") != core}
    if "kv" in differs:
        return manual(finding, "KV (the truth) holds other bytes than the valid copy: never overwritten automatically")
    tiers = [t for t in TIERS if t in differs or row.get(f"{t}_status") == MISSING]
    if row.get("kv_status") == MISSING and "ipfs" not in tiers:
        tiers.append("ipfs")  # the new KV block names an ipfsHash: make sure those bytes are pinned
    if not tiers:
        return manual(finding, "no tier is known to lack the block (the others could not be read)")
    truth = {"source": source, "core_sha256": core}
    target = {"block_number": int(row["block_number"]), "tiers": tiers, "kv_ipfs_hash": row.get("kv_ipfs_hash")}
    reason = f"copy block {row['block_number']} from {source} (validated) into {', '.join(tiers)}"
    return automatic(finding, truth, target, {"tiers": _tier_facts(row)}, reason)


def plan_repin_block(finding: dict, evidence: BlockEvidence, settings: object) -> Action:
    row = evidence.get(finding["entity_id"])
    if row is None or row.get("source_tier") != "kv":
        return manual(finding, "the KV copy does not validate: its ipfsHash is not updated automatically")
    truth = {"core_sha256": row["kv_core_sha256"]}
    before = {"ipfsHash": row.get("kv_ipfs_hash"), "ipfs_status": row.get("ipfs_status")}
    reason = "pin the KV block's core bytes and set KV's ipfsHash/ipfsGatewayUrl to their CID"
    return automatic(finding, truth, {"block_number": int(row["block_number"])}, before, reason)


def plan_latest_pointer(finding: dict, evidence: BlockEvidence, settings: object) -> Action:
    row = evidence.highest()
    if row is None or row.get("source_tier") is None or not row.get("ref_hash"):
        return manual(finding, "the highest block has no copy that validates")
    truth = {"blockNumber": int(row["block_number"]), "hash": row["ref_hash"]}
    before = {key: value for key, value in finding_details(finding).items() if key != "problem"}
    return automatic(finding, truth, truth, before, f"point vdc:latest at block {row['block_number']}")


def plan_tx_index(finding: dict, evidence: BlockEvidence, settings: object) -> Action:
    details = finding_details(finding)
    held = details.get("held_in") or []
    if len(held) != 1:
        why = "the transaction is in several blocks" if held else "the index names a block without the transaction"
        return manual(finding, why)
    row = evidence.get(held[0])
    if row is None or not row.get("ref_hash"):
        return manual(finding, f"block {held[0]} has no readable copy")
    truth = {"blockNumber": int(held[0]), "blockHash": row["ref_hash"]}
    before = {"index_block": details.get("index_block"), "problem": details.get("problem")}
    return automatic(finding, truth, truth | {"tx_id": str(finding["entity_id"])}, before,
                     f"point vdc:tx:{finding['entity_id']} at block {held[0]}")  # fmt: skip


def plan_pending_count(finding: dict, evidence: BlockEvidence, settings: object) -> Action:
    details = finding_details(finding)
    truth = {"queue": details.get("queue")}
    reason = "set vdc:pending:count to the number of pending/*.json (counted again when applied)"
    return automatic(finding, truth, {}, {"count": details.get("count")}, reason)


def plan_delete_pending(finding: dict, evidence: BlockEvidence, settings: object) -> Action:
    details = finding_details(finding)
    blocks = [evidence.get(n) for n in details.get("mined_in") or []]
    valid = [row for row in blocks if row is not None and row.get("source_tier")]
    if not valid or not details.get("pending_key"):
        return manual(finding, "no valid persisted block holds this transaction: the pending copy may be the only one")
    mined = {str(int(row["block_number"])): row["ref_hash"] for row in valid}
    truth = {"pending_key": details["pending_key"], "mined_in": mined}
    target = {"pending_key": details["pending_key"], "tx_id": str(finding["entity_id"]), "mined_in": mined}
    reason = f"delete {details['pending_key']}: its transaction is in block(s) {', '.join(mined)} (needs approval)"
    return automatic(finding, truth, target, {"pending_key": details["pending_key"]}, reason, destructive=True)


BLOCK_PLANNERS: dict[str, BlockPlanner] = {
    "REHYDRATE_BLOCK": plan_rehydrate,
    "REPIN_BLOCK_AND_UPDATE_KV": plan_repin_block,
    "REWRITE_LATEST_POINTER": plan_latest_pointer,
    "REWRITE_TX_INDEX": plan_tx_index,
    "REWRITE_PENDING_COUNT": plan_pending_count,
    "DELETE_MINED_PENDING": plan_delete_pending,
}
