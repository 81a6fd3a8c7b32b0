"""Seed 000's ``consistencyMetrics`` per layer and cross-layer, plus seed 004's block-store summary.

The numbers are the ones the consistency assets put in their metadata (``nft_metrics`` and
``block_metrics`` of ``checks/``), recomputed from the run's frames so a report of a past run has them
too. :data:`METRIC_ROWS` lays them out for people: each seed metric with where its number comes from;
metrics the snapshots cannot observe are listed with the reason instead of a made-up number.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..checks.block_status import block_metrics, block_statuses, unreadable_tiers
from ..checks.catalogue import BLOCK_CHECKS, NFT_CHECKS
from ..checks.nft_checks_metrics import nft_metrics
from .runs import RunFrames

NFT_FRAMES = ("source_images", "solana_transaction_statuses", "solana_metadata_accounts", "ipfs_objects")


@dataclass(frozen=True)
class MetricRow:
    group: str  # sourceImages | blockchain | ipfs | database | crossLayer | blockStore
    key: str
    label: str
    seed: bool  # named in the seed (False: an addition of this pipeline)
    note: str = ""  # where the number comes from, or why there is none


def _row(group: str, key: str, label: str, seed: bool = True, note: str = "") -> MetricRow:
    return MetricRow(group, key, label, seed, note)


METRIC_GROUPS = {
    "sourceImages": "Source images",
    "blockchain": "Blockchain (Solana)",
    "ipfs": "IPFS",
    "database": "Database",
    "crossLayer": "Cross-layer",
    "blockStore": "Block store (seed 004)",
}
METRIC_ROWS: tuple[MetricRow, ...] = (
    _row("sourceImages", "availableImages", "Available images"),
    _row("sourceImages", "missingImages", "Missing images"),
    _row("sourceImages", "corruptedImages", "Corrupted images"),
    _row("sourceImages", "unreadableImages", "Unreadable images", False, "could not be read (unknown)"),
    _row("sourceImages", "lastVerificationTime", "Last verification", note="this run's time"),
    _row("blockchain", "successfulTransactions", "Successful transactions"),
    _row("blockchain", "metadataAccountCreations", "Metadata accounts"),
    _row("blockchain", "transactionFailures", "Transaction failures"),
    _row("ipfs", "successfulUploads", "Successful uploads", note="CIDs in the Pinata pin list"),
    _row("ipfs", "accessibleContent", "Accessible content"),
    _row("ipfs", "brokenReferences", "Broken references"),
    _row("ipfs", "unreadableReferences", "Unreadable references", False, "could not be read (unknown)"),
    _row("ipfs", "gatewayResponseTimes", "Gateway response times", note="not measured by the snapshots"),
    _row("database", "completedRecords", "Completed records"),
    _row("database", "pendingRecords", "Pending records"),
    _row("database", "inconsistentRecords", "Inconsistent records"),
    _row("crossLayer", "consistentOperations", "Consistent operations"),
    _row("crossLayer", "inconsistentOperations", "Inconsistent operations"),
    _row("crossLayer", "unverifiedOperations", "Unverified operations", False, "only unknown findings"),
    _row("crossLayer", "reconciliationEvents", "Reconciliation events", note="repairs after this run, before the next"),
    _row("crossLayer", "endToEndVerificationSuccess", "End-to-end verified"),
    _row("crossLayer", "endToEndVerificationAttempts", "End-to-end attempts", False, "mints that could be verified"),
    _row("blockStore", "total_blocks", "Blocks", False),
    _row("blockStore", "status_ok", "ok", False),
    _row("blockStore", "status_partial", "partial", False),
    _row("blockStore", "status_rehydrated", "rehydrated", False),
    _row("blockStore", "status_failed", "failed", False),
    _row("blockStore", "status_unknown", "unknown", False),
    _row("blockStore", "highest_block", "Highest block", False),
)


def _nft_part(frames: RunFrames) -> dict | None:
    if frames.nft is None or any(name not in frames.snapshots for name in NFT_FRAMES):
        return None
    findings = frames.findings[frames.findings["check_id"].isin(NFT_CHECKS)].reset_index(drop=True)
    return nft_metrics(frames.nft, findings, frames.snapshots)


def _block_part(frames: RunFrames, rehydrated: list[int]) -> dict | None:
    if frames.blocks is None:
        return None
    findings = frames.findings[frames.findings["check_id"].isin(BLOCK_CHECKS)].reset_index(drop=True)
    unreadable = unreadable_tiers(frames.snapshots)  # without KV: no count of blocks, never 0
    return block_metrics(block_statuses(frames.blocks, findings, rehydrated), findings, unreadable)


def run_metrics(
    frames: RunFrames,
    *,
    verified_at: str | None = None,
    repair_events: int | None = None,
    rehydrated: list[int] | None = None,
) -> dict:
    """``{group: {key: value}}``; a group is absent when its frames are not in the run. ``rehydrated``: blocks
    a verified repair restored (their status is ``rehydrated`` when ok now)."""
    metrics: dict[str, dict] = {}
    nft = _nft_part(frames)
    if nft is not None:
        metrics |= {group: dict(values) for group, values in nft.items()}
        metrics["sourceImages"]["lastVerificationTime"] = verified_at
        pins = frames.snapshots.get("pinata_pins")
        metrics["ipfs"]["successfulUploads"] = None if pins is None else int(len(pins))
        metrics["ipfs"]["gatewayResponseTimes"] = None
        metrics["crossLayer"]["reconciliationEvents"] = repair_events
    blocks = _block_part(frames, rehydrated or [])
    if blocks is not None:
        metrics["blockStore"] = {k: v for k, v in blocks.items() if not k.endswith("_findings")}
    return metrics


def metrics_frame(metrics: dict, run_id: str) -> pd.DataFrame:
    """Long form for the Parquet export: run_id, group, metric, value (float, null when not measured), seed."""
    rows = [
        {
            "run_id": run_id,
            "group": row.group,
            "metric": row.key,
            "value": _number(metrics[row.group].get(row.key)),
            "seed": row.seed,
        }
        for row in METRIC_ROWS
        if row.group in metrics
    ]
    return pd.DataFrame(rows, columns=["run_id", "group", "metric", "value", "seed"])


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
