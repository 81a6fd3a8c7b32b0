"""Inject the NFT faults of the DESIGN §3 catalogue into a clean :class:`WorldData`.

Each injector mutates the world and returns manifest entries: the fault, its victim and
**every** finding the pipeline must produce for it (a fault that breaks the partner flow also
expects PARTNER_VERIFICATION_FAILED). Victims are distinct, so findings never overlap. The
rules that keep one cause to one finding (and that the checks must follow):

- IPFS_SOURCE_MISMATCH is only judged where the level's source image is valid and matches
  the registry (else the SOURCE_* finding already covers it);
- SOURCE_REGISTRY_DRIFT is only judged on a decodable image (else SOURCE_INVALID);
- DB_STUCK_PENDING is only said when no sharper diagnosis (DB_PENDING_TX_FAILED,
  BLOCKCHAIN_SUCCESS_DATABASE_FAILURE) applies;
- IPFS checks follow the on-chain URI (the truth) and fall back to the DB's when the chain
  has no account.
"""

from __future__ import annotations

from collections.abc import Callable

from .images import render_level_image
from .nft_world import add_content, compact_json, image_cid_for, make_nft, metadata_document, metadata_uri
from .worlddata import SPARE_LEVEL, NftRecord, WorldData, fake_pubkey, fake_uuid, finding

FAILED_TX_ERR = {"InstructionError": [0, {"Custom": 1}]}


class NoVictim(LookupError):
    """The world is too small to hold this fault; the manifest lists it as skipped."""


class VictimPicker:
    """Hands out distinct NFTs, optionally of one level."""

    def __init__(self, world: WorldData) -> None:
        self.world = world
        self.used: set[int] = set()

    def take(self, level: str | None = None) -> NftRecord:
        for nft in self.world.nfts:
            if nft.index not in self.used and (level is None or nft.level == level):
                self.used.add(nft.index)
                return nft
        raise NoVictim(f"no unused NFT{' of level ' + level if level else ''} left")


def entry(fault: str, entity_type: str, entity_id: object, description: str, *findings: dict) -> dict:
    return {
        "fault": fault,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "description": description,
        "expected_findings": list(findings),
    }


def nft_entry(fault: str, nft: NftRecord, description: str, *extra: str) -> dict:
    checks = [fault, *extra]
    return entry(fault, "nft", nft.mint, description, *(finding(c, "nft", nft.mint) for c in checks))


def _replace_metadata(world: WorldData, nft: NftRecord, document: dict) -> None:
    world.content.pop(nft.json_cid, None)
    world.pins.pop(nft.json_cid, None)
    nft.metadata = document
    nft.json_bytes = compact_json(document)
    nft.json_cid = add_content(world, nft.json_bytes, f"{nft.name}.json")
    nft.uri = metadata_uri(nft.json_cid, nft.index)


# -- source images ---------------------------------------------------------------------------
def source_missing(world: WorldData, _: VictimPicker) -> list[dict]:
    world.source_files[SPARE_LEVEL] = None
    return [
        entry(
            "SOURCE_MISSING",
            "level",
            SPARE_LEVEL,
            "spare level image deleted",
            finding("SOURCE_MISSING", "level", SPARE_LEVEL),
        )
    ]


def source_missing_active(world: WorldData, _: VictimPicker) -> list[dict]:
    world.source_files["Gold"] = None
    return [
        entry(
            "SOURCE_MISSING_ACTIVE_NFT",
            "level",
            "Gold",
            "image of a level with active NFTs deleted",
            finding("SOURCE_MISSING", "level", "Gold"),
            finding("SOURCE_MISSING_ACTIVE_NFT", "level", "Gold"),
        )
    ]


