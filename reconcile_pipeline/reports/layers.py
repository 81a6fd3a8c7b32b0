"""Overall health per layer: how its read went and the findings that name it.

The layers are the names the findings use (``layers`` of each finding, from the catalogue): source_images,
solana, ipfs, pinata, database, kv, r2. A finding counts against every layer it names (a disagreement is
between layers; the finding's ``truth`` says which one wins). The verdict, worst first:

- ``unreadable``: the layer could not be read at all (its checks are unknown, nothing about it is known);
- ``critical``: a critical finding names it;  ``warning``: another failing finding names it;
- ``partial``: part of it could not be read, or some of its checks are unknown;
- ``healthy``: read in full and no finding names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..snapshots.base import read_status
from .frame_tools import lookup, plain

LAYERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("source_images", "Source images", ("source_images",)),
    ("solana", "Solana", ("solana_metadata_accounts", "solana_transaction_statuses")),
    ("ipfs", "IPFS", ("ipfs_objects", "blockstore_ipfs")),
    ("pinata", "Pinata", ("pinata_pins",)),
    ("database", "Database", ("db_minting_operations", "db_source_image_registry")),
    ("kv", "Cloudflare KV", ("blockstore_kv",)),
    ("r2", "R2", ("blockstore_r2",)),
)
READ_RANK = {"ok": 0, "degraded": 1, "unavailable": 2, "not read": 3}
VERDICTS = ("unreadable", "critical", "warning", "partial", "healthy", "not read")


@dataclass
class LayerHealth:
    layer: str
    title: str
    verdict: str
    read: str  # ok | degraded | unavailable | not read (no snapshot in this run)
    rows: int
    unreadable_rows: int
    critical: int
    warning: int
    info: int
    unknown: int
    messages: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # failing checks naming the layer, worst first


def _read(snapshots: dict[str, pd.DataFrame], names: tuple[str, ...]) -> tuple[str, int, int, list[str]]:
    states, rows, unreadable, messages = [], 0, 0, []
    for name in names:
        frame = snapshots.get(name)
        if frame is None:
            states.append("not read")
            continue
        status = read_status(frame)
        states.append(str(status.get("status", "ok")))
        rows += int(status.get("rows", len(frame)))
        unreadable += int(status.get("unreadable", 0))
        if status.get("message"):
            messages.append(f"{name}: {status['message']}")
    read = max(states, key=lambda s: READ_RANK.get(s, 0)) if states else "not read"
    if "not read" in states and len(set(states)) > 1:
        read = max((s for s in states if s != "not read"), key=lambda s: READ_RANK.get(s, 0))
    return read, rows, unreadable, messages


def _layer_counts(findings: pd.DataFrame) -> pd.DataFrame:
    """Per (layer, check, status, severity): count. Grouped before the explode, so a million rows stay cheap."""
    if findings.empty:
        return pd.DataFrame(columns=["layer", "check_id", "status", "severity", "count"])
    groups = findings.groupby(["check_id", "status", "severity"], sort=False)
    per_group = plain(groups.agg(count=("entity_id", "size"), layers=("layers", "first")).reset_index())
    per_group["layers"] = [list(v) if v is not None else [] for v in per_group["layers"]]
    return per_group.explode("layers").rename(columns={"layers": "layer"}).dropna(subset=["layer"])


def _verdict(read: str, counts: dict[str, int]) -> str:
    if read == "unavailable":
        return "unreadable"
    if counts["critical"]:
        return "critical"
    if counts["warning"] or counts["info"]:
        return "warning"
    if read == "degraded" or counts["unknown"]:
        return "partial"
    return "not read" if read == "not read" else "healthy"


def layer_health(findings: pd.DataFrame, snapshots: dict[str, pd.DataFrame]) -> list[LayerHealth]:
    counts = _layer_counts(findings)
    out = []
    for layer, title, names in LAYERS:
        read, rows, unreadable, messages = _read(snapshots, names)
        mine = counts[counts["layer"] == layer]
        fails = mine[mine["status"] == "fail"]
        by_severity = {
            s: int(fails.loc[fails["severity"] == s, "count"].sum()) for s in ("critical", "warning", "info")
        }
        tally = by_severity | {"unknown": int(mine.loc[mine["status"] == "unknown", "count"].sum())}
        worst = fails.assign(_r=lookup(fails["severity"], {"critical": 0, "warning": 1}, 2))
        checks = list(dict.fromkeys(worst.sort_values(["_r", "count"], ascending=[True, False])["check_id"]))
        out.append(
            LayerHealth(
                layer, title, _verdict(read, tally), read, rows, unreadable, **tally, messages=messages, checks=checks
            )
        )
    return out
