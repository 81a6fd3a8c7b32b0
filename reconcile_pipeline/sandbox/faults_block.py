"""Inject the block-store faults of the DESIGN §3 catalogue (seed 004's failure modes).

Chain faults (BLOCK_HASH_INVALID, BLOCK_CHAIN_BROKEN, BLOCK_MERKLE_INVALID) are made at mining
time through the ``tamper`` map of :func:`.block_world.build_block_world`; the others mutate the
persisted tiers afterwards. Two faults are named for their scenario, not a check: BLOCK_KV_TAMPERED (the
truth tier's copy has one amount changed, its hash left: BLOCK_HASH_INVALID and BLOCK_MERKLE_INVALID on
tier kv) and BLOCK_GONE (a block deleted from KV and R2: BLOCK_TIER_MISSING on it, BLOCK_CHAIN_BROKEN on the
next, TX_INDEX_INCONSISTENT on each of its transactions, whose vdc:tx entries name a block no tier holds).
Pending-queue faults run last and PENDING_COUNT_DRIFT
after them, so the count drifts from the final queue.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from ..layers import blocks as fmt
from .block_world import add_pending, count_pending, make_transaction, set_latest, write_pending_count
from .faults_nft import NoVictim, entry
from .worlddata import WorldData, finding

TAMPER_KINDS = {"BLOCK_HASH_INVALID": "hash", "BLOCK_CHAIN_BROKEN": "link", "BLOCK_MERKLE_INVALID": "merkle"}
MOCK_IPFS_HASH = "QmMockHash00000000000000000000000000000000000"


class BlockPicker:
    """Hands out distinct block numbers, never the genesis block or the latest."""

    def __init__(self, world: WorldData) -> None:
        candidates = list(range(1, world.spec.blocks - 1))
        random.Random(world.spec.seed * 104729 + 3).shuffle(candidates)
        self.free = candidates

    def take(self) -> int:
        if not self.free:
            raise NoVictim("no unused block left")
        return self.free.pop()

    def take_with_successor(self) -> int:
        """A block N, preferably one whose successor N+1 (which carries N's gap finding) is unused too, then
        both are taken; else any unused N (N+1's own fault then adds its findings beside the gap's)."""
        for number in reversed(self.free):
            if number + 1 in self.free:
                self.free.remove(number)
                self.free.remove(number + 1)
                return number
        return self.take()


def block_entry(fault: str, number: int, description: str) -> dict:
    return entry(fault, "block", number, description, finding(fault, "block", number))


def plan_tampering(faults: list[str], pick: BlockPicker) -> tuple[dict[int, str], list[dict], list[dict]]:
    """Choose victims for the chain faults before mining. Returns (tamper map, entries, skipped)."""
    tamper: dict[int, str] = {}
    entries: list[dict] = []
    skipped: list[dict] = []
    for fault, kind in TAMPER_KINDS.items():
        if fault not in faults:
            continue
        try:
            number = pick.take()
        except NoVictim as exc:
            skipped.append({"fault": fault, "reason": str(exc)})
            continue
        tamper[number] = kind
        entries.append(block_entry(fault, number, f"mined with tamper={kind}"))
    return tamper, entries, skipped


def _kv_block(world: WorldData, number: int) -> dict:
    return json.loads(world.kv[fmt.block_key(number)])


def tier_missing(world: WorldData, pick: BlockPicker) -> list[dict]:
    number = pick.take()
    del world.r2[fmt.r2_block_key(number)]
    return [block_entry("BLOCK_TIER_MISSING", number, "R2 copy deleted")]


def tier_divergent(world: WorldData, pick: BlockPicker) -> list[dict]:
    number = pick.take()
    core = json.loads(world.r2[fmt.r2_block_key(number)])
    core["transactions"][0]["amount"] += 1
    world.r2[fmt.r2_block_key(number)] = fmt.canonical_json(core)
    return [block_entry("BLOCK_TIER_DIVERGENT", number, "R2 copy has a different amount")]


def kv_tampered(world: WorldData, pick: BlockPicker) -> list[dict]:
    """The truth tier tampered: one transaction amount changed in the KV copy, hash and merkleRoot left as they were."""
    number = pick.take()
    kv_block = _kv_block(world, number)
    kv_block["transactions"][0]["amount"] += 1
    world.kv[fmt.block_key(number)] = fmt.canonical_json(kv_block)
    return [entry("BLOCK_KV_TAMPERED", "block", number, "KV copy has a different amount (hash left as it was)",
                  finding("BLOCK_HASH_INVALID", "block", number), finding("BLOCK_MERKLE_INVALID", "block", number))]


def block_gone(world: WorldData, pick: BlockPicker) -> list[dict]:
    """Block N deleted from KV and R2 (its IPFS copy and its vdc:tx entries stay): a gap before N+1."""
    number = pick.take_with_successor()
    del world.kv[fmt.block_key(number)]
    del world.r2[fmt.r2_block_key(number)]
    dangling = [finding("TX_INDEX_INCONSISTENT", "tx", tx["txId"]) for tx in world.blocks[number]["transactions"]]
    return [entry("BLOCK_GONE", "block", number, "block deleted from KV and R2 (vdc:tx entries still name it)",
                  finding("BLOCK_TIER_MISSING", "block", number), finding("BLOCK_CHAIN_BROKEN", "block", number + 1),
                  *dangling)]  # fmt: skip


def latest_stale(world: WorldData, _: BlockPicker) -> list[dict]:
    if len(world.blocks) < 2:
        raise NoVictim("needs two blocks")
    set_latest(world, world.blocks[-2])
    return [
        entry(
            "LATEST_POINTER_STALE",
            "kv_key",
            fmt.LATEST_KEY,
            "vdc:latest names the block before the last",
            finding("LATEST_POINTER_STALE", "kv_key", fmt.LATEST_KEY),
        )
    ]


def ipfs_hash_invalid(world: WorldData, pick: BlockPicker) -> list[dict]:
    number = pick.take()
    kv_block = _kv_block(world, number) | {"ipfsHash": MOCK_IPFS_HASH, "ipfsGatewayUrl": ""}
    world.kv[fmt.block_key(number)] = fmt.canonical_json(kv_block)
    return [block_entry("BLOCK_IPFS_HASH_INVALID", number, "KV ipfsHash is a mock hash")]


def tx_index(world: WorldData, pick: BlockPicker) -> list[dict]:
    wrong, missing = pick.take(), pick.take()
    tx_wrong = world.blocks[wrong]["transactions"][0]["txId"]
    tx_missing = world.blocks[missing]["transactions"][0]["txId"]
    pointer = json.loads(world.kv[fmt.tx_key(tx_wrong)]) | {"blockNumber": wrong + 1}
    world.kv[fmt.tx_key(tx_wrong)] = fmt.canonical_json(pointer)
    del world.kv[fmt.tx_key(tx_missing)]
    return [
        entry(
            "TX_INDEX_INCONSISTENT",
            "tx",
            tx_wrong,
            "vdc:tx names the next block",
            finding("TX_INDEX_INCONSISTENT", "tx", tx_wrong),
        ),
        entry(
            "TX_INDEX_INCONSISTENT",
            "tx",
            tx_missing,
            "vdc:tx key missing",
            finding("TX_INDEX_INCONSISTENT", "tx", tx_missing),
        ),
    ]


def pending_already_mined(world: WorldData, pick: BlockPicker) -> list[dict]:
    number = pick.take()
    tx = world.blocks[number]["transactions"][-1]
    add_pending(world, tx)
    write_pending_count(world)
    return [
        entry(
            "PENDING_ALREADY_MINED",
            "tx",
            tx["txId"],
            f"pending copy of a tx mined in block {number}",
            finding("PENDING_ALREADY_MINED", "tx", tx["txId"]),
        )
    ]


def pending_backlog(world: WorldData, _: BlockPicker) -> list[dict]:
    rng = random.Random(world.spec.seed * 17 + 11)
    now_ms = int(world.now.timestamp() * 1000)
    for k in range(world.spec.backlog_max + 3 - count_pending(world)):
        add_pending(world, make_transaction(world.spec.seed, -2, k, now_ms - 5000 - k, rng))
    write_pending_count(world)
    return [
        entry(
            "PENDING_BACKLOG",
            "queue",
            "pending",
            f"{count_pending(world)} transactions pending",
            finding("PENDING_BACKLOG", "queue", "pending"),
        )
    ]


def pending_count_drift(world: WorldData, _: BlockPicker) -> list[dict]:
    write_pending_count(world, count_pending(world) + 2)
    return [
        entry(
            "PENDING_COUNT_DRIFT",
            "kv_key",
            fmt.PENDING_COUNT_KEY,
            "count is two more than the queue",
            finding("PENDING_COUNT_DRIFT", "kv_key", fmt.PENDING_COUNT_KEY),
        )
    ]


# Applied in this order, after mining; the pending count drift must stay last.
BLOCK_FAULTS: dict[str, Callable[[WorldData, BlockPicker], list[dict]]] = {
    "BLOCK_TIER_MISSING": tier_missing,
    "BLOCK_TIER_DIVERGENT": tier_divergent,
    "LATEST_POINTER_STALE": latest_stale,
    "BLOCK_IPFS_HASH_INVALID": ipfs_hash_invalid,
    "TX_INDEX_INCONSISTENT": tx_index,
    "PENDING_ALREADY_MINED": pending_already_mined,
    "PENDING_BACKLOG": pending_backlog,
    "BLOCK_KV_TAMPERED": kv_tampered,  # after the others, so their victims stay those of earlier manifests
    "BLOCK_GONE": block_gone,
    "PENDING_COUNT_DRIFT": pending_count_drift,
}
