"""Snapshots of the VDC block store tiers (seed 004): KV, R2 and IPFS.

One row per key read, long format: ``key``, ``kind`` (block | latest | tx | pending_count |
pending | other), ``block_number``, ``tx_id``, ``present``, ``size``, ``sha256`` of the raw bytes,
``value`` (UTF-8 text of the raw bytes, for the pure checks to parse). The IPFS tier is read by
each KV block's ``ipfsHash`` (one row per block, ``cid`` and read ``status``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json

import pandas as pd

from .. import clients
from ..layers import blocks as fmt
from ..layers.errors import LayerError
from ..settings import Settings
from .base import LayerStatus, Snapshot, status_from, unavailable

TIER_COLUMNS = ["key", "kind", "block_number", "tx_id", "present", "size", "sha256", "value"]
IPFS_COLUMNS = ["block_number", "cid", "status", "error", "size", "sha256", "value"]


def classify_key(key: str) -> tuple[str, int | None, str | None]:
    if (number := fmt.parse_block_key(key)) is not None:
        return "block", number, None
    if (number := fmt.parse_r2_block_key(key)) is not None:
        return "block", number, None
    if (tx_id := fmt.parse_tx_key(key)) is not None:
        return "tx", None, tx_id
    if (tx_id := fmt.parse_r2_pending_key(key)) is not None:
        return "pending", None, tx_id
    if key == fmt.LATEST_KEY:
        return "latest", None, None
    if key == fmt.PENDING_COUNT_KEY:
        return "pending_count", None, None
    return "other", None, None


def tier_frame(values: dict[str, bytes | None]) -> pd.DataFrame:
    rows = []
    for key, raw in values.items():
        kind, number, tx_id = classify_key(key)
        rows.append(
            {
                "key": key,
                "kind": kind,
                "block_number": number,
                "tx_id": tx_id,
                "present": raw is not None,
                "size": None if raw is None else len(raw),
                "sha256": None if raw is None else hashlib.sha256(raw).hexdigest(),
                "value": None if raw is None else raw.decode("utf-8", errors="replace"),
            }
        )
    frame = pd.DataFrame(rows, columns=TIER_COLUMNS)
    frame["block_number"] = frame["block_number"].astype("Int64")
    return frame


async def snapshot_kv(settings: Settings) -> Snapshot:
    async with clients.kv_client(settings) as kv:
        try:
            keys = await kv.list_keys("vdc:")
            wanted = sorted(set(keys) | {fmt.LATEST_KEY, fmt.PENDING_COUNT_KEY})
            values = await kv.get_many(wanted)
        except LayerError as exc:
            return unavailable("kv", exc, TIER_COLUMNS)
    frame = tier_frame(values)
    return Snapshot(frame, LayerStatus("kv", rows=len(frame), counts=frame["kind"].value_counts().to_dict()))


async def snapshot_r2(settings: Settings) -> Snapshot:
    r2 = clients.r2_client(settings)
    try:
        block_keys, pending_keys = await asyncio.gather(r2.list_keys("blocks/"), r2.list_keys("pending/"))
        values = await r2.get_many(sorted(block_keys) + sorted(pending_keys))
    except LayerError as exc:
        return unavailable("r2", exc, TIER_COLUMNS)
    frame = tier_frame(values)
    return Snapshot(frame, LayerStatus("r2", rows=len(frame), counts=frame["kind"].value_counts().to_dict()))


def block_cids(kv_frame: pd.DataFrame) -> dict[int, str | None]:
    """Each KV block's ipfsHash (None where the block does not parse or has none)."""
    cids: dict[int, str | None] = {}
    for row in kv_frame[(kv_frame["kind"] == "block") & kv_frame["present"]].itertuples():
        try:
            value = json.loads(row.value)
            cid = value.get("ipfsHash") if isinstance(value, dict) else None
        except ValueError:
            cid = None
        cids[int(row.block_number)] = cid if isinstance(cid, str) and cid else None
    return cids


async def snapshot_block_ipfs(settings: Settings, kv_frame: pd.DataFrame) -> Snapshot:
    cids = block_cids(kv_frame)
    refs = {number: cid for number, cid in cids.items() if cid}
    async with clients.gateway_client(settings) as gateway:
        reads = await gateway.fetch_many([(cid, "") for cid in refs.values()])
    by_number = dict(zip(refs, reads, strict=True))
    rows = []
    for number, cid in sorted(cids.items()):
        read = by_number.get(number)
        content = read.content if read is not None else None
        rows.append(
            {
                "block_number": number,
                "cid": cid,
                "status": read.status if read is not None else "invalid",
                "error": read.error if read is not None else "no ipfsHash on the KV block",
                "size": None if content is None else len(content),
                "sha256": None if content is None else hashlib.sha256(content).hexdigest(),
                "value": None if content is None else content.decode("utf-8", errors="replace"),
            }
        )
    frame = pd.DataFrame(rows, columns=IPFS_COLUMNS)
    return Snapshot(frame, status_from("ipfs", frame))
