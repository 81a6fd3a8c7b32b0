"""Snapshots of the VDC block store tiers (seed 004): KV, R2 and IPFS.

One row per key read, long format: ``key``, ``kind`` (block | latest | tx | pending_count |
pending | other), ``block_number``, ``tx_id``, ``present``, ``size``, ``sha256`` of the raw bytes,
``value`` (UTF-8 text of the raw bytes, for the pure checks to parse). The IPFS tier is read by
each KV block's ``ipfsHash`` (one row per block, ``cid`` and read ``status``).

With a :class:`~..cadences.Scope` that does not take every block, KV is read for the scope's blocks only
(:mod:`.blockstore_scope`), R2 for the same numbers plus the whole pending queue, and IPFS for those
blocks' ``ipfsHash``; a scope that takes no block (an operation event) reads none of the three tiers (each
snapshot ``skipped``: nothing of the block store is judged); in ``regular`` mode a block copy already verified
by CID comes from the content archive and the gateways are only probed for its raw root block, verified
(:mod:`.content`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from concurrent.futures import Executor, ThreadPoolExecutor

import pandas as pd

from .. import clients
from ..cadences import BLOCK_SCOPE_ATTR, Scope
from ..layers import blocks as fmt
from ..layers.errors import LayerError
from ..layers.ipfs import summarise
from ..settings import Settings
from .base import LayerStatus, Snapshot, read_status, skipped, status_from, unavailable
from .blockstore_scope import empty_block_scope, scoped_kv_values, scoped_snapshot
from .content import VerifiedContent
from .ipfs_read import ARCHIVE_WRITERS, record_fetched
from .r2_reuse import R2Reuse, expected_block_copies

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


async def snapshot_kv(settings: Settings, scope: Scope | None = None) -> Snapshot:
    """Every ``vdc:`` key (no scope, or a scope taking all blocks), else the scope's blocks only."""
    if scope is not None and scope.blocks == "none":  # nothing read: R2 and IPFS follow (nothing judged)
        snapshot = skipped("kv", TIER_COLUMNS, f"no blocks in scope ({scope.summary()})")
        snapshot.frame.attrs[BLOCK_SCOPE_ATTR] = empty_block_scope([], scope)
        return snapshot
    if scope is not None and scope.blocks != "all":
        return await _scoped_kv(settings, scope)
    async with clients.kv_client(settings) as kv:
        try:
            keys = await kv.list_keys("vdc:")
            wanted = sorted(set(keys) | {fmt.LATEST_KEY, fmt.PENDING_COUNT_KEY})
            values = await kv.get_many(wanted)
        except LayerError as exc:
            return unavailable("kv", exc, TIER_COLUMNS)
    frame = tier_frame(values)
    return Snapshot(frame, LayerStatus("kv", rows=len(frame), counts=frame["kind"].value_counts().to_dict()))


async def _scoped_kv(settings: Settings, scope: Scope) -> Snapshot:
    r2 = clients.r2_client(settings)
    try:
        async with clients.kv_client(settings) as kv:
            values, block_scope = await scoped_kv_values(kv, r2, scope)
    except LayerError as exc:
        snapshot = unavailable("kv", exc, TIER_COLUMNS)
        snapshot.frame.attrs[BLOCK_SCOPE_ATTR] = empty_block_scope(sorted(scope.block_numbers), scope)
        return snapshot
    finally:
        r2.close()
    return scoped_snapshot(tier_frame(values), block_scope, scope)


def scoped_numbers(kv_frame: pd.DataFrame) -> list[int] | None:
    """The block numbers a scoped KV read took (None: the KV read was not scoped)."""
    block_scope = kv_frame.attrs.get(BLOCK_SCOPE_ATTR)
    return None if block_scope is None else [int(n) for n in block_scope.get("read", [])]


