"""Build the clean NFT side of the local world: source images, registry, IPFS content, mints, DB rows.

Deterministic for a seed: the same spec gives the same mints, CIDs and rows (timestamps are
relative to the build time). Levels are assigned round-robin so every base level has NFTs;
the spare level has an image and a registry row but no NFT.
"""

from __future__ import annotations

import hashlib
import json
import random

from ..layers.unixfs import unixfs_cid
from .images import render_level_image
from .worlddata import (
    BASE_LEVELS,
    SPARE_LEVEL,
    NftRecord,
    WorldData,
    WorldSpec,
    fake_pubkey,
    fake_signature,
    fake_uuid,
    utcnow,
)

SYMBOL = "AIW3"
PINATA_GATEWAY = "https://gateway.pinata.cloud"


def compact_json(obj: object) -> bytes:
    """How Pinata's pinJSONToIPFS serialises content (JSON.stringify: no spaces)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def metadata_document(name: str, level: str, image_uri: str) -> dict:
    return {
        "name": name,
        "symbol": SYMBOL,
        "description": f"AIW3 {level} level membership NFT",
        "image": image_uri,
        "attributes": [{"trait_type": "Level", "value": level}],
        "properties": {"files": [{"uri": image_uri, "type": "image/png"}], "category": "image"},
    }


def metadata_uri(cid: str, index: int) -> str:
    """Half the NFTs use ipfs://, half the Pinata gateway form, as real platforms mix them."""
    return f"ipfs://{cid}" if index % 2 == 0 else f"{PINATA_GATEWAY}/ipfs/{cid}"


def add_content(world: WorldData, data: bytes, name: str, *, cid_version: int = 0, pin: bool = True) -> str:
    cid = str(unixfs_cid(data, cid_version=cid_version))
    world.content[cid] = data
    if pin:
        world.pins[cid] = name
    return cid


def add_level_images(world: WorldData) -> dict[str, str]:
    """Write each level's source image, its backup and registry row; upload it. Returns level -> image CID."""
    image_cids: dict[str, str] = {}
    for position, level in enumerate(world.levels):
        image = render_level_image(level)
        world.source_files[level] = image
        world.backup_files[level] = image
        cid = add_content(world, image, f"{level}.png", cid_version=position % 2)
        image_cids[level] = cid
        world.registry.append(
            {
                "id": fake_uuid(world.spec.seed, "registry", level),
                "level": level,
                "file_path": f"assets/images/{level}.png",
                "file_hash": hashlib.sha256(image).hexdigest(),
                "ipfs_hash": cid,
                "last_verified": world.now,
                "last_uploaded": world.now,
            }
        )
    return image_cids


def make_nft(world: WorldData, index: int, level: str, image_cid: str, wallet: str | None = None) -> NftRecord:
    seed = world.spec.seed
    from ..layers.metaplex import metadata_pda

    mint = fake_pubkey(seed, "mint", index)
    name = f"{SYMBOL} {level} #{index}"
    image_uri = f"ipfs://{image_cid}"
    document = metadata_document(name, level, image_uri)
    json_bytes = compact_json(document)
    json_cid = add_content(world, json_bytes, f"{name}.json")
    return NftRecord(
        index=index,
        op_id=fake_uuid(seed, "op", index),
        wallet=wallet or fake_pubkey(seed, "wallet", index),
        level=level,
        mint=mint,
        pda=metadata_pda(mint),
        signature=fake_signature(seed, "mint-tx", index),
        name=name,
        metadata=document,
        json_bytes=json_bytes,
        json_cid=json_cid,
        image_cid=image_cid,
        uri=metadata_uri(json_cid, index),
        image_uri=image_uri,
        update_authority=world.authority,
        age_s=3600 + 60 * index,
    )


def build_nft_world(spec: WorldSpec) -> WorldData:
    rng = random.Random(spec.seed)
    world = WorldData(
        spec=spec,
        now=utcnow(),
        authority=fake_pubkey(spec.seed, "update-authority"),
        levels=[*BASE_LEVELS, SPARE_LEVEL],
    )
    image_cids = add_level_images(world)
    for index in range(spec.nfts):
        level = BASE_LEVELS[index % len(BASE_LEVELS)]
        world.nfts.append(make_nft(world, index, level, image_cids[level]))
    rng.shuffle(world.nfts)  # fault victims are picked in list order: shuffled, they vary by seed
    return world


def image_cid_for(world: WorldData, level: str) -> str:
    return next(row["ipfs_hash"] for row in world.registry if row["level"] == level)


def db_row(nft: NftRecord, world: WorldData) -> dict:
    """The minting_operations row the platform wrote for this NFT."""
    from datetime import timedelta

    created = world.now - timedelta(seconds=nft.age_s + 120)
    updated = world.now - timedelta(seconds=nft.age_s)
    done = nft.status in ("COMPLETED", "VERIFIED")
    return {
        "id": nft.op_id,
        "user_wallet_address": nft.wallet,
        "level": nft.level,
        "source_image_path": f"assets/images/{nft.level}.png",
        "status": nft.status,
        "transaction_signature": nft.signature,
        "mint_address": nft.mint,
        "metadata_uri": nft.uri,
        "image_uri": nft.image_uri,
        "created_at": created,
        "updated_at": updated,
        "verified_at": updated if done else None,
        "failure_reason": "transaction failed" if nft.status == "FAILED" else None,
        "retry_count": 0,
    } | nft.db_overrides
