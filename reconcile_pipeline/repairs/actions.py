"""What a repair action is: its codes, the layer it writes, its order, its idempotency key and stable id.

An :class:`Action` is one row of the plan. Its idempotency key is ``check|entity_type|entity|version``
where ``version`` hashes the truth the repair copies from (the on-chain URI, the source copy's core
SHA-256, the registry hash, ...): the same finding against the same truth is the same action, run after
run, so applying it twice is a no-op; a changed truth is a new action. ``action_id`` is a short hash of
the key: what operators name in ``--approve``. Manual actions (``MANUAL_REVIEW``) key on the finding
alone (one open review per check and entity).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

MANUAL = "MANUAL_REVIEW"
NO_ACTION = frozenset({"NONE", "RECHECK"})  # warnings and re-checks: nothing to write, a later run judges again
AS_MANUAL = frozenset({MANUAL, "MARK_GATEWAY_BAD"})  # a gateway serving wrong bytes is an operator's call

# repair code -> (layer written, phase): actions run in phase order (DB first, then files, IPFS, the block
# store's tiers, then the KV pointers derived from the blocks, the pending queue and, last, its count).
AUTOMATIC: dict[str, tuple[str, int]] = {
    "DB_RECORD_FROM_CHAIN": ("database", 10),
    "DB_STATUS_FROM_CHAIN": ("database", 11),
    "DB_MARK_FAILED": ("database", 11),
    "DB_UPDATE_URIS_FROM_CHAIN": ("database", 12),
    "DB_UPDATE_IMAGE_URI_FROM_IPFS": ("database", 13),
    "RESTORE_SOURCE_FROM_BACKUP": ("source_images", 20),
    "IPFS_REPIN_EXACT": ("ipfs", 30),
    "REHYDRATE_BLOCK": ("blockstore", 40),
    "REPIN_BLOCK_AND_UPDATE_KV": ("blockstore", 50),
    "REWRITE_TX_INDEX": ("kv", 60),
    "REWRITE_LATEST_POINTER": ("kv", 70),
    "DELETE_MINED_PENDING": ("r2", 80),
    "REWRITE_PENDING_COUNT": ("kv", 90),
}
MANUAL_PHASE = 99
PLAN_COLUMNS = [
    "action_id", "idempotency_key", "phase", "check_id", "entity_type", "entity_id", "repair", "layer",
    "destructive", "severity", "truth", "target", "before", "reason",
]  # fmt: skip
JSON_COLUMNS = ("truth", "target", "before")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def truth_version(truth: dict) -> str:
    return hashlib.sha256(canonical(truth).encode()).hexdigest()[:16]


def idempotency_key(check_id: str, entity_type: str, entity_id: str, version: str) -> str:
    return f"{check_id}|{entity_type}|{entity_id}|{version}"


def action_id_of(key: str) -> str:
    return "R" + hashlib.sha256(key.encode()).hexdigest()[:11]


@dataclass(frozen=True)
class Action:
    """One planned repair (``repair`` an automatic code) or a manual review (``repair`` MANUAL_REVIEW)."""

    check_id: str
    entity_type: str
    entity_id: str
    repair: str
    severity: str
    truth: dict = field(default_factory=dict)
    target: dict = field(default_factory=dict)
    before: dict = field(default_factory=dict)
    reason: str = ""
    destructive: bool = False

    @property
    def manual(self) -> bool:
        return self.repair == MANUAL

    @property
    def key(self) -> str:
        version = "" if self.manual else truth_version({"repair": self.repair, **self.truth})
        return idempotency_key(self.check_id, self.entity_type, self.entity_id, version)

    @property
    def action_id(self) -> str:
        return action_id_of(self.key)

    @property
    def layer(self) -> str | None:
        return AUTOMATIC[self.repair][0] if self.repair in AUTOMATIC else None

    @property
    def phase(self) -> int:
        return AUTOMATIC[self.repair][1] if self.repair in AUTOMATIC else MANUAL_PHASE

    def record(self) -> dict:
        """The plan row (JSON columns as text, so the plan round-trips through Parquet)."""
        return {
            "action_id": self.action_id, "idempotency_key": self.key, "phase": self.phase,
            "check_id": self.check_id, "entity_type": self.entity_type, "entity_id": self.entity_id,
            "repair": self.repair, "layer": self.layer, "destructive": self.destructive, "severity": self.severity,
            "truth": canonical(self.truth), "target": canonical(self.target), "before": canonical(self.before),
            "reason": self.reason,
        }  # fmt: skip

    @classmethod
    def from_record(cls, record: dict) -> Action:
        def parsed(value: Any) -> dict:
            return json.loads(value) if isinstance(value, str) else dict(value or {})

        return cls(
            check_id=record["check_id"], entity_type=record["entity_type"], entity_id=str(record["entity_id"]),
            repair=record["repair"], severity=record["severity"], truth=parsed(record["truth"]),
            target=parsed(record["target"]), before=parsed(record["before"]), reason=record.get("reason") or "",
            destructive=bool(record["destructive"]),
        )  # fmt: skip
