"""KV pointers and indexes: ``vdc:latest`` and ``vdc:tx:ID`` against the persisted blocks.

- LATEST_POINTER_STALE (kv_key ``vdc:latest``): the pointer is missing, unreadable, or does not
  name the highest block number persisted in any tier with that block's hash.
- TX_INDEX_INCONSISTENT (tx id): for each transaction of a block's reference copy, ``vdc:tx:ID`` is
  missing, unreadable, or names another block (number, or ``blockHash`` when given); and an index
  entry whose named block does not hold the transaction (a dangling one). A sharded scan's home shard judges
  those from its sweep of the whole index (:mod:`..snapshots.tx_sweep`): the loose entries ride in its KV frame
  with the sweep's verdict on each named block it did not read itself.

Both are KV checks: if KV could not be read they are unknown (the transactions are then those of
the R2 copies).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..cadences import BLOCK_SCOPE_ATTR
from ..layers import blocks as fmt
from ..snapshots.tx_sweep import SCOPED, SWEEP_ATTR, UNREADABLE, named_block
from .block_join import BlockContext, any_unknown
from .block_reach import block_reach
from .findings import concat_findings, empty_findings, findings_from, unknown_from

WHOLE_INDEX = "*"  # entity of the unknown when the home shard's sweep of the index stopped


def _json_object(text: object) -> dict | None:
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _kv_rows(ctx: BlockContext, kind: str) -> pd.DataFrame:
    frame = ctx.frames.get("kv")
    if frame is None or frame.empty:
        return pd.DataFrame(columns=["key", "kind", "tx_id", "present", "value"])
    return frame[(frame["kind"] == kind) & frame["present"].astype(bool)]


def _latest_problem(ctx: BlockContext) -> dict | None:
    blocks, latest = ctx.blocks, _kv_rows(ctx, "latest")
    if latest.empty:
        return None if blocks.empty else {"problem": f"{fmt.LATEST_KEY} is missing"}
    pointer = _json_object(latest["value"].iloc[0])
    number = pointer.get("blockNumber") if pointer else None
    if not isinstance(number, int) or isinstance(number, bool):
        return {"problem": f"{fmt.LATEST_KEY} is not a JSON object with an integer blockNumber"}
    if blocks.empty:
        return {"problem": "names a block that no tier holds", "latest": number, "highest": None}
    highest = blocks.loc[blocks["block_number"].idxmax()]
    facts = {"latest": number, "highest": int(highest["block_number"])}
    if number != facts["highest"]:
        return facts | {"problem": "does not name the highest persisted block"}
    expected = highest["ref_hash"]
    if isinstance(expected, str) and pointer.get("hash") != expected:
        return facts | {"problem": "hash differs from the block's hash", "hash": pointer.get("hash"),
                        "expected": expected}  # fmt: skip
    return None


def check_latest_pointer(ctx: BlockContext) -> pd.DataFrame:
    entity = pd.DataFrame({"key": [fmt.LATEST_KEY]})
    if not ctx.readable["kv"]:
        return unknown_from("LATEST_POINTER_STALE", entity, "key", ctx.reasons["kv"])
    problem = _latest_problem(ctx)
    if problem is None:
        return empty_findings()
    return findings_from("LATEST_POINTER_STALE", entity.assign(d=[problem]), "key", details=lambda row: row["d"])


def tx_holders(blocks: pd.DataFrame) -> pd.DataFrame:
    """(tx_id, block_number, block_hash) for every transaction of every block's reference copy."""
    rows = blocks[blocks["ref_tier"].notna()]
    pairs = pd.DataFrame({"tx_id": rows["ref_tx_ids"].to_numpy(), "block_number": rows["block_number"].to_numpy(),
                          "block_hash": rows["ref_hash"].to_numpy()})  # fmt: skip
    pairs = pairs.explode("tx_id").dropna(subset=["tx_id"])
    return pairs.astype({"tx_id": str, "block_number": "int64"}).reset_index(drop=True)


def tx_index(ctx: BlockContext) -> pd.DataFrame:
    """The vdc:tx:ID entries: tx_id, index_block (None if unreadable), index_hash."""
    rows = _kv_rows(ctx, "tx")
    values = [_json_object(v) or {} for v in rows["value"]]
    numbers = [named_block(v) for v in values]
    return pd.DataFrame({"tx_id": rows["tx_id"].astype(str).to_numpy(),
                         "index_block": pd.array(numbers, dtype="Int64"),
                         "index_hash": [v.get("blockHash") for v in values]})  # fmt: skip


