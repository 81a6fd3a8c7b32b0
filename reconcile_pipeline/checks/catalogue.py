"""The check catalogue of DESIGN §3: what each check is about, its default severity, truth and repair.

Repair codes name the automatic action the repair planner (issue 5) will take; ``MANUAL_REVIEW``
goes to a person; ``RECHECK`` re-verifies later; ``NONE`` is a warning with nothing to do.
A check may pick a sharper repair per finding (e.g. restore from backup only when the backup
matches the registry), but the default here is what the catalogue says. The repair a recorded finding
carries is the plan's (``repairs.plan.plan_finding``): a default the planner cannot make safe (no valid
source, the truth tier would be written, the truth to copy fails a check of its own entity) becomes
MANUAL_REVIEW with ``details.review_reason``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckSpec:
    check_id: str
    entity_type: str
    layers: tuple[str, ...]
    severity: str  # info | warning | critical
    truth: str  # the layer that wins
    repair: str
    summary: str


def _spec(check_id, entity_type, layers, severity, truth, repair, summary) -> tuple[str, CheckSpec]:
    return check_id, CheckSpec(check_id, entity_type, tuple(layers.split()), severity, truth, repair, summary)


CATALOGUE: dict[str, CheckSpec] = dict(
    [
        # source images
        _spec(
            "SOURCE_MISSING",
            "level",
            "source_images",
            "warning",
            "source_images",
            "RESTORE_SOURCE_FROM_BACKUP",
            "an expected level image is absent",
        ),
        _spec(
            "SOURCE_INVALID",
            "level",
            "source_images",
            "warning",
            "source_images",
            "MANUAL_REVIEW",
            "not a decodable PNG, over the size cap, dimensions out of bounds, or a decompression bomb",
        ),
        _spec(
            "SOURCE_REGISTRY_DRIFT",
            "level",
            "source_images database",
            "warning",
            "source_images",
            "MANUAL_REVIEW",
            "file SHA-256 differs from source_image_registry.file_hash, or no registry row",
        ),
        _spec(
            "SOURCE_MISSING_ACTIVE_NFT",
            "level",
            "source_images database",
            "critical",
            "source_images",
            "RESTORE_SOURCE_FROM_BACKUP",
            "an active NFT's level has no source image",
        ),
        # chain and database
        _spec(
            "CHAIN_METADATA_MISSING",
            "nft",
            "database solana",
            "critical",
            "solana",
            "MANUAL_REVIEW",
            "the DB says minted, the metadata account does not exist",
        ),
        _spec(
            "CHAIN_URI_MISMATCH",
            "nft",
            "database solana",
            "warning",
            "solana",
            "DB_UPDATE_URIS_FROM_CHAIN",
            "on-chain URI differs from the DB's metadata_uri",
        ),
        _spec(
            "CHAIN_METADATA_MUTABLE",
            "nft",
            "solana",
            "warning",
            "solana",
            "MANUAL_REVIEW",
            "is_mutable is true where policy says immutable",
        ),
        _spec(
            "CHAIN_AUTHORITY_UNEXPECTED",
            "nft",
            "solana",
            "critical",
            "solana",
            "MANUAL_REVIEW",
            "update authority is not ours",
        ),
        _spec(
            "TX_FAILED_DB_CONFIRMED",
            "nft",
            "database solana",
            "critical",
            "solana",
            "DB_STATUS_FROM_CHAIN",
            "the mint transaction failed or is unknown to the cluster while the DB says confirmed",
        ),
        _spec(
            "BLOCKCHAIN_SUCCESS_DATABASE_FAILURE",
            "nft",
            "database solana",
            "critical",
            "solana",
            "DB_RECORD_FROM_CHAIN",
            "chain has the NFT; DB has no row, or FAILED, or a stale pending state",
        ),
        _spec(
            "DB_PENDING_TX_FAILED",
            "nft",
            "database solana",
            "warning",
            "solana",
            "DB_MARK_FAILED",
            "DB pending, its transaction failed",
        ),
        _spec(
            "DB_STUCK_PENDING",
            "operation",
            "database",
            "warning",
            "database",
            "RECHECK",
            "a non-terminal state older than the timeout",
        ),
        _spec(
            "DB_DUPLICATE_MINT",
            "wallet_level",
            "database",
            "critical",
            "solana",
            "MANUAL_REVIEW",
            "more than one completed mint for one wallet and level",
        ),
        # IPFS
        _spec(
            "DATABASE_SUCCESS_IPFS_FAILURE",
            "nft",
            "database ipfs",
            "critical",
            "ipfs",
            "IPFS_REPIN_EXACT",
            "metadata JSON or image not retrievable from any gateway",
        ),
        _spec(
            "IPFS_METADATA_INVALID",
            "nft",
            "ipfs database",
            "critical",
            "solana",
            "MANUAL_REVIEW",
            "not JSON, required fields missing, level differs from the DB",
        ),
        _spec(
            "IPFS_SOURCE_MISMATCH",
            "nft",
            "ipfs source_images",
            "warning",
            "solana",
            "MANUAL_REVIEW",
            "image bytes differ from the level's source image",
        ),
        _spec(
            "IPFS_CID_INTEGRITY",
            "cid",
            "ipfs",
            "warning",
            "ipfs",
            "MARK_GATEWAY_BAD",
            "bytes served by a gateway do not hash to the CID",
        ),
        _spec(
            "IPFS_NOT_PINNED",
            "cid",
            "pinata",
            "warning",
            "ipfs",
            "IPFS_REPIN_EXACT",
            "the CID is not in the Pinata pin list",
        ),
        _spec(
            "IPFS_PROPAGATION_PARTIAL",
            "cid",
            "ipfs",
            "warning",
            "ipfs",
            "NONE",
            "reachable on fewer than k configured gateways",
        ),
        _spec(
            "DB_IPFS_REFERENCE_MISMATCH",
            "nft",
            "database ipfs",
            "warning",
            "ipfs",
            "DB_UPDATE_IMAGE_URI_FROM_IPFS",
            "DB image_uri differs from the metadata's image",
        ),
        _spec(
            "PARTNER_VERIFICATION_FAILED",
            "nft",
            "solana ipfs",
            "warning",
            "solana",
            "MANUAL_REVIEW",
            "a partner's flow fails: chain -> URI -> JSON -> level -> image",
        ),
        # block store
        _spec(
            "BLOCK_TIER_MISSING",
            "block",
            "kv r2 ipfs",
            "warning",
            "kv",
            "REHYDRATE_BLOCK",
            "absent from KV, R2 or IPFS (a number below the highest block that no tier holds: critical, manual)",
        ),
        _spec(
            "BLOCK_TIER_DIVERGENT",
            "block",
            "kv r2 ipfs",
            "critical",
            "kv",
            "REHYDRATE_BLOCK",
            "the tiers hold different bytes",
        ),
        _spec(
            "BLOCK_HASH_INVALID",
            "block",
            "kv",
            "critical",
            "kv",
            "MANUAL_REVIEW",
            "recomputed SHA-256 differs from hash, on the copy judged or on KV's own copy (tampering)",
        ),
        _spec(
            "BLOCK_CHAIN_BROKEN",
            "block",
            "kv",
            "critical",
            "kv",
            "MANUAL_REVIEW",
            "previousHash differs from block N-1's hash, or a gap in numbers",
        ),
        _spec(
            "BLOCK_MERKLE_INVALID", "block", "kv", "critical", "kv", "MANUAL_REVIEW",
            "recomputed Merkle root differs, on the copy judged or on KV's own copy (tampering)",
        ),
        _spec(
            "LATEST_POINTER_STALE",
            "kv_key",
            "kv",
            "warning",
            "kv",
            "REWRITE_LATEST_POINTER",
            "vdc:latest is not the highest persisted block",
        ),
        _spec(
            "BLOCK_IPFS_HASH_INVALID",
            "block",
            "kv ipfs",
            "warning",
            "kv",
            "REPIN_BLOCK_AND_UPDATE_KV",
            "ipfsHash missing, not a CID, a mock, or its bytes differ from the block",
        ),
        _spec(
            "TX_INDEX_INCONSISTENT",
            "tx",
            "kv",
            "warning",
            "kv",
            "REWRITE_TX_INDEX",
            "vdc:tx:ID names another block than the one holding the tx, or is missing",
        ),
        _spec(
            "PENDING_COUNT_DRIFT",
            "kv_key",
            "kv r2",
            "warning",
            "r2",
            "REWRITE_PENDING_COUNT",
            "vdc:pending:count differs from the number of pending/*.json",
        ),
        _spec(
            "PENDING_ALREADY_MINED",
            "tx",
            "kv r2",
            "critical",
            "kv",
            "DELETE_MINED_PENDING",
            "a pending tx is already in a persisted block (cleanup failed: double-mine risk)",
        ),
        _spec("PENDING_BACKLOG", "queue", "r2", "warning", "r2", "NONE", "more than the configured number pending"),
    ]
)

BLOCK_CHECKS = tuple(list(CATALOGUE)[list(CATALOGUE).index("BLOCK_TIER_MISSING") :])
NFT_CHECKS = tuple(check for check in CATALOGUE if check not in BLOCK_CHECKS)
DESTRUCTIVE_REPAIRS = frozenset({"DELETE_MINED_PENDING"})
