"""The block-store checks of DESIGN §3 (seed 004): frames in, findings out, pure.

:func:`run_block_checks` builds ``block_consistency`` (:mod:`.block_join`) and runs every check of
``catalogue.BLOCK_CHECKS``; :func:`block_findings` does the same on an already built frame. This
module holds the tier checks; the chain checks are in :mod:`.block_checks_chain`, ``vdc:latest``
and the transaction index in :mod:`.block_checks_index`, the pending queue in
:mod:`.block_checks_pending`.

One cause, one finding: a block missing from R2 is BLOCK_TIER_MISSING only; an R2 copy with other
bytes is BLOCK_TIER_DIVERGENT (not also a Merkle failure: the chain checks judge the best valid
copy); a KV copy (the truth) that fails its own hash or Merkle root while another tier holds a valid copy
is BLOCK_HASH_INVALID / BLOCK_MERKLE_INVALID on tier ``kv`` (critical, manual: never rehydrated over), not
also a divergence; a number below the highest block that no tier holds is BLOCK_TIER_MISSING on that number
(:mod:`.block_checks_gaps`) besides BLOCK_CHAIN_BROKEN on the block after it; a mock ``ipfsHash`` is
BLOCK_IPFS_HASH_INVALID (the IPFS copy is then not located, so not also missing).
Unknown is not missing: a tier that could not be read makes the
checks that need it unknown for the blocks concerned, with the reason, and never fail; the blocks
only that tier holds cannot even be listed, so the checks that would judge them get one unknown
with entity ``*`` (:data:`WHOLE_TIER_UNKNOWNS`, as the NFT checks do).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..cadences import BLOCK_POPULATION_CHECKS
from .block_checks_chain import check_block_hash, check_chain_links, check_merkle_root, kv_fails_itself
from .block_checks_gaps import check_missing_numbers
from .block_checks_index import check_latest_pointer, check_tx_index
from .block_checks_pending import check_pending_already_mined, check_pending_backlog, check_pending_count
from .block_join import (
    MISSING,
    PRESENT,
    TIERS,
    UNKNOWN_STATES,
    BlockContext,
    block_context,
    tiers_in,
    unknown_reasons,
)
from .block_reach import block_reach, within_reach
from .catalogue import CATALOGUE
from .findings import concat_findings, empty_findings, findings_from, unknown_from


def _present_cores(row: pd.Series) -> dict[str, str]:
    return {tier: row[f"{tier}_core_sha256"] for tier in TIERS if row[f"{tier}_status"] == PRESENT}


def _errors(row: pd.Series) -> dict[str, str]:
    return {tier: row[f"{tier}_error"] for tier in TIERS if isinstance(row[f"{tier}_error"], str)}


def rehydrate_or_manual(found: pd.DataFrame, sources: pd.Series, check_id: str) -> pd.DataFrame:
    """Rows with no valid source tier cannot be rehydrated: critical and MANUAL_REVIEW."""
    if found.empty:
        return found
    none = sources.isna().to_numpy()
    found["severity"] = np.where(none, "critical", CATALOGUE[check_id].severity)
    found["repair"] = np.where(none, "MANUAL_REVIEW", CATALOGUE[check_id].repair)
    return found


def check_tier_missing(ctx: BlockContext) -> pd.DataFrame:
    """A tier read without error that lacks the block; repair from the best valid tier (KV > R2 > IPFS)."""
    blocks = ctx.blocks
    missing = tiers_in(blocks, {MISSING})
    unknown = tiers_in(blocks, UNKNOWN_STATES)
    has_missing = missing.str.len() > 0
    rows = blocks[has_missing].assign(_missing=missing[has_missing], _unknown=unknown[has_missing])

    def details(row: pd.Series) -> dict:
        present = [tier for tier in TIERS if row[f"{tier}_status"] == PRESENT]
        return {"missing": row["_missing"], "present": present, "unknown": row["_unknown"],
                "source": row["source_tier"], "errors": _errors(row)}  # fmt: skip

    failed = rehydrate_or_manual(
        findings_from("BLOCK_TIER_MISSING", rows, "block_number", details=details), rows["source_tier"],
        "BLOCK_TIER_MISSING",
    )  # fmt: skip
    undecided = blocks[~has_missing & (unknown.str.len() > 0)]
    return concat_findings([failed, unknown_from("BLOCK_TIER_MISSING", undecided, "block_number",
                                                 unknown_reasons(undecided)), check_missing_numbers(ctx)])  # fmt: skip


def check_tier_divergent(ctx: BlockContext) -> pd.DataFrame:
    """KV and R2 hold different bytes (core compared); an IPFS copy differing alone is an ipfsHash problem."""
    blocks = ctx.blocks
    both = (blocks["kv_status"] == PRESENT) & (blocks["r2_status"] == PRESENT)
    differ = both & (blocks["kv_core_sha256"] != blocks["r2_core_sha256"])
    rows = blocks[differ & ~kv_fails_itself(blocks)]  # a KV copy failing its own hash/Merkle root: those findings

    def details(row: pd.Series) -> dict:
        cores = _present_cores(row)
        source = row["source_tier"]
        diverging = [tier for tier, core in cores.items() if source is None or core != cores[source]]
        return {"cores": cores, "source": source, "diverging": diverging, "errors": _errors(row)}

    failed = rehydrate_or_manual(
        findings_from("BLOCK_TIER_DIVERGENT", rows, "block_number", details=details), rows["source_tier"],
        "BLOCK_TIER_DIVERGENT",
    )  # fmt: skip
    pair_unknown = blocks["kv_status"].isin(UNKNOWN_STATES) | blocks["r2_status"].isin(UNKNOWN_STATES)
    undecided = blocks[~differ & pair_unknown]
    reasons = unknown_reasons(undecided, ("kv", "r2"))
    return concat_findings([failed, unknown_from("BLOCK_TIER_DIVERGENT", undecided, "block_number", reasons)])


def check_ipfs_hash(ctx: BlockContext) -> pd.DataFrame:
    """The KV copy's ipfsHash: present, a real CID (no mock), naming bytes equal to the block's core."""
    blocks = ctx.blocks
    if not ctx.readable["kv"]:
        return unknown_from("BLOCK_IPFS_HASH_INVALID", blocks, "block_number", ctx.reasons["kv"])
    judged = (blocks["kv_status"] == PRESENT) & blocks["kv_usable"]  # a broken KV copy: divergence or hash covers it
    problem = judged & blocks["kv_ipfs_problem"].notna()
    r2_differs = (blocks["r2_status"] == PRESENT) & (blocks["r2_core_sha256"] != blocks["kv_core_sha256"])
    ipfs_differs = (blocks["ipfs_status"] == PRESENT) & (blocks["ipfs_core_sha256"] != blocks["kv_core_sha256"])
    bytes_differ = judged & ~problem & ipfs_differs & ~r2_differs & ~kv_fails_itself(blocks)  # KV tampered: not IPFS
    rows = blocks[problem | bytes_differ]

    def details(row: pd.Series) -> dict:
        problem_text = row["kv_ipfs_problem"]
        if not isinstance(problem_text, str):
            problem_text = f"the bytes at {row['kv_ipfs_hash']} are not this block (core differs from KV's)"
        return {"ipfsHash": row["kv_ipfs_hash"], "problem": problem_text, "source": row["source_tier"]}

    failed = findings_from("BLOCK_IPFS_HASH_INVALID", rows, "block_number", details=details)
    if not failed.empty:
        failed["repair"] = np.where(rows["source_tier"].isna(), "MANUAL_REVIEW", "REPIN_BLOCK_AND_UPDATE_KV")
    undecided = blocks[judged & ~problem & blocks["ipfs_status"].isin(UNKNOWN_STATES)]
    reasons = unknown_reasons(undecided, ("ipfs",))
    return concat_findings([failed, unknown_from("BLOCK_IPFS_HASH_INVALID", undecided, "block_number", reasons)])


BLOCK_CHECK_FUNCTIONS = {
    "BLOCK_TIER_MISSING": check_tier_missing,
    "BLOCK_TIER_DIVERGENT": check_tier_divergent,
    "BLOCK_HASH_INVALID": check_block_hash,
    "BLOCK_CHAIN_BROKEN": check_chain_links,
    "BLOCK_MERKLE_INVALID": check_merkle_root,
    "LATEST_POINTER_STALE": check_latest_pointer,
    "BLOCK_IPFS_HASH_INVALID": check_ipfs_hash,
    "TX_INDEX_INCONSISTENT": check_tx_index,
    "PENDING_COUNT_DRIFT": check_pending_count,
    "PENDING_ALREADY_MINED": check_pending_already_mined,
    "PENDING_BACKLOG": check_pending_backlog,
}


WHOLE_TIER = "*"
WHOLE_TIER_UNKNOWNS: dict[str, tuple[str, tuple[str, ...]]] = {
    # tier unreadable as a whole -> (what cannot be seen, the checks that would judge those unseen entities)
    "kv": ("blocks only KV holds, and their transactions, cannot be seen",
           ("BLOCK_TIER_MISSING", "BLOCK_TIER_DIVERGENT", "BLOCK_HASH_INVALID", "BLOCK_CHAIN_BROKEN",
            "BLOCK_MERKLE_INVALID", "BLOCK_IPFS_HASH_INVALID", "TX_INDEX_INCONSISTENT")),
    "r2": ("blocks only R2 holds (a persist that failed after R2) cannot be seen", ("BLOCK_TIER_MISSING",)),
}  # fmt: skip


def whole_tier_unknowns(ctx: BlockContext) -> list[pd.DataFrame]:
    """Entity ``*`` unknowns for the checks whose blocks an unreadable tier would have named."""
    parts = []
    for tier, (unseen, check_ids) in WHOLE_TIER_UNKNOWNS.items():
        if not ctx.readable[tier]:
            entity = pd.DataFrame({"entity": [WHOLE_TIER]})
            reason = f"{unseen}: {ctx.reasons[tier]}"
            parts += [unknown_from(check_id, entity, "entity", reason) for check_id in check_ids]
    return parts


def block_findings(ctx: BlockContext) -> pd.DataFrame:
    """Every block check's findings (fail and unknown) on a built context, within the read's reach
    (:mod:`.block_reach`): nothing when no block was read; the store's pointers and queue only when every block
    was; findings on blocks the read took only as context dropped."""
    reach = block_reach(ctx.frames.get("kv"))
    if not reach.anything:
        return empty_findings()
    checks = [check for check_id, check in BLOCK_CHECK_FUNCTIONS.items()
              if reach.population or check_id not in BLOCK_POPULATION_CHECKS]  # fmt: skip
    return within_reach(concat_findings([check(ctx) for check in checks] + whole_tier_unknowns(ctx)), reach)


def run_block_checks(frames: dict[str, pd.DataFrame], settings, blocks: pd.DataFrame | None = None) -> pd.DataFrame:
    """All block-store findings from the snapshot frames (``blocks``: an already built block_consistency)."""
    return block_findings(block_context(frames, settings, blocks))
