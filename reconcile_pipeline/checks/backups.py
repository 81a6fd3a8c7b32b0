"""Pure checks of one backup node against the primary's records (seed 003 "Backup Data Verification").

The primary's records are given as ``(id, seq, hash)`` in ``seq`` order. A node is judged through
``S = min(its through_seq, the primary's last seq)``: records written after its last sync are the currency
check's business, not completeness.

- ``stale``: its last sync is older than ``max_age_s`` (seed 003: one hour);
- ``incomplete``: its completeness digest through ``S`` is not the primary's (with the missing and foreign
  record ids when its listing was read);
- ``proof_invalid``: for a sample of records, the audit path it serves does not lead from the primary's record
  hash to a root equal to the primary's Merkle root through ``S`` (a wrong hash, index or sibling, another
  root, or a record it claims not to know).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..layers.backup_node import NodeStatus, ProofAnswer
from ..layers.chat_records import MerkleTree, completeness_digest, merkle_leaf, verify_proof

Row = tuple[str, int, str]


@dataclass(frozen=True)
class BackupVerdict:
    node: str
    problem: str  # stale | incomplete | proof_invalid
    details: dict = field(default_factory=dict)


def judged_through(status: NodeStatus, primary: Sequence[Row]) -> int:
    return min(status.through_seq, primary[-1][1] if primary else 0)


def _upto(primary: Sequence[Row], through: int) -> list[Row]:
    return [row for row in primary if row[1] <= through]


def check_currency(node: str, status: NodeStatus, now: datetime, max_age_s: float) -> list[BackupVerdict]:
    age = (now - status.last_sync).total_seconds()
    if age <= max_age_s:
        return []
    return [BackupVerdict(node, "stale", {"last_sync": status.last_sync.isoformat(), "age_s": round(age),
                                         "max_age_s": max_age_s})]  # fmt: skip


def check_completeness(
    node: str, digest: tuple[str, int], primary: Sequence[Row], through: int, listing: Sequence[Row] | None = None
) -> list[BackupVerdict]:
    expected = _upto(primary, through)
    if digest[0] == completeness_digest(row[2] for row in expected):
        return []
    details: dict = {"through_seq": through, "records": digest[1], "primary_records": len(expected)}
    if listing is not None:
        ours = {row[0]: row[2] for row in expected}
        theirs = {row[0]: row[2] for row in listing if row[1] <= through}
        details["missing_ids"] = sorted(ours.keys() - theirs.keys())
        details["foreign_ids"] = sorted(theirs.keys() - ours.keys())
        details["different_ids"] = sorted(k for k in ours.keys() & theirs.keys() if ours[k] != theirs[k])
    return [BackupVerdict(node, "incomplete", details)]


def check_proofs(node: str, answer: ProofAnswer, primary: Sequence[Row], sampled: Sequence[str]) -> list[BackupVerdict]:
    expected = _upto(primary, answer.through_seq)
    position = {row[0]: i for i, row in enumerate(expected)}
    root = MerkleTree([merkle_leaf(row[2]) for row in expected]).root
    served = {proof.id: proof for proof in answer.proofs}
    failing = {}
    for record_id in sampled:
        if record_id not in position:
            continue  # not the primary's (through S): nothing to prove
        proof = served.get(record_id)
        reason = _proof_problem(proof, expected[position[record_id]][2], position[record_id], answer.root, root)
        if reason:
            failing[record_id] = reason
    if not failing:
        return []
    return [BackupVerdict(node, "proof_invalid", {"through_seq": answer.through_seq, "failing": failing})]


def _proof_problem(proof: object, record_hash: str, index: int, node_root: bytes, primary_root: bytes) -> str | None:
    if proof is None:
        return "no proof served (the node says it does not hold the record)"
    if proof.hash != record_hash:
        return "the node's record hash differs from the primary's"
    if proof.index != index:
        return f"leaf index {proof.index}, the primary's is {index}"
    if not verify_proof(merkle_leaf(record_hash), proof.path, node_root):
        return "the audit path does not lead to the node's root"
    if node_root != primary_root:
        return "the node's Merkle root differs from the primary's"
    return None
