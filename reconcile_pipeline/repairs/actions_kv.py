"""KV values derived from the blocks and the queue (seed 004 phase 5), and the destructive pending cleanup.

- REWRITE_TX_INDEX: ``vdc:tx:ID`` = ``{blockNumber, blockHash, timestamp}`` of the block that holds the
  transaction, after reading that block and checking that it holds the transaction under that hash.
- REWRITE_LATEST_POINTER: ``vdc:latest`` = the highest block's ``{blockNumber, hash, ipfsHash,
  timestamp}`` from its KV copy, once that copy validates.
- REWRITE_PENDING_COUNT: ``vdc:pending:count`` = the number of ``pending/*.json`` counted when applied.
- DELETE_MINED_PENDING (destructive, approved): delete ``pending/ID.json`` after re-reading a valid
  persisted block that holds the transaction; the ledger keeps the deleted value; the count follows.
"""

from __future__ import annotations

import json

from ..layers import blocks as fmt
from .actions import Action
from .blocks_io import hash_fields, parse, read_kv, validated
from .context import ApplyContext, RepairRefused


def _json(raw: bytes | None) -> dict | None:
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _holding_block(ctx: ApplyContext, number: int, block_hash: str, tx_id: str) -> dict:
    """The KV (else R2) copy of block ``number`` if it parses, carries ``block_hash`` and holds ``tx_id``."""
    for tier, raw in (("kv", lambda: read_kv(ctx, fmt.block_key(number))),
                      ("r2", lambda: ctx.r2.get_sync(fmt.r2_block_key(number)))):  # fmt: skip
        block = parse(raw(), f"{tier} block {number}")
        if block is not None and block["hash"] == block_hash:
            if tx_id in {tx["txId"] for tx in block["transactions"]}:
                return block
            raise RepairRefused(f"block {number} does not hold transaction {tx_id}")
    raise RepairRefused(f"no copy of block {number} with hash {block_hash[:16]}... could be read")


class RewriteTxIndex:
    def current(self, ctx: ApplyContext, action: Action) -> dict:
        return {"value": _json(read_kv(ctx, fmt.tx_key(action.target["tx_id"])))}

    def done(self, action: Action, current: dict) -> bool:
        value = current["value"] or {}
        return (
            value.get("blockNumber") == action.truth["blockNumber"]
            and value.get("blockHash") == action.truth["blockHash"]
        )

    def write(self, ctx: ApplyContext, action: Action, current: dict) -> dict:
        number, block_hash, tx_id = action.truth["blockNumber"], action.truth["blockHash"], action.target["tx_id"]
        block = _holding_block(ctx, number, block_hash, tx_id)
        value = {"blockNumber": number, "blockHash": block_hash, "timestamp": block["timestamp"]}
        ctx.run(ctx.kv_write.put(fmt.tx_key(tx_id), fmt.canonical_json(value)))
        return {"value": value}

    def verify(self, ctx: ApplyContext, action: Action) -> dict:
        now = self.current(ctx, action)
        try:
            _holding_block(ctx, action.truth["blockNumber"], action.truth["blockHash"], action.target["tx_id"])
        except RepairRefused as exc:
            return {"ok": False, "problem": str(exc), **now}
        return {"ok": self.done(action, now), **now}


class RewriteLatest:
    def current(self, ctx: ApplyContext, action: Action) -> dict:
        return {"value": _json(read_kv(ctx, fmt.LATEST_KEY))}

    def done(self, action: Action, current: dict) -> bool:
        value = current["value"] or {}
        return value.get("blockNumber") == action.truth["blockNumber"] and value.get("hash") == action.truth["hash"]

    def write(self, ctx: ApplyContext, action: Action, current: dict) -> dict:
        number = action.truth["blockNumber"]
        block = validated(read_kv(ctx, fmt.block_key(number)), number, hash_fields(ctx), None, f"kv block {number}")
        if block["hash"] != action.truth["hash"]:
            raise RepairRefused(f"KV block {number} now has another hash than the plan's")
        value = fmt.latest_value(block)
        ctx.run(ctx.kv_write.put(fmt.LATEST_KEY, fmt.canonical_json(value)))
        return {"value": value}

    def verify(self, ctx: ApplyContext, action: Action) -> dict:
        now = self.current(ctx, action)
        return {"ok": self.done(action, now), **now}


def _queue_size(ctx: ApplyContext) -> int:
    return sum(1 for key in ctx.r2.list_keys_sync(fmt.R2_PENDING_PREFIX) if fmt.parse_r2_pending_key(key))


def _count(ctx: ApplyContext) -> int | None:
    raw = read_kv(ctx, fmt.PENDING_COUNT_KEY)
    try:
        return fmt.parse_pending_count(raw) if raw is not None else None
    except Exception:  # noqa: BLE001 - an unreadable count is simply not the right count
        return None


class RewritePendingCount:
    def current(self, ctx: ApplyContext, action: Action) -> dict:
        return {"count": _count(ctx), "queue": _queue_size(ctx)}

    def done(self, action: Action, current: dict) -> bool:
        return current["count"] == current["queue"]

    def write(self, ctx: ApplyContext, action: Action, current: dict) -> dict:
        queue = _queue_size(ctx)
        ctx.run(ctx.kv_write.put(fmt.PENDING_COUNT_KEY, str(queue).encode()))
        return {"count": queue}

    def verify(self, ctx: ApplyContext, action: Action) -> dict:
        now = self.current(ctx, action)
        return {"ok": self.done(action, now), **now}


class DeleteMinedPending:
    """Done when the pending copy is gone *and* the count follows (a crash between the two resumes the count)."""

    def current(self, ctx: ApplyContext, action: Action) -> dict:
        raw = ctx.r2.get_sync(action.target["pending_key"])
        value = raw.decode("utf-8", "replace") if raw is not None else None
        return {"present": raw is not None, "value": value, "count": _count(ctx), "queue": _queue_size(ctx)}

    def done(self, action: Action, current: dict) -> bool:
        return not current["present"] and current["count"] == current["queue"]

    def write(self, ctx: ApplyContext, action: Action, current: dict) -> dict:
        if not current["present"]:  # deleted by a crashed attempt: only the count is left to write
            queue = _queue_size(ctx)
            ctx.run(ctx.kv_write.put(fmt.PENDING_COUNT_KEY, str(queue).encode()))
            return {"deleted": None, "pending_count": queue}
        tx_id, found = action.target["tx_id"], []
        for number, block_hash in action.target["mined_in"].items():
            try:
                _holding_block(ctx, int(number), block_hash, tx_id)
                validated(read_kv(ctx, fmt.block_key(int(number))), int(number), hash_fields(ctx), None, "kv")
                found.append(int(number))
            except RepairRefused:
                continue
        if not found:
            raise RepairRefused(f"no valid persisted block holds {tx_id}: the pending copy is kept")
        ctx.r2_write.delete_sync(action.target["pending_key"])
        queue = _queue_size(ctx)
        ctx.run(ctx.kv_write.put(fmt.PENDING_COUNT_KEY, str(queue).encode()))
        return {"deleted": action.target["pending_key"], "held_in": found, "pending_count": queue}

    def verify(self, ctx: ApplyContext, action: Action) -> dict:
        now = self.current(ctx, action)
        return {"ok": self.done(action, now), **now}
