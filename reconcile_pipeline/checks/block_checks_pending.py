"""The pending queue (seed 004 phase 1 and 5): R2 ``pending/*.json`` against KV and the mined blocks.

- PENDING_COUNT_DRIFT (kv_key ``vdc:pending:count``): the count differs from the number of
  ``pending/*.json`` (a missing count is 0); unknown if KV or R2 could not be read.
- PENDING_ALREADY_MINED (tx id): a pending transaction already in a persisted block (any tier's
  copy): cleanup failed, double-mine risk. Unknown if R2 could not be read (entity ``pending/*``:
  the queue itself is unknown), and for the pending transactions found in no block when KV could
  not be read (a KV block may hold them).
- PENDING_BACKLOG (queue ``pending``): more than ``settings.blockstore.pending_backlog_max`` pending.
"""

from __future__ import annotations

import pandas as pd

from ..layers import blocks as fmt
from ..layers.errors import DecodeError
from .block_join import TIERS, BlockContext
from .findings import concat_findings, empty_findings, findings_from, unknown_from

QUEUE_ENTITY = "pending"
ALL_PENDING = "*"  # the whole queue: R2 could not be listed


def pending_queue(ctx: BlockContext) -> pd.DataFrame:
    """The R2 pending entries that exist: key, tx_id."""
    frame = ctx.frames.get("r2")
    if frame is None or frame.empty:
        return pd.DataFrame({"key": pd.Series(dtype=object), "tx_id": pd.Series(dtype=object)})
    rows = frame[(frame["kind"] == "pending") & frame["present"].astype(bool)]
    return rows[["key", "tx_id"]].astype({"tx_id": str}).reset_index(drop=True)


def _one(entity: str) -> pd.DataFrame:
    return pd.DataFrame({"entity": [entity]})


def _count_problem(ctx: BlockContext, queued: int) -> dict | None:
    kv = ctx.frames.get("kv")
    rows = kv[(kv["kind"] == "pending_count") & kv["present"].astype(bool)] if kv is not None and len(kv) else kv
    if rows is None or rows.empty:
        return None if queued == 0 else {"problem": f"{fmt.PENDING_COUNT_KEY} is missing", "queue": queued}
    try:
        count = fmt.parse_pending_count(str(rows["value"].iloc[0]).encode())
    except DecodeError as exc:
        return {"problem": exc.reason, "queue": queued}
    return None if count == queued else {"problem": "count differs from the queue", "count": count, "queue": queued}


def check_pending_count(ctx: BlockContext) -> pd.DataFrame:
    entity = _one(fmt.PENDING_COUNT_KEY)
    unread = [ctx.reasons[tier] for tier in ("kv", "r2") if not ctx.readable[tier]]
    if unread:
        return unknown_from("PENDING_COUNT_DRIFT", entity, "entity", "; ".join(unread))
    problem = _count_problem(ctx, len(pending_queue(ctx)))
    if problem is None:
        return empty_findings()
    return findings_from("PENDING_COUNT_DRIFT", entity.assign(d=[problem]), "entity", details=lambda row: row["d"])


def mined_transactions(blocks: pd.DataFrame) -> pd.DataFrame:
    """(tx_id, block_number) for every transaction in any tier's usable copy of a block."""
    parts = []
    for tier in TIERS:
        rows = blocks[blocks[f"{tier}_usable"]]
        parts.append(pd.DataFrame({"tx_id": rows[f"{tier}_tx_ids"].to_numpy(),
                                   "block_number": rows["block_number"].to_numpy()}))  # fmt: skip
    pairs = pd.concat(parts, ignore_index=True).explode("tx_id").dropna(subset=["tx_id"])
    return pairs.astype({"tx_id": str}).drop_duplicates()


def check_pending_already_mined(ctx: BlockContext) -> pd.DataFrame:
    if not ctx.readable["r2"]:
        return unknown_from("PENDING_ALREADY_MINED", _one(ALL_PENDING), "entity", ctx.reasons["r2"])
    queue = pending_queue(ctx)
    mined = mined_transactions(ctx.blocks)
    mined = mined[mined["tx_id"].isin(queue["tx_id"])]
    blocks_of = mined.groupby("tx_id")["block_number"].agg(lambda s: sorted(int(n) for n in s)).rename("blocks")
    hits = queue.merge(blocks_of, left_on="tx_id", right_index=True, how="inner")
    failed = findings_from("PENDING_ALREADY_MINED", hits, "tx_id",
                           details=lambda row: {"pending_key": row["key"], "mined_in": row["blocks"]})  # fmt: skip
    if ctx.readable["kv"]:
        return failed
    rest = queue[~queue["tx_id"].isin(hits["tx_id"])]
    return concat_findings([failed, unknown_from("PENDING_ALREADY_MINED", rest, "tx_id", ctx.reasons["kv"])])


def check_pending_backlog(ctx: BlockContext) -> pd.DataFrame:
    entity = _one(QUEUE_ENTITY)
    if not ctx.readable["r2"]:
        return unknown_from("PENDING_BACKLOG", entity, "entity", ctx.reasons["r2"])
    queued = len(pending_queue(ctx))
    if queued <= ctx.backlog_max:
        return empty_findings()
    detail = {"pending": queued, "max": ctx.backlog_max}
    return findings_from("PENDING_BACKLOG", entity.assign(d=[detail]), "entity", details=lambda row: row["d"])
