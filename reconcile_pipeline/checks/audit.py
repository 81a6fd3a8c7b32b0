"""The audit trail of seed 000: findings and passes as ``consistency_checks`` rows.

Each entity judged in a run gets, per check type (SOURCE_IMAGE, BLOCKCHAIN, IPFS,
PARTNER_VERIFICATION, BLOCK_STORE), one PASSED row when no check of that type found anything,
else one FAILED or UNKNOWN row per finding with the finding in ``details``. Pure: rows out; the
caller writes them with ``DatabaseClient.write_consistency_checks(rows, run_id=...)``.
"""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd

from .catalogue import BLOCK_CHECKS

STATUS = {"fail": "FAILED", "unknown": "UNKNOWN"}
NFT_CHECK_TYPES = ("SOURCE_IMAGE", "BLOCKCHAIN", "IPFS", "PARTNER_VERIFICATION")


def check_type(check_id: str) -> str:
    if check_id in BLOCK_CHECKS:
        return "BLOCK_STORE"
    if check_id.startswith("SOURCE_"):
        return "SOURCE_IMAGE"
    if check_id == "PARTNER_VERIFICATION_FAILED":
        return "PARTNER_VERIFICATION"
    if "IPFS" in check_id:
        return "IPFS"
    return "BLOCKCHAIN"


def _finding_rows(findings: pd.DataFrame, operation_ids: dict[tuple[str, str], str], checked_at: datetime) -> list:
    rows = []
    for finding in findings.to_dict("records"):
        key = (finding["entity_type"], str(finding["entity_id"]))
        details = json.loads(finding["details"]) if isinstance(finding["details"], str) else finding["details"]
        rows.append(
            {
                "operation_id": operation_ids.get(key),
                "check_type": check_type(finding["check_id"]),
                "status": STATUS[finding["status"]],
                "details": {
                    "severity": finding["severity"],
                    "truth": finding["truth"],
                    "repair": finding["repair"],
                    "layers": list(finding["layers"]),
                    **(details or {}),
                },
                "checked_at": checked_at,
                "check_id": finding["check_id"],
                "entity_type": finding["entity_type"],
                "entity_id": str(finding["entity_id"]),
            }
        )
    return rows


def audit_rows(
    findings: pd.DataFrame,
    entities: pd.DataFrame,
    checked_at: datetime,
) -> list[dict]:
    """``entities``: one row per judged entity (entity_type, entity_id, operation_id or None, domain nft|block)."""
    operation_ids = {
        (t, str(i)): op
        for t, i, op in zip(entities["entity_type"], entities["entity_id"], entities["operation_id"], strict=True)
        if isinstance(op, str)
    }
    rows = _finding_rows(findings, operation_ids, checked_at)
    flagged = {(row["entity_type"], row["entity_id"], row["check_type"]) for row in rows}
    for entity in entities.to_dict("records"):
        types = ("BLOCK_STORE",) if entity["domain"] == "block" else NFT_CHECK_TYPES
        for kind in types:
            if (entity["entity_type"], str(entity["entity_id"]), kind) not in flagged:
                rows.append(
                    {
                        "operation_id": entity["operation_id"] if isinstance(entity["operation_id"], str) else None,
                        "check_type": kind,
                        "status": "PASSED",
                        "details": None,
                        "checked_at": checked_at,
                        "check_id": None,
                        "entity_type": entity["entity_type"],
                        "entity_id": str(entity["entity_id"]),
                    }
                )
    return rows
