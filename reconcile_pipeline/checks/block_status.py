"""Each block's storage status as seed 004 reports it, and the seed's status summary.

Statuses (seed 004 "Verification States"), decided from ``block_consistency``:

- ``ok``: KV, R2 and IPFS all hold the block and their copies agree (same core bytes);
- ``partial``: some tier lacks it (missing, other bytes, or no usable ``ipfsHash``) but a tier
  holds a copy that validates (parses, recomputed hash and Merkle root match): a rehydration source;
- ``failed``: some tier lacks it and no copy validates (manual recovery);
- ``rehydrated``: ok now, and a repair ledger says a tier of it was restored (``rehydrated`` numbers);
- ``unknown``: nothing is known to be wrong but a tier could not be read (unknown is not missing;
  an addition to the seed's four states).

Each block not ok has a ``reason``: what each tier lacks (``r2: read, no copy``, ``ipfs: not found on any
gateway``, a tier that could not be read), which copy holds other bytes, and the rehydration source.

Chain integrity (hash, links, Merkle root) is reported by the findings, not by this status: a block
whose three tiers agree on a tampered copy is ``ok`` here and BLOCK_HASH_INVALID there.
:func:`status_report` is shaped like seed 004's ``GET /api/storage-verify/status``; given the tiers that could
not be read at all, it says so (``unreadable``), and ``totalBlocks`` is null when KV, the truth that lists the
blocks, could not be read: an unreadable store never looks empty. :func:`status_exit_code` is the command's
exit code: 0 every block judged and complete, 1 some block incomplete, 3 nothing incomplete but something
could not be read.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .block_join import FRAME_NAMES, PRESENT, TIERS, UNKNOWN_STATES, tier_readability

STATUSES = ("ok", "partial", "rehydrated", "failed", "unknown")
STATUS_COLUMNS = [
    "block_number", "kv", "r2", "ipfs", "ipfs_cid", "complete", "status", "source_tier", "problems", "reason",
]  # fmt: skip
NOT_OK = ("partial", "failed", "unknown")


def _presence(blocks: pd.DataFrame, tier: str) -> pd.Series:
    """True (present), False (read and absent / not located), None (could not be read)."""
    values = [True if s == PRESENT else None if s in UNKNOWN_STATES else False for s in blocks[f"{tier}_status"]]
    return pd.Series(values, index=blocks.index, dtype=object)


def _disagreeing(blocks: pd.DataFrame) -> pd.Series:
    """Present copies whose core differs from the source's (or, with no source, from each other)."""
    present = {tier: blocks[f"{tier}_status"] == PRESENT for tier in TIERS}
    cores = pd.concat([blocks[f"{t}_core_sha256"].where(present[t]) for t in TIERS], axis=1)
    return cores.nunique(axis=1, dropna=True) > 1


def _failing_checks(findings: pd.DataFrame | None, numbers: pd.Series) -> pd.Series:
    if findings is None or findings.empty:
        return pd.Series([[] for _ in range(len(numbers))], index=numbers.index, dtype=object)
    rows = findings[(findings["entity_type"] == "block") & (findings["status"] == "fail")]
    by_block = rows.groupby("entity_id")["check_id"].agg(lambda s: sorted(set(s)))
    keys = numbers.astype(str)
    return pd.Series([by_block.get(k, []) for k in keys], index=numbers.index, dtype=object)


def _reason(row: dict, status: str) -> str:
    """Why one block is partial, failed or unknown (its tiers' problems, then what can be done)."""
    source = row["source_tier"] if isinstance(row["source_tier"], str) else None
    source_core = row[f"{source}_core_sha256"] if source else None
    cores = {row[f"{t}_core_sha256"] for t in TIERS if row[f"{t}_status"] == PRESENT}
    parts = []
    for tier in TIERS:
        if row[f"{tier}_status"] != PRESENT:
            parts.append(row[f"{tier}_reason"] or f"{tier}: {row[f'{tier}_status']}")
        elif source and tier != source and row[f"{tier}_core_sha256"] != source_core:
            parts.append(f"{tier}: other bytes than the {source} copy")
    if not source and len(cores) > 1:
        parts.append("the copies disagree")
    if status == "partial":
        parts.append(f"the {source} copy validates: rehydration source")
    elif status == "failed":
        parts.append("no copy validates: manual recovery")
    return "; ".join(parts)


def _reasons(blocks: pd.DataFrame, status: np.ndarray) -> np.ndarray:
    """A reason for each block not ok, None for the others (only those rows are looked at)."""
    out = np.full(len(blocks), None, dtype=object)
    rows = np.flatnonzero(np.isin(status, NOT_OK))
    if len(rows):
        columns = ["source_tier", *(f"{t}_{name}" for t in TIERS for name in ("status", "reason", "core_sha256"))]
        records = blocks.iloc[rows][columns].to_dict("records")
        out[rows] = [_reason(record, status[i]) for i, record in zip(rows, records, strict=True)]
    return out


