"""Seed 000's ``consistencyMetrics`` for the NFT layers and across layers, as plain ints (asset metadata).

A row of ``nft_consistency`` is *inconsistent* when a fail finding names its entity, its metadata or
image CID, its level or its wallet:level; *unverified* when only unknown findings do; else *consistent*.
Whole-check unknowns (entity ``*``) stand for rows nobody could see and are not pinned on any row.
Gateway response times are not in the snapshot frames, so ``gatewayResponseTimes`` is omitted.
"""

from __future__ import annotations

import pandas as pd

from .nft_checks_common import WHOLE_CHECK, flag, isin, present
from .nft_join import MINTED, TERMINAL

BROKEN_OBJECT_READS = ("missing", "invalid", "refused")


def _count(mask: pd.Series) -> int:
    return int(mask.fillna(False).astype(bool).sum())


def _source_metrics(frames: dict[str, pd.DataFrame]) -> dict:
    images = frames.get("source_images", pd.DataFrame(columns=["status", "expected"]))
    expected = images[flag(images["expected"])] if "expected" in images else images
    status = expected["status"] if "status" in expected else pd.Series(dtype="object")
    return {
        "availableImages": _count(status == "ok"),
        "missingImages": _count(status == "missing"),
        "corruptedImages": _count(status == "invalid"),
        "unreadableImages": _count(status == "unavailable"),
    }


def _chain_metrics(frames: dict[str, pd.DataFrame]) -> dict:
    txs = frames.get("solana_transaction_statuses", pd.DataFrame(columns=["status", "succeeded"]))
    chain = frames.get("solana_metadata_accounts", pd.DataFrame(columns=["mint", "status"]))
    tx_ok = flag(txs.get("status", pd.Series(dtype="object")), "ok")
    succeeded = txs.get("succeeded", pd.Series(dtype="object"))
    accounts = chain[flag(chain.get("status", pd.Series(dtype="object")), "ok")]
    return {
        "successfulTransactions": _count(tx_ok & flag(succeeded, True)),
        "metadataAccountCreations": int(accounts["mint"].nunique()) if "mint" in accounts else 0,
        "transactionFailures": _count(tx_ok & flag(succeeded, False)),
    }


def _ipfs_metrics(frames: dict[str, pd.DataFrame]) -> dict:
    objects = frames.get("ipfs_objects", pd.DataFrame(columns=["status"]))
    status = objects.get("status", pd.Series(dtype="object"))
    return {
        "accessibleContent": _count(flag(status, "ok")),
        "brokenReferences": _count(isin(status, BROKEN_OBJECT_READS)),
        "unreadableReferences": _count(flag(status, "unavailable")),
    }


def _row_keys(nft: pd.DataFrame) -> list[pd.Series]:
    """Every entity id a finding may name for a row: the row, its objects, its level, its wallet:level."""
    return [
        nft["entity_id"],
        nft["metadata_cid"],
        nft["metadata_cid"] + nft["metadata_path"].fillna(""),
        nft["image_cid"],
        nft["image_cid"] + nft["image_path"].fillna(""),
        nft["check_level"],
        nft["wallet"].astype("object") + ":" + nft["db_level"].astype("object"),
    ]


def _named(keys: list[pd.Series], entity_ids: set) -> pd.Series:
    """Per row, whether a finding names one of its keys (NA keys name nothing)."""
    names = list(entity_ids)
    hits = [key.notna() & key.astype(str).isin(names) for key in keys]
    return pd.concat(hits, axis=1).any(axis=1) if hits else pd.Series(False, index=keys[0].index)


def _row_states(nft: pd.DataFrame, findings: pd.DataFrame) -> pd.Series:
    """Per joined row: ``inconsistent`` | ``unverified`` | ``consistent``."""
    keys = _row_keys(nft)
    named = findings[findings["entity_id"] != WHOLE_CHECK]
    fails, unknowns = set(named.loc[named["status"] == "fail", "entity_id"]), set(named["entity_id"])
    failed, unknown = _named(keys, fails), _named(keys, unknowns)
    state = pd.Series("consistent", index=nft.index, dtype="object")
    state[unknown.to_numpy()] = "unverified"
    state[failed.to_numpy()] = "inconsistent"
    return state


def nft_metrics(nft_consistency: pd.DataFrame, findings: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> dict:
    """``{sourceImages, blockchain, ipfs, database, crossLayer}`` of plain ints."""
    nft = nft_consistency
    state = _row_states(nft, findings)
    in_db = flag(nft["db_read"], "ok")
    status = nft["db_status"]
    partner = findings[findings["check_id"] == "PARTNER_VERIFICATION_FAILED"]
    applicable = present(nft["mint"]) & (flag(nft["chain_read"], "ok") | (in_db & isin(status, MINTED)))
    verified = applicable & ~nft["entity_id"].isin(set(partner["entity_id"]))
    return {
        "sourceImages": _source_metrics(frames),
        "blockchain": _chain_metrics(frames),
        "ipfs": _ipfs_metrics(frames),
        "database": {
            "completedRecords": _count(in_db & flag(status, "COMPLETED")),
            "pendingRecords": _count(in_db & present(status) & ~isin(status, TERMINAL)),
            "inconsistentRecords": int(nft.loc[in_db & (state == "inconsistent"), "op_id"].nunique()),
        },
        "crossLayer": {
            "consistentOperations": _count(state == "consistent"),
            "inconsistentOperations": _count(state == "inconsistent"),
            "unverifiedOperations": _count(state == "unverified"),
            "endToEndVerificationSuccess": _count(verified),
            "endToEndVerificationAttempts": _count(applicable),
        },
    }
