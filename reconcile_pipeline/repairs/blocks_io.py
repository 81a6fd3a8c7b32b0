"""Reading and validating block copies for the block repairs (through the KV, R2 and gateway clients).

:func:`validated` is the "verify before writing" of a block: the copy parses, holds the expected
number, its recomputed hash and Merkle root match, and its core is the core the plan chose. A KV block
is written only as its core plus ``ipfsHash``/``ipfsGatewayUrl`` (:func:`kv_value`), and
:func:`set_kv_ipfs` changes those two fields only after checking that KV still holds the same core.
Writes go through the write clients (``ctx.kv_write``, ``ctx.pinata_write``); reads through the read ones.
"""

from __future__ import annotations

from ..layers import blocks as fmt
from ..layers.errors import DecodeError
from ..layers.unixfs import unixfs_cid
from .actions_ipfs import is_pinned, pin_exact
from .context import ApplyContext, RepairRefused, StateChanged


def hash_fields(ctx: ApplyContext) -> tuple[str, ...]:
    return tuple(ctx.settings.blockstore.hash_fields)


def read_kv(ctx: ApplyContext, key: str) -> bytes | None:
    return ctx.run(ctx.kv.get(key))


def parse(raw: bytes | None, where: str) -> dict | None:
    """The parsed block, or None when absent or unparsable."""
    if raw is None:
        return None
    try:
        return fmt.parse_block(raw, where=where)
    except DecodeError:
        return None


def core_of(raw: bytes | None, where: str) -> str | None:
    block = parse(raw, where)
    return fmt.core_sha256(block) if block is not None else None


def validated(raw: bytes | None, number: int, fields: tuple[str, ...], core_sha256: str | None, where: str) -> dict:
    """The block in ``raw`` if it is a valid copy of block ``number`` with that core; else RepairRefused."""
    if raw is None:
        raise RepairRefused(f"{where}: the source copy is gone")
    try:
        block = fmt.parse_block(raw, where=where)
    except DecodeError as exc:
        raise RepairRefused(f"{where}: the source copy does not parse ({exc.reason})") from None
    problems = []
    if block["blockNumber"] != number:
        problems.append(f"holds block {block['blockNumber']}")
    if fmt.block_hash(block, fields) != block["hash"]:
        problems.append("its recomputed hash differs")
    if fmt.merkle_root([fmt.tx_hash(tx) for tx in block["transactions"]]) != block["merkleRoot"]:
        problems.append("its recomputed Merkle root differs")
    if core_sha256 is not None and fmt.core_sha256(block) != core_sha256:
        problems.append("its bytes are not the copy the plan chose")
    if problems:
        raise RepairRefused(f"{where}: the source copy does not validate: {'; '.join(problems)}")
    return block


def core_bytes(block: dict) -> bytes:
    """What R2 and IPFS hold: the canonical JSON of the block without its IPFS fields."""
    return fmt.canonical_json(fmt.block_core(block))


def kv_value(ctx: ApplyContext, block: dict, cid: str) -> bytes:
    return fmt.canonical_json(fmt.block_core(block) | {"ipfsHash": cid, "ipfsGatewayUrl": ctx.gateway_url(cid)})


def pin_block(ctx: ApplyContext, block: dict, cid: str | None = None) -> str:
    """Pin the block's core bytes (as ``cid`` if given and exact, else as ``ipfs add`` CIDv0 names them).

    Not pinned again when Pinata already pins that CID and a gateway serves exactly these bytes: an
    apply that crashed between this pin and the KV write it precedes resumes without a second pin."""
    data = core_bytes(block)
    expected = cid or str(unixfs_cid(data, cid_version=0))
    if is_pinned(ctx, expected) and ipfs_core(ctx, expected)[1] == fmt.core_sha256(block):
        return expected
    return pin_exact(ctx, expected, data, f"vdc-block-{block['blockNumber']}.json")


def set_kv_ipfs(ctx: ApplyContext, number: int, core_sha256: str, cid: str) -> None:
    """Point KV's block at ``cid`` (ipfsHash, ipfsGatewayUrl) if KV still holds the core ``core_sha256``."""
    key = fmt.block_key(number)
    block = parse(read_kv(ctx, key), key)
    if block is None or fmt.core_sha256(block) != core_sha256:
        raise StateChanged(f"{key} no longer holds the core the plan saw: its ipfsHash is not touched")
    ctx.run(ctx.kv_write.put(key, kv_value(ctx, block, cid)))


def ipfs_core(ctx: ApplyContext, cid: str | None) -> tuple[str, str | None]:
    """(gateway read status, core sha256 of the verified bytes) for ``cid``."""
    if not cid:
        return "none", None
    read = ctx.run(ctx.gateways.fetch(cid))
    if read.status != "ok" or not read.verified:
        return read.status if read.status != "ok" else "unverified", None
    return "ok", core_of(read.content, f"ipfs:{cid}")
