"""On-demand verification of one entity across all its layers (seed 000's ``verifyMultiLayerConsistency``,
seed 004's "verify single block"): no Dagster here; the CLI (`reconcile verify`) and the ``verify_entity``
job call :func:`verify`.

A :class:`~.snapshots.entity.Target` is an operation id, a mint, a block number or a CID; only that entity's
records are read (:func:`~.snapshots.entity.read_entity`).

Every check runs on those frames (the same pure functions as a reconciliation); the findings kept are those
on the entity's own keys (:func:`entity_keys`: the NFT or operation, its CIDs, its level, its wallet and
level; the block and its transactions) and the unknowns that cover every entity of a check (``*``). Checks
that need the whole population (DB_DUPLICATE_MINT needs the wallet's other operations, orphans need the
listing by update authority, LATEST_POINTER_STALE and the pending queue need the chain head) are judged by
the cadences, not here. Nothing is recorded; repairs go through the ledger like any apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .cadences import in_scope
from .checks.block_checks import run_block_checks
from .checks.block_join import build_block_consistency
from .checks.findings import concat_findings, empty_findings
from .checks.nft_checks import nft_findings
from .checks.nft_checks_common import WHOLE_CHECK
from .checks.nft_join import NFT_CONSISTENCY_COLUMNS, build_nft_consistency
from .layers import blocks as fmt
from .repairs.plan import build_plan
from .settings import Settings
from .snapshots.base import Snapshot
from .snapshots.entity import Target, read_entity

__all__ = ["Target", "Verification", "entity_keys", "own_findings", "verify"]

NFT_LAYERS = ("source_images", "database", "solana", "ipfs", "pinata")
BLOCK_LAYERS = ("kv", "r2", "ipfs")


@dataclass
class Verification:
    target: Target
    snapshots: dict[str, Snapshot]
    findings: pd.DataFrame  # the entity's findings (fail and unknown)
    keys: set[tuple[str, str]]  # (entity_type, entity_id) the target covers
    plan: pd.DataFrame
    nft: pd.DataFrame = field(default_factory=pd.DataFrame)
    blocks: pd.DataFrame = field(default_factory=pd.DataFrame)
    note: str = ""  # e.g. no operation names this CID

    @property
    def layers(self) -> tuple[str, ...]:
        return BLOCK_LAYERS if self.target.kind == "block" else NFT_LAYERS


# -- judging ------------------------------------------------------------------------------------
def entity_keys(target: Target, joined_nft: pd.DataFrame, kv: pd.DataFrame) -> set[tuple[str, str]]:
    """The (entity_type, entity_id) pairs a target covers."""
    if target.kind == "block":
        keys = {("block", target.value)}
        own = kv[(kv["kind"] == "block") & (kv["block_number"] == int(target.value)) & kv["present"]]
        for raw in own["value"]:
            keys |= {("tx", tx_id) for tx_id in fmt.listed_tx_ids(fmt.json_object(raw.encode()) or {})}
        return keys
    rows = joined_nft
    if target.kind == "operation":
        rows = rows[rows["op_id"].astype(str) == target.value]
    elif target.kind == "mint":
        rows = rows[rows["mint"] == target.value]
    keys = {(str(t), str(i)) for t, i in zip(rows["entity_type"], rows["entity_id"], strict=True)}
    keys |= {("operation", str(op)) for op in rows["op_id"].dropna()}
    for column in ("metadata_cid", "image_cid"):
        keys |= {("cid", str(cid)) for cid in rows[column].dropna()}
    keys |= {("level", str(level)) for level in rows["check_level"].dropna()}
    keys |= {("wallet_level", f"{w}:{lv}") for w, lv in zip(rows["wallet"], rows["db_level"], strict=True)
             if isinstance(w, str) and isinstance(lv, str)}  # fmt: skip
    if target.kind == "cid":
        keys.add(("cid", target.value))
    return keys


def own_findings(findings: pd.DataFrame, keys: set[tuple[str, str]]) -> pd.DataFrame:
    """The findings on ``keys``, and the unknowns standing for every entity of a check of those entity types."""
    if findings.empty:
        return findings
    pairs = list(zip(findings["entity_type"], findings["entity_id"].astype(str), strict=True))
    types = {entity_type for entity_type, _ in keys}
    mine = [pair in keys or (pair[1] == WHOLE_CHECK and pair[0] in types) for pair in pairs]
    return findings[mine].reset_index(drop=True)


def verify(settings: Settings, target: Target) -> Verification:
    """Read ``target``'s records on every layer, run every check on them, keep the entity's findings, plan."""
    snapshots = read_entity(settings, target)
    frames = {name: snapshot.frame for name, snapshot in snapshots.items()}
    if target.kind == "block":
        joined_blocks = build_block_consistency(frames, settings)
        findings = in_scope(run_block_checks(frames, settings, blocks=joined_blocks), frames)
        joined_nft = pd.DataFrame(columns=NFT_CONSISTENCY_COLUMNS)
        keys = entity_keys(target, joined_nft, frames["blockstore_kv"])
    else:
        joined_nft = build_nft_consistency(frames, settings)
        joined_blocks = build_block_consistency(frames, settings)  # the skipped tiers: no rows
        findings = nft_findings(joined_nft, frames, settings) if len(joined_nft) else empty_findings()
        keys = entity_keys(target, joined_nft, frames["blockstore_kv"])
    mine = concat_findings([own_findings(findings, keys)])
    plan = build_plan(mine, joined_nft, joined_blocks, settings)
    note = ""
    if target.kind != "block" and snapshots["db_minting_operations"].status.status != "unavailable":
        if snapshots["db_minting_operations"].frame.empty:
            note = f"no minting operation names {target}"
    return Verification(target, snapshots, mine, keys, plan, joined_nft, joined_blocks, note)
