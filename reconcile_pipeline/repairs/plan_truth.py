"""Is the truth a repair copies from itself sound? (pure; issue 16)

A repair is automatic only when the truth it copies from passes every check of its own entity. The DB
repairs that copy from the chain and the IPFS metadata (a URI, the metadata's ``image``, a whole record)
copy what the chain account and the content it names say; if the same entity fails (or could not be judged
by) a check of that truth — the metadata is mutable or not ours, the JSON is invalid or names another level
than the DB, the image differs from the level's source, the partner flow breaks — the copy would make the
database agree with a suspect upstream, so the repair goes to manual review with the reason.

Repairs whose truth verifies itself (re-pins by CID, a backup matching the registry hash, a block copy that
validates) or is a transaction's status are not gated here: their planners check their own source.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

CHAIN_TRUTH_CHECKS = (
    "CHAIN_METADATA_MISSING",
    "CHAIN_METADATA_MUTABLE",
    "CHAIN_AUTHORITY_UNEXPECTED",
    "TX_FAILED_DB_CONFIRMED",
    "DATABASE_SUCCESS_IPFS_FAILURE",
    "IPFS_METADATA_INVALID",
    "IPFS_SOURCE_MISMATCH",
    "PARTNER_VERIFICATION_FAILED",
)
# repair code -> the checks of the entity that judge the truth it copies from
TRUTH_CHECKS: dict[str, tuple[str, ...]] = {
    "DB_UPDATE_URIS_FROM_CHAIN": CHAIN_TRUTH_CHECKS,
    "DB_UPDATE_IMAGE_URI_FROM_IPFS": CHAIN_TRUTH_CHECKS,
    "DB_RECORD_FROM_CHAIN": CHAIN_TRUTH_CHECKS,
}


class EntityFindings:
    """Every finding's (check_id, status) by (entity_type, entity_id): what else is known of an entity."""

    def __init__(self, findings: pd.DataFrame | None = None) -> None:
        self.by_entity: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        if findings is None or findings.empty:
            return
        gated = (findings["status"] == "fail") & findings["repair"].isin(list(TRUTH_CHECKS))
        wanted = findings.loc[gated, ["entity_type", "entity_id"]].astype(str).drop_duplicates()
        findings = findings[["entity_type", "entity_id", "check_id", "status"]].astype(str)
        findings = findings.merge(wanted, on=["entity_type", "entity_id"]) if len(wanted) else findings.iloc[:0]
        columns = (findings["entity_type"], findings["entity_id"].astype(str), findings["check_id"], findings["status"])
        for entity_type, entity_id, check_id, status in zip(*columns, strict=True):
            self.by_entity[(entity_type, entity_id)].append((check_id, status))

    def of(self, finding: dict) -> list[tuple[str, str]]:
        return self.by_entity.get((finding["entity_type"], str(finding["entity_id"])), [])


def suspect_truth(finding: dict, others: EntityFindings) -> str | None:
    """Why the truth ``finding``'s repair copies from is not sound (None: it passes every check of its entity)."""
    checks = TRUTH_CHECKS.get(finding["repair"])
    if not checks:
        return None
    seen = [(check, status) for check, status in others.of(finding) if check in checks and check != finding["check_id"]]
    failing = sorted({check for check, status in seen if status == "fail"})
    if failing:
        return f"the truth it would copy from fails {', '.join(failing)} on this entity: not copied into the database"
    unknown = sorted({check for check, status in seen if status == "unknown"})
    if unknown:
        return f"the truth it would copy from could not be verified ({', '.join(unknown)} unknown): not copied"
    return None