async def snapshot_r2(
    settings: Settings,
    numbers: list[int] | None = None,
    *,
    mode: str = "deep",
    cadence: str | None = None,
    run_id: str | None = None,
    kv_frame: pd.DataFrame | None = None,
) -> Snapshot:
    """Every ``blocks/`` and ``pending/`` object; with ``numbers``, those blocks and the whole pending queue.

    Not in ``deep`` mode, an object whose listed ETag and size are those of the copy read (and archived) before,
    or whose single-part ETag is the MD5 of the bytes expected from the KV block (``kv_frame``), is not read
    (:mod:`.r2_reuse`). A KV read skipped (no blocks in the scope) skips R2 too: nothing of the store is judged."""
    if kv_frame is not None and read_status(kv_frame).get("status") == "skipped":
        return skipped("r2", TIER_COLUMNS, "no blocks in scope")
    r2 = clients.r2_client(settings)
    reuse = R2Reuse(settings, r2.bucket, {}, mode != "deep", cadence, run_id)
    try:
        if numbers is None:  # the two listings run at once
            blocks, pending = await asyncio.gather(r2.list_objects("blocks/"), r2.list_objects("pending/"))
            block_keys = [info.key for info in blocks]
        else:
            blocks, block_keys = [], [fmt.r2_block_key(n) for n in numbers]
            pending = await r2.list_objects("pending/")
        keys = sorted(block_keys) + sorted(info.key for info in pending)
        reuse.listed = {info.key: info for info in [*blocks, *pending]}
        known = reuse.known(keys)
        known = known | reuse.proven([key for key in keys if key not in known], expected_block_copies(kv_frame))
        read = await r2.get_many([key for key in keys if key not in known])
        values = {key: known[key] if key in known else read[key] for key in keys}
        reuse.save(values)
    except LayerError as exc:
        return unavailable("r2", exc, TIER_COLUMNS)
    finally:
        reuse.close()
        r2.close()
    frame = tier_frame(values)
    counts = frame["kind"].value_counts().to_dict() | {"reused": len(known), "read": len(read)}
    counts["etag_proven"] = len(reuse.proved)
    return Snapshot(frame, LayerStatus("r2", rows=len(frame), counts=counts))


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


def _ipfs_row(number: int, cid: str | None, status: str, error: str | None, content: bytes | None) -> dict:
    return {
        "block_number": number,
        "cid": cid,
        "status": status,
        "error": error,
        "size": None if content is None else len(content),
        "sha256": None if content is None else hashlib.sha256(content).hexdigest(),
        "value": None if content is None else content.decode("utf-8", errors="replace"),
    }


async def _read_block_copy(gateway, number: int, cid: str, content: VerifiedContent, writers: Executor) -> dict:
    known = content.lookup(cid, need_bytes=True)
    first = number  # block N asks gateway N mod n first: the reads are spread over the gateways
    if known is not None:  # verified before: is it still available? (one gateway that has it is enough)
        status, error = summarise(await gateway.probe(cid, need=1, first=first))
        content.reuse(cid, known, status)
        return _ipfs_row(number, cid, status, error, known.content if status == "ok" else None)
    read = await gateway.fetch(cid, "", first=first)
    await record_fetched(content, writers, cid, read.status, read.content, read.verified)
    return _ipfs_row(number, cid, read.status, read.error, read.content)


async def snapshot_block_ipfs(
    settings: Settings,
    kv_frame: pd.DataFrame,
    *,
    mode: str = "deep",
    cadence: str | None = None,
    run_id: str | None = None,
) -> Snapshot:
    """Each KV block's IPFS copy by its ipfsHash: downloaded and verified, or (regular) reused and probed."""
    if read_status(kv_frame).get("status") == "skipped":
        return skipped("ipfs", IPFS_COLUMNS, "no blocks in scope")
    cids = block_cids(kv_frame)
    refs = {number: cid for number, cid in cids.items() if cid}
    content = VerifiedContent(settings, use_known=mode != "deep", cadence=cadence, run_id=run_id)
    content.load_states(list(refs.values()))
    semaphore = asyncio.Semaphore(settings.http.max_concurrency_per_host * max(len(settings.ipfs.gateways), 1))

    async def one(number: int, cid: str) -> dict:
        async with semaphore:
            return await _read_block_copy(gateway, number, cid, content, writers)

    async with clients.gateway_client(settings) as gateway:
        with ThreadPoolExecutor(ARCHIVE_WRITERS, thread_name_prefix="archive") as writers:
            reads = await asyncio.gather(*(one(number, cid) for number, cid in refs.items()))
    content.save()
    by_number = {row["block_number"]: row for row in reads}
    rows = [
        by_number.get(number) or _ipfs_row(number, None, "invalid", "no ipfsHash on the KV block", None)
        for number in sorted(cids)
    ]
    frame = pd.DataFrame(rows, columns=IPFS_COLUMNS)
    status = status_from("ipfs", frame)
    status.counts = status.counts | {f"content_{name}": n for name, n in content.counts().items()}
    return Snapshot(frame, status)
