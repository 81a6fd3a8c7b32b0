"""Blocks no tier holds: a number below the highest persisted block that neither KV nor R2 has (issue 16).

Such a block cannot show as a row of ``block_consistency`` (a row exists for a number some tier holds; IPFS
is located only through the KV copy's ``ipfsHash``), so besides BLOCK_CHAIN_BROKEN on the block after the gap,
each missing number is named itself: BLOCK_TIER_MISSING with KV and R2 missing and IPFS unknown (no copy
names its CID), critical and MANUAL_REVIEW (no copy to rehydrate from).

Judged only when KV and R2 were both read (otherwise the whole-tier unknowns of :mod:`.block_checks` stand);
a scoped read names only the numbers it judged (``block_scope["judged"]``), a full read every number from 0
up to the highest block seen. At most :data:`MAX_NAMED` numbers are named per run (a gap that wide is one
problem: BLOCK_CHAIN_BROKEN's details give its whole range).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..cadences import BLOCK_SCOPE_ATTR
from .block_join import BlockContext
from .findings import empty_findings, findings_from

MAX_NAMED = 1000
IPFS_UNKNOWN = "not located: no KV copy names this block's ipfsHash"


def _full_read_gaps(present: np.ndarray, limit: int) -> list[int]:
    """Numbers from 0 to max(present) that ``present`` (sorted, unique) lacks, the first ``limit`` of them."""
    starts = np.concatenate([[0], present[:-1] + 1])
    missing: list[int] = []
    for low, high in zip(starts, present, strict=True):
        if high > low:
            missing += range(int(low), int(min(high, low + limit - len(missing))))
        if len(missing) >= limit:
            break
    return missing


def missing_numbers(ctx: BlockContext, limit: int = MAX_NAMED) -> list[int]:
    """The block numbers judged here, below the highest seen, that no tier holds (both KV and R2 read)."""
    blocks = ctx.blocks
    if blocks.empty or not (ctx.readable["kv"] and ctx.readable["r2"]):
        return []
    present = np.unique(blocks["block_number"].astype("int64").to_numpy())
    kv = ctx.frames.get("kv")
    scope = kv.attrs.get(BLOCK_SCOPE_ATTR) if kv is not None else None
    if scope is None:
        return _full_read_gaps(present, limit)
    highest, seen = int(present[-1]), set(present.tolist())
    judged = sorted(int(n) for n in scope.get("judged", []))
    return [n for n in judged if n < highest and n not in seen][:limit]


def check_missing_numbers(ctx: BlockContext) -> pd.DataFrame:
    numbers = missing_numbers(ctx)
    if not numbers:
        return empty_findings()
    rows = pd.DataFrame({"block_number": numbers})
    details = {"missing": ["kv", "r2"], "present": [], "unknown": ["ipfs"], "source": None,
               "problem": "no tier holds this block: a gap in block numbers", "ipfs": IPFS_UNKNOWN}  # fmt: skip
    return findings_from("BLOCK_TIER_MISSING", rows, "block_number", details=lambda _: details,
                         severity="critical", repair="MANUAL_REVIEW")  # fmt: skip
