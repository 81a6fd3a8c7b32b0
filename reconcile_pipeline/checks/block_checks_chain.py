"""Chain integrity checks on each block's reference copy: the best valid copy (KV > R2 > IPFS), else the
first that parses as the block (so a tier holding other bytes is divergence, not tampering).

- BLOCK_HASH_INVALID: the SHA-256 recomputed over ``settings.blockstore.hash_fields`` differs from
  ``hash``; also when no tier holds a copy that parses as block N (all tiers read).
- BLOCK_MERKLE_INVALID: the recomputed Merkle root differs from ``merkleRoot``.
- Both also judge the KV copy on its own when it is not the reference (another tier holds a valid copy):
  KV is the truth tier, so a KV copy failing its own hash or Merkle root is tampering (``tier: kv``,
  critical, manual), never a divergence to rehydrate over.
- BLOCK_CHAIN_BROKEN: ``previousHash`` differs from block N-1's ``hash`` (genesis: 64 zeros), or
  block N-1 is in no tier (a gap; judged only when KV and R2 were both read).

The link check is one merge of the frame with itself shifted by one block number: linear time.
KV is the truth for these checks: if KV could not be read, every block is unknown for them.
"""

from __future__ import annotations

import pandas as pd

from ..layers import blocks as fmt
from .block_join import PRESENT, TIERS, BlockContext, any_unknown, unknown_reasons
from .findings import concat_findings, findings_from, unknown_from


def _kv_unread(ctx: BlockContext, check_id: str) -> pd.DataFrame:
    return unknown_from(check_id, ctx.blocks, "block_number", ctx.reasons["kv"])


def _unreadable_copies(ctx: BlockContext, check_id: str) -> pd.DataFrame:
    """Blocks with no usable copy because a tier could not be read: unknown."""
    blocks = ctx.blocks
    rows = blocks[blocks["ref_tier"].isna() & any_unknown(blocks)]
    return unknown_from(check_id, rows, "block_number", unknown_reasons(rows))


def _kv_judged_apart(blocks: pd.DataFrame) -> pd.Series:
    """KV's copy parses as the block but is not the reference copy (another tier holds a valid one)."""
    return (blocks["kv_status"] == PRESENT) & blocks["kv_usable"] & (blocks["ref_tier"] != "kv")


def kv_fails_itself(blocks: pd.DataFrame) -> pd.Series:
    """KV's copy (the truth tier) fails its own hash or Merkle root while another tier's copy validates."""
    kv_hash = blocks["kv_hash_computed"] != blocks["kv_hash"]
    kv_merkle = blocks["kv_merkle_computed"] != blocks["kv_merkle_root"]
    return _kv_judged_apart(blocks) & (kv_hash | kv_merkle)


def _kv_own(blocks: pd.DataFrame, computed: str, stored: str) -> pd.DataFrame:
    return blocks[_kv_judged_apart(blocks) & (blocks[f"kv_{computed}"] != blocks[f"kv_{stored}"])]


def check_block_hash(ctx: BlockContext) -> pd.DataFrame:
    if not ctx.readable["kv"]:
        return _kv_unread(ctx, "BLOCK_HASH_INVALID")
    blocks = ctx.blocks
    has_ref = blocks["ref_tier"].notna()
    stale = blocks[has_ref & (blocks["ref_hash_computed"] != blocks["ref_hash"])]
    fields = list(ctx.hash_fields)
    mismatched = findings_from(
        "BLOCK_HASH_INVALID", stale, "block_number",
        details=lambda row: {"tier": row["ref_tier"], "hash": row["ref_hash"],
                             "recomputed": row["ref_hash_computed"], "hash_fields": fields},
    )  # fmt: skip
    kv_own = findings_from(
        "BLOCK_HASH_INVALID", _kv_own(blocks, "hash_computed", "hash"), "block_number",
        details=lambda row: {"tier": "kv", "hash": row["kv_hash"], "recomputed": row["kv_hash_computed"],
                             "hash_fields": fields, "valid_copy_in": row["ref_tier"]},
    )  # fmt: skip
    unparsable = blocks[~has_ref & ~any_unknown(blocks)]
    no_block = findings_from(
        "BLOCK_HASH_INVALID", unparsable, "block_number",
        details=lambda row: {"problem": "no tier holds a copy that parses as this block",
                             "errors": {t: row[f"{t}_error"] for t in TIERS if isinstance(row[f"{t}_error"], str)}},
    )  # fmt: skip
    return concat_findings([mismatched, kv_own, no_block, _unreadable_copies(ctx, "BLOCK_HASH_INVALID")])