def _held_problems(holders: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """One row per held transaction whose index entry names none of the blocks holding it."""
    joined = holders.merge(index, on="tx_id", how="left", indicator=True)
    same_block = joined["index_block"].astype("Int64").eq(joined["block_number"]).fillna(False).astype(bool)
    hash_ok = joined["index_hash"].isna() | (joined["index_hash"] == joined["block_hash"])
    matched = joined.loc[(same_block & hash_ok).to_numpy(), "tx_id"]
    unmatched = joined[~joined["tx_id"].isin(matched)]  # usually none: the grouping below stays small
    bad = unmatched.groupby("tx_id", sort=True).agg(
        held_in=("block_number", lambda s: sorted({int(n) for n in s})), indexed=("_merge", "first"),
        index_block=("index_block", "first"),
    ).reset_index()  # fmt: skip
    bad["problem"] = [
        "vdc:tx key missing" if indexed == "left_only" else
        ("vdc:tx value unreadable" if pd.isna(block) else "vdc:tx names another block")
        for indexed, block in zip(bad["indexed"], bad["index_block"], strict=True)
    ]  # fmt: skip
    return bad


def _sweep(ctx: BlockContext) -> dict:
    """The home shard's sweep of the index (:mod:`..snapshots.tx_sweep`), {} for any other read."""
    frame = ctx.frames.get("kv")
    block_scope = frame.attrs.get(BLOCK_SCOPE_ATTR) if frame is not None else None
    return (block_scope or {}).get(SWEEP_ATTR) or {}


def _dangling(ctx: BlockContext, holders: pd.DataFrame, index: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Index entries for transactions no reference copy holds: (fail rows, unknown rows). A named block no tier
    row shows is absent when R2 was read; for the home shard's swept entries, the sweep says what it found. A read
    of some blocks judges only the entries naming a block it read (:mod:`.block_reach`): the rest are out of scope."""
    loose = index[~index["tx_id"].isin(holders["tx_id"])]
    reach = block_reach(ctx.frames.get("kv"))
    if not reach.population:
        loose = loose.loc[np.array([reach.read_block(n) for n in loose["index_block"]], dtype=bool)]
    blocks = ctx.blocks.set_index("block_number")
    named = loose["index_block"].astype("Int64")
    known_block = named.isin(blocks.index[blocks["ref_tier"].notna()]).fillna(False).astype(bool)
    seen = named.isin(blocks.index).fillna(False).astype(bool)
    unread = blocks.index[blocks["ref_tier"].isna() & any_unknown(blocks)]
    swept = loose["tx_id"].map(_sweep(ctx).get("states") or {})
    by_sweep = (swept.notna() & swept.ne(SCOPED)).to_numpy()  # the sweep read the named block, not the shard
    unseen_uncertain = np.where(by_sweep, swept.eq(UNREADABLE).to_numpy(), not ctx.readable["r2"])
    uncertain = (seen & named.isin(unread).fillna(False).astype(bool)) | (~seen & unseen_uncertain)
    return loose[known_block | ~uncertain], loose[~known_block & uncertain]


def check_tx_index(ctx: BlockContext) -> pd.DataFrame:
    holders = tx_holders(ctx.blocks)
    if not ctx.readable["kv"]:
        unique = holders.drop_duplicates("tx_id")
        return unknown_from("TX_INDEX_INCONSISTENT", unique, "tx_id", ctx.reasons["kv"])
    index = tx_index(ctx)
    bad = _held_problems(holders, index)
    held = findings_from(
        "TX_INDEX_INCONSISTENT", bad, "tx_id",
        details=lambda row: {"problem": row["problem"], "held_in": row["held_in"],
                             "index_block": None if pd.isna(row["index_block"]) else int(row["index_block"])},
    )  # fmt: skip
    loose_fail, loose_unknown = _dangling(ctx, holders, index)
    dangling = findings_from(
        "TX_INDEX_INCONSISTENT", loose_fail, "tx_id",
        details=lambda row: {"problem": "vdc:tx names a block that does not hold the transaction",
                             "index_block": None if pd.isna(row["index_block"]) else int(row["index_block"])},
    )  # fmt: skip
    undecided = unknown_from("TX_INDEX_INCONSISTENT", loose_unknown, "tx_id", "the named block could not be read")
    return concat_findings([held, dangling, undecided, _unswept(ctx)])


def _unswept(ctx: BlockContext) -> pd.DataFrame:
    """The home shard's sweep stopped (KV failed listing or reading the index): dangling entries unseen."""
    error = _sweep(ctx).get("error")
    if not error:
        return empty_findings()
    return unknown_from("TX_INDEX_INCONSISTENT", pd.DataFrame({"entity": [WHOLE_INDEX]}), "entity", error)