def block_statuses(
    block_consistency: pd.DataFrame,
    findings: pd.DataFrame | None = None,
    rehydrated: Iterable[int] | None = None,
) -> pd.DataFrame:
    """One row per block: kv, r2, ipfs (present: True, absent: False, could not be read: None), ipfs_cid (when
    present), complete, status, source_tier, problems (the failing block checks from ``findings``, if given),
    reason (why a block is partial, failed or unknown; None when ok or rehydrated)."""
    blocks = block_consistency
    kv, r2 = _presence(blocks, "kv"), _presence(blocks, "r2")
    ipfs = _presence(blocks, "ipfs")
    ipfs_cid = pd.Series([cid if here is True else None for cid, here in zip(blocks["ipfs_cid"], ipfs, strict=True)],
                         index=blocks.index, dtype=object)  # fmt: skip
    known_bad = (kv == False) | (r2 == False) | (ipfs == False) | _disagreeing(blocks)  # noqa: E712
    unknown = kv.isna() | r2.isna() | ipfs.isna()
    has_source = blocks["source_tier"].notna()
    status = np.select([known_bad & has_source, known_bad, unknown], ["partial", "failed", "unknown"], "ok")
    restored = blocks["block_number"].isin(set(rehydrated or ())).to_numpy()
    status = np.where(restored & (status == "ok"), "rehydrated", status)
    complete = pd.Series(np.where(status == "unknown", None, np.isin(status, ["ok", "rehydrated"])), dtype=object)
    frame = pd.DataFrame({
        "block_number": blocks["block_number"].astype("int64").to_numpy(),
        "kv": kv.to_numpy(), "r2": r2.to_numpy(), "ipfs": ipfs.to_numpy(), "ipfs_cid": ipfs_cid.to_numpy(),
        "complete": complete.to_numpy(), "status": status,
        "source_tier": blocks["source_tier"].to_numpy(),
        "problems": _failing_checks(findings, blocks["block_number"]).to_numpy(),
        "reason": _reasons(blocks, status),
    })  # fmt: skip
    return frame[STATUS_COLUMNS]


def _plain(value: object) -> object:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


EXIT_OK, EXIT_FAILING, EXIT_UNKNOWN = 0, 1, 3


def status_report(statuses: pd.DataFrame, unreadable: dict[str, str] | None = None) -> dict:
    """Seed 004's ``GET /api/storage-verify/status`` body (plus ``status`` per block and an ``unknown`` count):
    ``ipfs`` is the CID when the IPFS copy is present, else False (absent) or None (could not be read); a block
    not ok also has its ``reason``. ``unreadable``: tier -> why it could not be read at all (``totalBlocks`` is
    None without KV)."""
    blocks = [
        {"blockNumber": int(row.block_number), "kv": _plain(row.kv), "r2": _plain(row.r2),
         "ipfs": row.ipfs_cid if row.ipfs is True else _plain(row.ipfs),
         "complete": _plain(row.complete), "status": row.status}
        | ({"reason": row.reason} if isinstance(row.reason, str) else {})
        for row in statuses.sort_values("block_number").itertuples(index=False)
    ]  # fmt: skip
    complete = statuses["complete"]
    unreadable = dict(unreadable or {})
    return {
        "totalBlocks": None if "kv" in unreadable else len(statuses),
        "blocks": blocks,
        "summary": {
            "complete": int((complete == True).sum()),  # noqa: E712
            "incomplete": int((complete == False).sum()),  # noqa: E712
            "unknown": int(complete.isna().sum()),
        },
        "unreadable": unreadable,
    }


def status_exit_code(report: dict) -> int:
    """1 if a block is known incomplete, else 3 if a tier or a block could not be read, else 0."""
    summary = report["summary"]
    if summary["incomplete"]:
        return EXIT_FAILING
    return EXIT_UNKNOWN if report.get("unreadable") or summary["unknown"] else EXIT_OK


def unreadable_tiers(frames: dict[str, pd.DataFrame | None]) -> dict[str, str]:
    """Tier -> why, for each tier whose snapshot is among ``frames`` and could not be read at all."""
    readable, reasons = tier_readability(frames)
    return {tier: reasons[tier] for tier in TIERS if frames.get(FRAME_NAMES[tier]) is not None and not readable[tier]}


def block_metrics(
    statuses: pd.DataFrame, findings: pd.DataFrame | None = None, unreadable: dict[str, str] | None = None
) -> dict:
    """Summary counts for asset metadata: blocks by status, complete/incomplete, findings by status; without KV
    (``unreadable``) the number of blocks and the highest one are unknown (None), never 0."""
    report = status_report(statuses, unreadable)
    counts = statuses["status"].value_counts()
    metrics = {"total_blocks": report["totalBlocks"], **report["summary"]}
    metrics |= {f"status_{name}": int(counts.get(name, 0)) for name in STATUSES}
    known = len(statuses) and report["totalBlocks"] is not None
    metrics["highest_block"] = int(statuses["block_number"].max()) if known else None
    if unreadable:
        metrics["unreadable_tiers"] = sorted(unreadable)
    if findings is not None:
        metrics["fail_findings"] = int((findings["status"] == "fail").sum())
        metrics["unknown_findings"] = int((findings["status"] == "unknown").sum())
    return metrics