def check_merkle_root(ctx: BlockContext) -> pd.DataFrame:
    if not ctx.readable["kv"]:
        return _kv_unread(ctx, "BLOCK_MERKLE_INVALID")
    blocks = ctx.blocks
    wrong = blocks[blocks["ref_tier"].notna() & (blocks["ref_merkle_computed"] != blocks["ref_merkle_root"])]
    failed = findings_from(
        "BLOCK_MERKLE_INVALID", wrong, "block_number",
        details=lambda row: {"tier": row["ref_tier"], "merkleRoot": row["ref_merkle_root"],
                             "recomputed": row["ref_merkle_computed"], "transactions": len(row["ref_tx_ids"])},
    )  # fmt: skip
    kv_own = findings_from(
        "BLOCK_MERKLE_INVALID", _kv_own(blocks, "merkle_computed", "merkle_root"), "block_number",
        details=lambda row: {"tier": "kv", "merkleRoot": row["kv_merkle_root"], "recomputed": row["kv_merkle_computed"],
                             "transactions": len(row["kv_tx_ids"]), "valid_copy_in": row["ref_tier"]},
    )  # fmt: skip
    return concat_findings([failed, kv_own, _unreadable_copies(ctx, "BLOCK_MERKLE_INVALID")])


def chain_links(blocks: pd.DataFrame) -> pd.DataFrame:
    """Each block beside its predecessor (block_number - 1): prev_seen, prev_hash, prev_has_ref, prev_unknown,
    and ``seen_before`` (the nearest lower block number present, for naming a gap)."""
    ordered = blocks.sort_values("block_number")
    own = pd.DataFrame({
        "block_number": ordered["block_number"].to_numpy(),
        "ref_tier": ordered["ref_tier"].to_numpy(),
        "ref_previous_hash": ordered["ref_previous_hash"].to_numpy(),
        "unknown": any_unknown(ordered).to_numpy(),
        "reason": unknown_reasons(ordered).to_numpy(),
        "seen_before": ordered["block_number"].shift(1).to_numpy(),
    })  # fmt: skip
    previous = pd.DataFrame({
        "block_number": ordered["block_number"].to_numpy() + 1,
        "prev_seen": True,
        "prev_hash": ordered["ref_hash"].to_numpy(),
        "prev_has_ref": ordered["ref_tier"].notna().to_numpy(),
        "prev_unknown": any_unknown(ordered).to_numpy(),
        "prev_reason": unknown_reasons(ordered).to_numpy(),
    })  # fmt: skip
    links = own.merge(previous, on="block_number", how="left")
    links["prev_seen"] = links["prev_seen"].astype("boolean").fillna(False).astype(bool)
    for flag in ("prev_has_ref", "prev_unknown"):
        links[flag] = links[flag].astype("boolean").fillna(False).astype(bool)
    return links


def _gap_details(row: pd.Series) -> dict:
    first = 0 if pd.isna(row["seen_before"]) else int(row["seen_before"]) + 1
    return {"problem": "gap in block numbers", "missing_from": first, "missing_to": int(row["block_number"]) - 1}


def check_chain_links(ctx: BlockContext) -> pd.DataFrame:
    if not ctx.readable["kv"]:
        return _kv_unread(ctx, "BLOCK_CHAIN_BROKEN")
    links = chain_links(ctx.blocks)
    number, has_ref = links["block_number"], links["ref_tier"].notna()
    genesis = has_ref & (number == 0) & (links["ref_previous_hash"] != fmt.GENESIS_PREVIOUS_HASH)
    linked = has_ref & links["prev_has_ref"]
    forked = linked & (links["ref_previous_hash"] != links["prev_hash"])
    gap = (number > 0) & ~links["prev_seen"]
    link_details = lambda row: {  # noqa: E731
        "problem": "previousHash differs from the hash of the block before", "tier": row["ref_tier"],
        "previousHash": row["ref_previous_hash"],
        "expected": fmt.GENESIS_PREVIOUS_HASH if row["block_number"] == 0 else row["prev_hash"],
    }  # fmt: skip
    parts = [findings_from("BLOCK_CHAIN_BROKEN", links[genesis | forked], "block_number", details=link_details)]
    if ctx.readable["r2"]:  # a number in no tier is a gap only if every tier that could hold it was read
        parts.append(findings_from("BLOCK_CHAIN_BROKEN", links[gap], "block_number", details=_gap_details))
    else:
        parts.append(unknown_from("BLOCK_CHAIN_BROKEN", links[gap], "block_number", ctx.reasons["r2"]))
    prev_unread = has_ref & (number > 0) & links["prev_seen"] & ~links["prev_has_ref"] & links["prev_unknown"]
    parts.append(unknown_from("BLOCK_CHAIN_BROKEN", links[prev_unread & ~gap], "block_number",
                              "block before: " + links.loc[prev_unread & ~gap, "prev_reason"]))  # fmt: skip
    own_unread = ~has_ref & links["unknown"] & ~gap
    parts.append(unknown_from("BLOCK_CHAIN_BROKEN", links[own_unread], "block_number", links.loc[own_unread, "reason"]))
    return concat_findings(parts)
