"""Block-store repairs (seed 004's rehydration): tiers from the best valid tier, KV's ipfsHash after a re-pin.

REHYDRATE_BLOCK restores, in seed 004's order (KV, R2, IPFS), the tiers that lack the block or hold
other bytes, from the source tier's copy once it validates. KV is filled only when it has no copy
(re-checked right before the write); R2 is overwritten with the valid core; IPFS is re-pinned byte-exactly
and KV's ``ipfsHash`` follows only if its CID could not name these bytes. REPIN_BLOCK_AND_UPDATE_KV pins
the KV block's core and sets its ``ipfsHash``/``ipfsGatewayUrl``. Verification re-reads every tier.
"""

from __future__ import annotations

from ..checks.block_copies import ipfs_hash_problem
from ..layers import blocks as fmt
from ..layers.unixfs import cid_matches
from .actions import Action
from .blocks_io import (
    core_bytes,
    core_of,
    hash_fields,
    ipfs_core,
    kv_value,
    parse,
    pin_block,
    read_kv,
    set_kv_ipfs,
    validated,
)
from .context import ApplyContext, RepairRefused


def _kv_ipfs_hash(ctx: ApplyContext, number: int) -> str | None:
    block = parse(read_kv(ctx, fmt.block_key(number)), "kv")
    return block.get("ipfsHash") if block else None


def _source_copy(ctx: ApplyContext, action: Action) -> dict:
    number, source = action.target["block_number"], action.truth["source"]
    if source == "kv":
        raw = read_kv(ctx, fmt.block_key(number))
    elif source == "r2":
        raw = ctx.r2.get_sync(fmt.r2_block_key(number))
    else:
        cid = _kv_ipfs_hash(ctx, number) or action.target.get("kv_ipfs_hash")
        read = ctx.run(ctx.gateways.fetch(cid)) if cid else None
        raw = read.content if read is not None and read.status == "ok" and read.verified else None
    return validated(raw, number, hash_fields(ctx), action.truth["core_sha256"], f"{source} block {number}")


class RehydrateBlock:
    """REHYDRATE_BLOCK."""

    def current(self, ctx: ApplyContext, action: Action) -> dict:
        number = action.target["block_number"]
        kv_raw = read_kv(ctx, fmt.block_key(number))
        kv_block = parse(kv_raw, "kv")
        state = {"kv": core_of(kv_raw, "kv"), "r2": core_of(ctx.r2.get_sync(fmt.r2_block_key(number)), "r2")}
        cid = kv_block.get("ipfsHash") if kv_block else None
        state["ipfs_cid"] = cid
        state["ipfs_read"], state["ipfs"] = ipfs_core(ctx, cid if cid and not ipfs_hash_problem(cid) else None)
        return state

    def done(self, action: Action, current: dict) -> bool:
        return all(current[tier] == action.truth["core_sha256"] for tier in action.target["tiers"])

    def write(self, ctx: ApplyContext, action: Action, current: dict) -> dict:
        block = _source_copy(ctx, action)
        number, core, written = action.target["block_number"], action.truth["core_sha256"], []
        for tier in ("kv", "r2", "ipfs"):
            if tier in action.target["tiers"] and current[tier] != core:
                if tier == "ipfs" and any(w.get("ipfsHash") for w in written):
                    continue  # filling KV pinned the bytes its new ipfsHash names
                written.append(getattr(self, f"_write_{tier}")(ctx, block, number, core))
        return {"written": written}

    def _write_kv(self, ctx: ApplyContext, block: dict, number: int, core: str) -> dict:
        key = fmt.block_key(number)
        now = read_kv(ctx, key)
        if now is not None:
            if core_of(now, key) == core:
                return {"tier": "kv", "skipped": "already holds the block"}
            raise RepairRefused(f"{key} exists with other bytes: KV (the truth) is never overwritten")
        cid = pin_block(ctx, block)
        ctx.run(ctx.kv_write.put(key, kv_value(ctx, block, cid)))
        return {"tier": "kv", "key": key, "ipfsHash": cid}

    def _write_r2(self, ctx: ApplyContext, block: dict, number: int, core: str) -> dict:
        key = fmt.r2_block_key(number)
        ctx.r2_write.put_sync(key, core_bytes(block))
        return {"tier": "r2", "key": key}

    def _write_ipfs(self, ctx: ApplyContext, block: dict, number: int, core: str) -> dict:
        named = _kv_ipfs_hash(ctx, number)
        if named and not ipfs_hash_problem(named) and cid_matches(named, core_bytes(block)):
            return {"tier": "ipfs", "cid": pin_block(ctx, block, named)}
        cid = pin_block(ctx, block)
        set_kv_ipfs(ctx, number, core, cid)
        return {"tier": "ipfs", "cid": cid, "kv_ipfsHash_from": named}

    def verify(self, ctx: ApplyContext, action: Action) -> dict:
        now = self.current(ctx, action)
        try:
            _source_copy(ctx, action)
        except RepairRefused as exc:
            return {"ok": False, "problem": str(exc), **now}
        return {"ok": self.done(action, now), **now}


class RepinBlock:
    """REPIN_BLOCK_AND_UPDATE_KV."""

    def current(self, ctx: ApplyContext, action: Action) -> dict:
        number = action.target["block_number"]
        kv_raw = read_kv(ctx, fmt.block_key(number))
        block = parse(kv_raw, "kv")
        cid = block.get("ipfsHash") if block else None
        usable = cid if isinstance(cid, str) and not ipfs_hash_problem(cid) else None
        read, core = ipfs_core(ctx, usable)
        return {"kv": core_of(kv_raw, "kv"), "ipfsHash": cid, "ipfs_read": read, "ipfs": core}

    def done(self, action: Action, current: dict) -> bool:
        core = action.truth["core_sha256"]
        return current["kv"] == core and current["ipfs"] == core

    def write(self, ctx: ApplyContext, action: Action, current: dict) -> dict:
        number, core = action.target["block_number"], action.truth["core_sha256"]
        block = validated(read_kv(ctx, fmt.block_key(number)), number, hash_fields(ctx), core, f"kv block {number}")
        cid = pin_block(ctx, block)
        set_kv_ipfs(ctx, number, core, cid)
        return {"ipfsHash": cid, "ipfsGatewayUrl": ctx.gateway_url(cid), "previous": current["ipfsHash"]}

    def verify(self, ctx: ApplyContext, action: Action) -> dict:
        now = self.current(ctx, action)
        return {"ok": self.done(action, now), **now}
