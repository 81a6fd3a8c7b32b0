"""Build the VDC block store of seed 004: a chain of blocks in KV, R2 and IPFS, plus pending transactions.

Storage as seed 004 persists it: R2 ``blocks/N.json`` and IPFS hold the block without its IPFS
fields (R2 and IPFS are written first); KV ``vdc:block:N`` holds the block plus ``ipfsHash`` and
``ipfsGatewayUrl``; then ``vdc:latest``, one ``vdc:tx:ID`` per mined transaction, and the
pending queue in R2 (``pending/ID.json``, encrypted) counted by ``vdc:pending:count``.

``tamper`` maps a block number to a chain fault made at mining time, so that exactly one
check fails for it: ``hash`` (stored hash stale), ``link`` (previousHash forked; later blocks
chain from it), ``merkle`` (merkleRoot wrong, hash computed over it).
"""

from __future__ import annotations

import base64
import random

from ..layers import blocks as fmt
from .nft_world import PINATA_GATEWAY, add_content
from .worlddata import WorldData, digest, fake_pubkey

BLOCK_INTERVAL_MS = 60_000


def make_transaction(seed: int, block: int, k: int, timestamp: int, rng: random.Random) -> dict:
    return {
        "txId": f"tx-{digest(seed, 'tx', block, k).hex()[:16]}",
        "type": rng.choice(["document_payment", "asset_registration", "document_payment"]),
        "timestamp": timestamp + k,
        "assetId": f"asset-{digest(seed, 'asset', block, k).hex()[:12]}",
        "userId": fake_pubkey(seed, "user", rng.randrange(50)),
        "amount": rng.randrange(100, 10_000),
    }


def _signature(seed: int, number: int) -> dict:
    return {
        "algorithm": "Dilithium-2",
        "publicKey": base64.b64encode(digest(seed, "system-key")).decode(),
        "signature": base64.b64encode(digest(seed, "block-sig", number) * 4).decode(),
    }


def mine_block(number: int, previous_hash: str, txs: list[dict], timestamp: int, seed: int, tamper: str | None) -> dict:
    if tamper == "link":
        previous_hash = digest(seed, "forked", number).hex()
    block = fmt.build_block(number, timestamp, previous_hash, txs, signature=_signature(seed, number))
    if tamper == "merkle":
        block["merkleRoot"] = digest(seed, "wrong-merkle", number).hex()
        block["hash"] = fmt.block_hash(block)
    elif tamper == "hash":
        block["timestamp"] += 1  # changed after hashing: the stored hash no longer matches
    return block


def build_chain(world: WorldData, tamper: dict[int, str]) -> list[dict]:
    seed = world.spec.seed
    rng = random.Random(seed * 7919 + 1)
    start = int(world.now.timestamp() * 1000) - world.spec.blocks * BLOCK_INTERVAL_MS
    chain: list[dict] = []
    previous = fmt.GENESIS_PREVIOUS_HASH
    for number in range(world.spec.blocks):
        timestamp = start + number * BLOCK_INTERVAL_MS
        txs = [make_transaction(seed, number, k, timestamp, rng) for k in range(1 + rng.randrange(4))]
        block = mine_block(number, previous, txs, timestamp, seed, tamper.get(number))
        chain.append(block)
        previous = block["hash"]
    return chain


def persist_block(world: WorldData, block: dict) -> None:
    number = block["blockNumber"]
    core_bytes = fmt.canonical_json(fmt.block_core(block))
    world.r2[fmt.r2_block_key(number)] = core_bytes
    cid = add_content(world, core_bytes, f"vdc-block-{number}.json")
    kv_block = fmt.block_core(block) | {"ipfsHash": cid, "ipfsGatewayUrl": f"{PINATA_GATEWAY}/ipfs/{cid}"}
    world.kv[fmt.block_key(number)] = fmt.canonical_json(kv_block)
    for tx in block["transactions"]:
        entry = {"blockNumber": number, "blockHash": block["hash"], "timestamp": block["timestamp"]}
        world.kv[fmt.tx_key(tx["txId"])] = fmt.canonical_json(entry)


def set_latest(world: WorldData, block: dict) -> None:
    kv_block = fmt.parse_block(world.kv[fmt.block_key(block["blockNumber"])], where="world")
    pointer = {
        "blockNumber": block["blockNumber"],
        "hash": block["hash"],
        "ipfsHash": kv_block["ipfsHash"],
        "timestamp": block["timestamp"],
    }
    world.kv[fmt.LATEST_KEY] = fmt.canonical_json(pointer)


def add_pending(world: WorldData, tx: dict) -> None:
    """An encrypted pending transaction in R2 (seed 004, phase 1); the count is set by :func:`count_pending`."""
    envelope = {
        "txId": tx["txId"],
        "timestamp": tx["timestamp"],
        "encrypted": True,
        "algorithm": "Kyber-768",
        "ciphertext": base64.b64encode(fmt.canonical_json(tx)[::-1]).decode(),
    }
    world.r2[fmt.r2_pending_key(tx["txId"])] = fmt.canonical_json(envelope)


def count_pending(world: WorldData) -> int:
    return sum(1 for key in world.r2 if key.startswith("pending/"))


def write_pending_count(world: WorldData, count: int | None = None) -> None:
    world.kv[fmt.PENDING_COUNT_KEY] = str(count_pending(world) if count is None else count).encode()


def build_block_world(world: WorldData, tamper: dict[int, str]) -> None:
    world.blocks = build_chain(world, tamper)
    for block in world.blocks:
        persist_block(world, block)
    if world.blocks:
        set_latest(world, world.blocks[-1])
    rng = random.Random(world.spec.seed * 31 + 5)
    now_ms = int(world.now.timestamp() * 1000)
    for k in range(world.spec.pending):
        add_pending(world, make_transaction(world.spec.seed, -1, k, now_ms - 1000 * (k + 1), rng))
    write_pending_count(world)