def source_invalid(world: WorldData, _: VictimPicker) -> list[dict]:
    image = world.source_files["Silver"] or b""
    world.source_files["Silver"] = image[: len(image) // 2]
    return [
        entry(
            "SOURCE_INVALID",
            "level",
            "Silver",
            "image truncated to half its bytes",
            finding("SOURCE_INVALID", "level", "Silver"),
        )
    ]


def source_registry_drift(world: WorldData, _: VictimPicker) -> list[dict]:
    world.source_files["Bronze"] = render_level_image("Bronze", size=300)
    return [
        entry(
            "SOURCE_REGISTRY_DRIFT",
            "level",
            "Bronze",
            "image replaced by another valid PNG",
            finding("SOURCE_REGISTRY_DRIFT", "level", "Bronze"),
        )
    ]


# -- chain and database ----------------------------------------------------------------------
def chain_metadata_missing(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    nft.on_chain = False
    return [
        nft_entry(
            "CHAIN_METADATA_MISSING", nft, "metadata account absent, DB says COMPLETED", "PARTNER_VERIFICATION_FAILED"
        )
    ]


def chain_uri_mismatch(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    stale = dict(nft.metadata, description=nft.metadata["description"] + " (retry)")
    stale_cid = add_content(world, compact_json(stale), f"{nft.name} (retry).json")
    nft.db_overrides["metadata_uri"] = f"ipfs://{stale_cid}"
    return [nft_entry("CHAIN_URI_MISMATCH", nft, "DB metadata_uri names a stale upload")]


def chain_mutable(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    nft.is_mutable = True
    return [nft_entry("CHAIN_METADATA_MUTABLE", nft, "is_mutable true")]


def chain_authority(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    nft.update_authority = fake_pubkey(world.spec.seed, "intruder")
    return [nft_entry("CHAIN_AUTHORITY_UNEXPECTED", nft, "update authority is not ours")]


def tx_failed_db_confirmed(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    nft.tx_err = FAILED_TX_ERR
    return [nft_entry("TX_FAILED_DB_CONFIRMED", nft, "mint transaction failed, DB says COMPLETED")]


def chain_success_db_failure(world: WorldData, pick: VictimPicker) -> list[dict]:
    no_row, failed = pick.take(), pick.take()
    no_row.in_db = False
    failed.status = "FAILED"
    return [
        nft_entry("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", no_row, "minted on chain, no DB row"),
        nft_entry("BLOCKCHAIN_SUCCESS_DATABASE_FAILURE", failed, "minted on chain, DB says FAILED"),
    ]


def db_pending_tx_failed(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    nft.status, nft.tx_err, nft.on_chain, nft.age_s = "BLOCKCHAIN_SUBMITTED", FAILED_TX_ERR, False, 60
    return [nft_entry("DB_PENDING_TX_FAILED", nft, "DB BLOCKCHAIN_SUBMITTED, transaction failed")]


def db_stuck_pending(world: WorldData, _: VictimPicker) -> list[dict]:
    op_id = fake_uuid(world.spec.seed, "stuck-op")
    from datetime import timedelta

    stale = world.now - timedelta(hours=2)
    world.extra_ops.append(
        {
            "id": op_id,
            "user_wallet_address": fake_pubkey(world.spec.seed, "stuck-wallet"),
            "level": "Bronze",
            "source_image_path": "assets/images/Bronze.png",
            "status": "IPFS_UPLOADED",
            "transaction_signature": None,
            "mint_address": None,
            "metadata_uri": None,
            "image_uri": None,
            "created_at": stale,
            "updated_at": stale,
            "verified_at": None,
            "failure_reason": None,
            "retry_count": 0,
        }
    )
    return [
        entry(
            "DB_STUCK_PENDING",
            "operation",
            op_id,
            "IPFS_UPLOADED for two hours, no transaction",
            finding("DB_STUCK_PENDING", "operation", op_id),
        )
    ]


# faults that add an NFT to the world (so a world has more NFTs than asked): why, for `world up` to say
ADDS_NFTS = {"DB_DUPLICATE_MINT": "a second completed mint for one wallet and level"}


def db_duplicate_mint(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    twin = make_nft(world, 10_000 + nft.index, nft.level, nft.image_cid, wallet=nft.wallet)
    world.nfts.append(twin)
    pick.used.add(twin.index)
    key = f"{nft.wallet}:{nft.level}"
    return [
        entry(
            "DB_DUPLICATE_MINT",
            "wallet_level",
            key,
            "a second completed mint for one wallet and level",
            finding("DB_DUPLICATE_MINT", "wallet_level", key),
        )
    ]


# -- IPFS ------------------------------------------------------------------------------------
def db_success_ipfs_failure(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    world.content.pop(nft.json_cid)
    return [
        nft_entry(
            "DATABASE_SUCCESS_IPFS_FAILURE",
            nft,
            "metadata JSON on no gateway (pin kept)",
            "PARTNER_VERIFICATION_FAILED",
        )
    ]


def ipfs_metadata_invalid(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    other = next(level for level in world.levels if level not in (nft.level, SPARE_LEVEL))
    document = metadata_document(nft.name, other, nft.image_uri)
    _replace_metadata(world, nft, document)
    return [nft_entry("IPFS_METADATA_INVALID", nft, f"metadata says level {other}, DB says {nft.level}")]


def ipfs_source_mismatch(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take(level="Platinum")
    other_image = render_level_image("Platinum", size=200)
    nft.image_cid = add_content(world, other_image, f"{nft.name}.png")
    nft.image_uri = f"ipfs://{nft.image_cid}"
    _replace_metadata(world, nft, metadata_document(nft.name, nft.level, nft.image_uri))
    return [nft_entry("IPFS_SOURCE_MISMATCH", nft, "image uploaded from another file than the source")]


def cid_entry(fault: str, cid: str, description: str) -> list[dict]:
    return [entry(fault, "cid", cid, description, finding(fault, "cid", cid))]


def ipfs_cid_integrity(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    world.gateway_wrong.setdefault(world.spec.gateways - 1, set()).add(nft.json_cid)
    return cid_entry("IPFS_CID_INTEGRITY", nft.json_cid, "the last gateway serves wrong bytes")


def ipfs_gateway_wrong_bytes(world: WorldData, pick: VictimPicker) -> list[dict]:
    """A middle gateway serves another NFT's metadata under this one's CID (raw requests included): not the
    gateway the regular cadence downloads from first, so only its raw root-block probes can find it."""
    nft = pick.take()
    other = next(record for record in world.nfts if record is not nft)
    gateway = min(1, world.spec.gateways - 1)
    world.gateway_other.setdefault(gateway, {})[nft.json_cid] = other.json_bytes
    description = f"gateway {gateway} serves another document's bytes (found by the regular cadence)"
    return [entry("IPFS_GATEWAY_WRONG_BYTES", "cid", nft.json_cid, description,
                  finding("IPFS_CID_INTEGRITY", "cid", nft.json_cid))]  # fmt: skip


def ipfs_not_pinned(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    world.pins.pop(nft.json_cid)
    return cid_entry("IPFS_NOT_PINNED", nft.json_cid, "pin removed, content still served")


def ipfs_propagation(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    for gateway in range(world.spec.min_gateways - 1, world.spec.gateways):
        world.gateway_missing.setdefault(gateway, set()).add(nft.json_cid)
    return cid_entry("IPFS_PROPAGATION_PARTIAL", nft.json_cid, "served by fewer than k gateways")


def db_ipfs_reference(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    other = next(level for level in world.levels if level != nft.level)
    nft.db_overrides["image_uri"] = f"ipfs://{image_cid_for(world, other)}"
    return [nft_entry("DB_IPFS_REFERENCE_MISMATCH", nft, "DB image_uri differs from the metadata's image")]


def partner_failed(world: WorldData, pick: VictimPicker) -> list[dict]:
    nft = pick.take()
    nft.uri = f"https://metadata.aiw3.example/nft/{nft.index}.json"
    return [nft_entry("PARTNER_VERIFICATION_FAILED", nft, "on-chain URI is not an IPFS reference")]


NFT_FAULTS: dict[str, Callable[[WorldData, VictimPicker], list[dict]]] = {
    "SOURCE_MISSING": source_missing,
    "SOURCE_INVALID": source_invalid,
    "SOURCE_REGISTRY_DRIFT": source_registry_drift,
    "SOURCE_MISSING_ACTIVE_NFT": source_missing_active,
    "CHAIN_METADATA_MISSING": chain_metadata_missing,
    "CHAIN_URI_MISMATCH": chain_uri_mismatch,
    "CHAIN_METADATA_MUTABLE": chain_mutable,
    "CHAIN_AUTHORITY_UNEXPECTED": chain_authority,
    "TX_FAILED_DB_CONFIRMED": tx_failed_db_confirmed,
    "BLOCKCHAIN_SUCCESS_DATABASE_FAILURE": chain_success_db_failure,
    "DB_PENDING_TX_FAILED": db_pending_tx_failed,
    "DB_STUCK_PENDING": db_stuck_pending,
    "DB_DUPLICATE_MINT": db_duplicate_mint,
    "DATABASE_SUCCESS_IPFS_FAILURE": db_success_ipfs_failure,
    "IPFS_METADATA_INVALID": ipfs_metadata_invalid,
    "IPFS_SOURCE_MISMATCH": ipfs_source_mismatch,
    "IPFS_CID_INTEGRITY": ipfs_cid_integrity,
    "IPFS_NOT_PINNED": ipfs_not_pinned,
    "IPFS_PROPAGATION_PARTIAL": ipfs_propagation,
    "DB_IPFS_REFERENCE_MISMATCH": db_ipfs_reference,
    "PARTNER_VERIFICATION_FAILED": partner_failed,
    "IPFS_GATEWAY_WRONG_BYTES": ipfs_gateway_wrong_bytes,
}
