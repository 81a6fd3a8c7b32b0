"""Pure: a :class:`~..snapshots.chat.ChatSnapshot` -> findings of the CHAT checks (seed 003).

Each finding is ``{check_id, entity_type, entity_id, status, details}``; ``status`` is ``fail``, or ``unknown``
when the copy a check needs could not be read (never failed: a replica that could not be read is not a replica
missing every row). Entities: ``replica_row`` (``replica:record``), ``replica``, ``chat_record``,
``backup_node``.
"""

from __future__ import annotations

from datetime import datetime

from ..snapshots.chat import ChatSnapshot, NodeRead
from .backups import check_completeness, check_currency, check_proofs, judged_through
from .hash_chain import verify_chain

REPLICA_CHECKS = ("REPLICA_ROW_MISSING", "REPLICA_ROW_EXTRA", "REPLICA_ROW_DIFFERENT", "REPLICA_LAG")
BACKUP_CHECKS = ("BACKUP_INCOMPLETE", "BACKUP_STALE", "BACKUP_PROOF_INVALID")
_BACKUP_PROBLEMS = {"incomplete": "BACKUP_INCOMPLETE", "stale": "BACKUP_STALE", "proof_invalid": "BACKUP_PROOF_INVALID"}


def _finding(check_id: str, entity_type: str, entity_id: str, status: str = "fail", **details: object) -> dict:
    return {"check_id": check_id, "entity_type": entity_type, "entity_id": entity_id, "status": status,
            "details": details}  # fmt: skip


def chat_findings(snapshot: ChatSnapshot, *, now: datetime, max_backup_age_s: float) -> list[dict]:
    if snapshot.primary_error is not None:
        reason = str(snapshot.primary_error)
        return [_finding(check, "chat_store", "*", "unknown", reason=f"primary: {reason}")
                for check in ("HASH_CHAIN_BROKEN", *REPLICA_CHECKS, *BACKUP_CHECKS)]  # fmt: skip
    return [*_chain_findings(snapshot), *_replica_findings(snapshot),
            *(f for node in snapshot.nodes for f in _node_findings(node, snapshot, now, max_backup_age_s))]  # fmt: skip


def _chain_findings(snapshot: ChatSnapshot) -> list[dict]:
    return [_finding("HASH_CHAIN_BROKEN", "chat_record", b.record_id, seq=b.seq, reason=b.reason,
                     affected=list(b.affected), affected_count=len(b.affected))
            for b in verify_chain(snapshot.chain).breaks]  # fmt: skip


def _replica_findings(snapshot: ChatSnapshot) -> list[dict]:
    out = []
    for report in snapshot.replicas:
        if not report.readable:
            out += [_finding(check, "replica", report.name, "unknown", reason=str(report.error))
                    for check in REPLICA_CHECKS]  # fmt: skip
            continue
        row = f"{report.name}:{{}}"
        out += [_finding("REPLICA_ROW_MISSING", "replica_row", row.format(k)) for k in report.missing]
        out += [_finding("REPLICA_ROW_EXTRA", "replica_row", row.format(k)) for k in report.extra]
        out += [_finding("REPLICA_ROW_DIFFERENT", "replica_row", row.format(k), columns=cols)
                for k, cols in report.different.items()]  # fmt: skip
        if report.lagging:
            out.append(_finding("REPLICA_LAG", "replica", report.name, rows=len(report.lagging),
                                ids=report.lagging[:50], high_water=report.high_water))  # fmt: skip
    return out


def _node_findings(node: NodeRead, snapshot: ChatSnapshot, now: datetime, max_age_s: float) -> list[dict]:
    if node.error is not None or node.status is None:
        return [_finding(check, "backup_node", node.name, "unknown", reason=str(node.error))
                for check in BACKUP_CHECKS]  # fmt: skip
    primary = snapshot.primary_rows
    verdicts = check_currency(node.name, node.status, now, max_age_s)
    through = judged_through(node.status, primary)
    incomplete = [] if node.digest is None else check_completeness(
        node.name, node.digest, primary, through, node.listing
    )
    verdicts += incomplete
    complete = node.digest is not None and not incomplete
    if node.proofs is not None and complete:  # an incomplete node's root differs anyway: one finding, not two
        verdicts += check_proofs(node.name, node.proofs, primary, node.sampled)
    return [_finding(_BACKUP_PROBLEMS[v.problem], "backup_node", v.node, **v.details) for v in verdicts]
