"""What a run judged, from its scope and joined frames (pure): the :class:`~.rules.Coverage` of its silence.

- A complete run (regular, deep, manual) judges every entity of every check its reads allow.
- A partial run (immediate, frequent) judges the NFT rows and blocks it read (not their context blocks),
  the CIDs those NFTs use, the transactions those blocks hold, every level (source images and registry are
  read whole) and the block store's pointers and queue only when it read every block
  (``Scope.judges_block_population``). It cannot say that a check over the whole population passes:
  DB_DUPLICATE_MINT, SOURCE_MISSING_ACTIVE_NFT, PENDING_ALREADY_MINED.
- Only the deep cadence GETs every gateway, so only it judges IPFS_CID_INTEGRITY.
- A check left unknown on an entity (or on every entity: ``*``) is not judged there, whatever the scope
  (:func:`unknown_keys`): its silence resolves nothing. A whole-check unknown (``*``) stands for the entities
  no layer could show: an entity the run's frames hold (``seen``) was judged on its own row.
- A shard of the deep scan other than the home shard (``Scope.judges_population`` False) judges neither the
  levels nor the block store's pointers and queue, and does not count the source images as read: its
  silence resolves none of their alerts (:func:`..cadences.home_entities_only` drops its findings on them).
"""

from __future__ import annotations

import pandas as pd

from ..cadences import Scope
from .rules import Coverage

DEEP_ONLY = frozenset({"IPFS_CID_INTEGRITY"})
WHOLE_POPULATION = frozenset({"DB_DUPLICATE_MINT", "SOURCE_MISSING_ACTIVE_NFT", "PENDING_ALREADY_MINED"})
BLOCK_STORE_KEYS = (("kv_key", "vdc:latest"), ("kv_key", "vdc:pending:count"), ("queue", "pending"))


def layers_read(scope: Scope) -> frozenset[str]:
    layers = {"database", "source_images"} if scope.judges_population else {"database"}
    if scope.ops != "none":
        layers |= {"solana", "pinata", "ipfs"}
    if scope.blocks != "none":
        layers |= {"kv", "r2", "ipfs"}
    return frozenset(layers)


def judged_blocks(blocks: pd.DataFrame | None, context: set[str]) -> pd.DataFrame:
    if blocks is None or blocks.empty:
        return pd.DataFrame(columns=["block_number", "ref_tx_ids", "ref_hash"])
    return blocks[~blocks["block_number"].astype(str).isin(context)]


def _nft_entities(nft: pd.DataFrame | None) -> set[tuple[str, str]]:
    if nft is None or nft.empty:
        return set()
    entities = set(zip(nft["entity_type"].astype(str), nft["entity_id"].astype(str), strict=True))
    for role in ("metadata", "image"):
        cids = nft[f"{role}_cid"].dropna().astype(str)
        paths = nft.loc[cids.index, f"{role}_path"].map(lambda p: p if isinstance(p, str) else "")
        entities |= {("cid", cid) for cid in cids} | {("cid", c + p) for c, p in zip(cids, paths, strict=True)}
    return entities


def _block_entities(blocks: pd.DataFrame) -> set[tuple[str, str]]:
    entities = {("block", str(int(n))) for n in blocks["block_number"]}
    for tx_ids in blocks["ref_tx_ids"]:
        if tx_ids is not None and not isinstance(tx_ids, str | float):  # a list (an array once read from Parquet)
            entities |= {("tx", str(tx)) for tx in tx_ids}
    return entities


def unknown_keys(findings: pd.DataFrame) -> frozenset[tuple[str, str]]:
    """(check, entity id) of every unknown finding: checks the run could not judge there."""
    unknowns = findings[findings["status"] == "unknown"]
    return frozenset(zip(unknowns["check_id"].astype(str), unknowns["entity_id"].astype(str), strict=True))


def run_coverage(
    scope: Scope,
    nft: pd.DataFrame | None,
    blocks: pd.DataFrame | None,
    context: set[str],
    levels: list[str],
    findings: pd.DataFrame | None = None,
    unread: frozenset[str] = frozenset(),
) -> Coverage:
    unjudged = set() if scope.ipfs_mode == "deep" else set(DEEP_ONLY)
    seen = _nft_entities(nft) | _block_entities(judged_blocks(blocks, context))
    entities: set[tuple[str, str]] = set()
    if not scope.complete:
        unjudged |= WHOLE_POPULATION
        entities = set(seen)
        if scope.judges_population:
            entities |= {("level", level) for level in levels}
            if scope.judges_block_population:  # a read of some blocks does not judge the pointers or queue
                entities |= set(BLOCK_STORE_KEYS)
    return Coverage(
        findings=True,
        complete=scope.complete,
        entities=frozenset(entities),
        unjudged_checks=frozenset(unjudged),
        layers_read=layers_read(scope),
        unknown=unknown_keys(findings) if findings is not None else frozenset(),
        seen=frozenset(seen),
        unread=frozenset(unread),
    )


def judged_counts(nft: pd.DataFrame | None, blocks: pd.DataFrame | None, context: set[str]) -> dict[str, int]:
    """How many NFT rows and blocks were judged (the denominators of the layer failure rates)."""
    return {"nft": 0 if nft is None else len(nft), "block": len(judged_blocks(blocks, context))}
