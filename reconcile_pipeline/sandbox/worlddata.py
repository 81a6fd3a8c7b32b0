"""The local world as plain data: what every layer holds, before it is served.

The builder (:mod:`.nft_world`, :mod:`.block_world`) fills a :class:`WorldData`
deterministically from a seed; :mod:`.faults` mutates it and records, per injected fault,
every finding the pipeline must produce; :mod:`.world` serves it on loopback.

Entity identifiers used in findings (and so in the manifest):

| entity_type  | entity_id                      | used by                                    |
| ------------ | ------------------------------ | ------------------------------------------ |
| level        | level name                     | SOURCE_*                                   |
| nft          | mint address                   | chain, DB and IPFS checks on one NFT       |
| operation    | minting_operations.id          | DB rows that have no mint address yet      |
| wallet_level | "<wallet>:<level>"             | DB_DUPLICATE_MINT                          |
| cid          | CID text                       | pin, propagation and gateway integrity     |
| block        | block number                   | BLOCK_*                                    |
| tx           | transaction id                 | TX_INDEX_INCONSISTENT, PENDING_ALREADY_MINED |
| kv_key       | the KV key                     | LATEST_POINTER_STALE, PENDING_COUNT_DRIFT  |
| queue        | "pending"                      | PENDING_BACKLOG                            |
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from solders.pubkey import Pubkey
from solders.signature import Signature

BASE_LEVELS = ("Bronze", "Silver", "Gold", "Platinum")
SPARE_LEVEL = "Diamond"  # supported, imaged and registered, but never minted: SOURCE_MISSING's victim


@dataclass
class WorldSpec:
    seed: int = 7
    nfts: int = 40
    blocks: int = 20
    faults: list[str] = field(default_factory=list)
    gateways: int = 3
    min_gateways: int = 2
    gateway_absent: str = "504"  # how the gateways answer content they lack: hang | 504 | 412 | 404
    gateway_raw: str = "block"  # how they answer a raw (trustless) request: block (Helia, Kubo) | file (js-ipfs)
    pending: int = 3
    backlog_max: int = 10
    stuck_after_s: int = 600


@dataclass
class NftRecord:
    index: int
    op_id: str
    wallet: str
    level: str
    mint: str
    pda: str
    signature: str
    name: str
    metadata: dict
    json_bytes: bytes
    json_cid: str
    image_cid: str
    uri: str
    image_uri: str
    status: str = "COMPLETED"
    is_mutable: bool = False
    update_authority: str = ""
    on_chain: bool = True
    in_db: bool = True
    tx_err: object = None
    age_s: int = 3600
    db_overrides: dict = field(default_factory=dict)


@dataclass
class WorldData:
    spec: WorldSpec
    now: datetime
    authority: str
    levels: list[str]
    source_files: dict[str, bytes | None] = field(default_factory=dict)
    backup_files: dict[str, bytes] = field(default_factory=dict)
    registry: list[dict] = field(default_factory=list)
    nfts: list[NftRecord] = field(default_factory=list)
    extra_ops: list[dict] = field(default_factory=list)  # DB rows with no NFT behind them
    content: dict[str, bytes] = field(default_factory=dict)  # cid -> bytes served by the gateways
    pins: dict[str, str] = field(default_factory=dict)  # cid -> pin name
    gateway_missing: dict[int, set[str]] = field(default_factory=dict)
    gateway_wrong: dict[int, set[str]] = field(default_factory=dict)
    gateway_other: dict[int, dict[str, bytes]] = field(default_factory=dict)  # gateway -> cid -> bytes it serves
    kv: dict[str, bytes] = field(default_factory=dict)
    r2: dict[str, bytes] = field(default_factory=dict)
    blocks: list[dict] = field(default_factory=list)
    faults: list[dict] = field(default_factory=list)  # manifest entries
    skipped_faults: list[dict] = field(default_factory=list)


def digest(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()


def fake_pubkey(*parts: object) -> str:
    return str(Pubkey(digest("pubkey", *parts)))


def fake_signature(*parts: object) -> str:
    return str(Signature(digest("sig-a", *parts) + digest("sig-b", *parts)))


def fake_uuid(*parts: object) -> str:
    return str(uuid.UUID(bytes=digest("uuid", *parts)[:16], version=4))


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def finding(check_id: str, entity_type: str, entity_id: object) -> dict:
    return {"check_id": check_id, "entity_type": entity_type, "entity_id": str(entity_id)}
