"""Snapshots of the NFT layers: source images, database, Solana, Pinata.

With a :class:`~..cadences.Scope` that does not take every operation, the database is read for the scope's
operations only and the chain for their mints only: the listing of our mints by update authority (which
finds chain-only mints) is skipped, since a mint whose row is merely outside the read is no orphan.
Source images (backups included) and the registry are read whole by every scope; the pin list too,
unless the scope has no operations at all.

A shard of the deep scan (``scope.shard``) reads the shard's operations (the table streamed, the rest
dropped chunk by chunk) and lists the chain for the shard's mint first bytes only (so its orphans are
found); signatures and IPFS content follow the shard's rows. The pin list is still read whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pandas as pd

from .. import clients
from ..cadences import CONFIRMED_STATES, Scope
from ..layers.errors import LayerError
from ..settings import Settings
from ..shards import Shard
from .base import LayerStatus, Snapshot, records_frame, skipped, status_from, unavailable

CHAIN_COLUMNS = [
    "mint",
    "pda",
    "status",
    "error",
    "owner",
    "listed",
    "listing_status",
    "update_authority",
    "name",
    "symbol",
    "uri",
    "seller_fee_basis_points",
    "primary_sale_happened",
    "is_mutable",
    "token_standard",
    "creators",
]
TX_COLUMNS = ["signature", "status", "slot", "err", "confirmation_status", "succeeded"]
PIN_COLUMNS = ["cid", "name", "size", "date_pinned"]


def snapshot_source_images(settings: Settings) -> Snapshot:
    from ..layers.source_images import SourceImageRecord, scan_source_images

    cfg = settings.source_images
    records = scan_source_images(
        cfg.assets_dir,
        cfg.backup_dir,
        cfg.supported_levels,
        max_size_bytes=cfg.max_size_bytes,
        max_pixels=cfg.max_pixels,
        min_dimension=cfg.min_dimension,
        max_dimension=cfg.max_dimension,
    )
    frame = records_frame(records, [f.name for f in dataclasses.fields(SourceImageRecord)])
    frame["path"] = frame["path"].astype(str)
    frame["backup_path"] = frame["backup_path"].astype(str)
    return Snapshot(frame, status_from("source_images", frame))


def snapshot_table(settings: Settings, reader: str) -> Snapshot:
    """Read one database table with the named DatabaseClient reader (e.g. 'read_minting_operations').

    Any LayerError (refused, timeout, or tables never migrated) leaves the table unread: unknown."""
    client = clients.database_client(settings)
    try:
        frame = getattr(client, reader)()
    except LayerError as exc:
        return unavailable("database", exc, [])
    finally:
        client.close()
    return Snapshot(frame, LayerStatus("database", rows=len(frame)))


def snapshot_operations(settings: Settings, scope: Scope | None = None) -> Snapshot:
    """``minting_operations``: every row, or the scope's (by id, or updated since; optionally by state)."""
    if scope is None or scope.ops == "all" and not scope.op_statuses and scope.shard is None:
        return snapshot_table(settings, "read_minting_operations")
    client = clients.database_client(settings)
    try:
        if scope.shard is not None and scope.ops == "all":
            frame = client.read_minting_operations(shard=scope.shard, group_statuses=CONFIRMED_STATES)
        elif scope.ops == "ids":
            frame = client.read_minting_operations(ids=list(scope.op_ids))
        elif scope.ops == "since":
            frame = client.read_minting_operations(updated_since=scope.since)
        else:  # "none" reads nothing; "all" with states reads every row, then keeps those states
            frame = client.read_minting_operations(ids=[] if scope.ops == "none" else None)
    except LayerError as exc:
        return unavailable("database", exc, [])
    finally:
        client.close()
    if scope.op_statuses:
        frame = frame[frame["status"].isin(scope.op_statuses)].reset_index(drop=True)
    state = "skipped" if scope.ops == "none" else "ok"
    return Snapshot(frame, LayerStatus("database", state, rows=len(frame), message=f"scoped: {scope.summary()}"))


def _chain_row(read, listed: bool, listing_status: str) -> dict:
    row = {
        "mint": read.mint,
        "pda": read.pda,
        "status": read.status,
        "error": read.error,
        "owner": read.owner,
        "listed": listed,
        "listing_status": listing_status,
    }
    md = read.metadata
    if md is not None:
        row |= {name: getattr(md, name) for name in CHAIN_COLUMNS[7:-1]}
        row["creators"] = [dataclasses.asdict(c) for c in md.creators] if md.creators else []
    return row


async def snapshot_chain_metadata(
    settings: Settings, db_mints: list[str], *, listing: bool = True, shard: Shard | None = None
) -> Snapshot:
    """Our mints listed by update authority, plus every mint the DB names (to catch foreign authorities).

    ``listing`` False (a scoped run): the DB's mints only; chain-only mints are outside the scope.
    ``shard``: the listing takes only the shard's mint first bytes, and drops the listed mints whose DB row
    went to another shard with its duplicate group (:mod:`..shards`): they are no orphans."""
    async with clients.solana_client(settings) as solana:
        listing_status, listed = "ok", {}
        if listing and settings.solana.update_authority:
            first_bytes = None if shard is None else shard.first_bytes()
            try:
                reads = await solana.metadata_by_update_authority(settings.solana.update_authority, first_bytes)
                listed = {r.mint: r for r in reads}
                if shard is not None:
                    listed = _without_rows_elsewhere(settings, listed, set(db_mints))
            except LayerError as exc:
                listing_status = f"unavailable: {exc}"
        by_mint = await solana.metadata_for_mints(sorted(set(db_mints) - set(listed)))
    rows = [_chain_row(read, True, listing_status) for read in listed.values()]
    rows += [_chain_row(read, False, listing_status) for read in by_mint.values()]
    frame = pd.DataFrame(rows, columns=CHAIN_COLUMNS)
    status = status_from("solana", frame)
    if listing_status != "ok":  # everything unreadable, or only the listing (orphans unknown)
        status.status = "unavailable" if status.unreadable == len(frame) else "degraded"
        status.message = listing_status
    return Snapshot(frame, status)


def _without_rows_elsewhere(settings: Settings, listed: dict, db_mints: set[str]) -> dict:
    """The listed mints minus those with a DB row outside the shard's read (raises LayerError)."""
    unmatched = [mint for mint in listed if mint and mint not in db_mints]
    if not unmatched:
        return listed
    with clients.database_client(settings) as client:
        elsewhere = set(client.read_minting_operations(mints=unmatched)["mint_address"].dropna())
    return {mint: read for mint, read in listed.items() if mint not in elsewhere}


async def snapshot_tx_statuses(settings: Settings, signatures: list[str]) -> Snapshot:
    async with clients.solana_client(settings) as solana:
        reads = await solana.signature_statuses(sorted(set(signatures)))
    frame = records_frame(list(reads.values()), TX_COLUMNS)
    frame["err"] = frame["err"].map(lambda e: None if e is None else str(e))
    return Snapshot(frame, status_from("solana", frame))


async def snapshot_pins(
    settings: Settings, scope: Scope | None = None, keep: Callable[[str], bool] | None = None
) -> Snapshot:
    """Pinata's pin list; with ``keep`` only the pins whose CID it accepts, page by page (a deep shard keeps
    the CIDs its rows name, so it never holds the whole list)."""
    if scope is not None and scope.ops == "none":
        return skipped("pinata", PIN_COLUMNS, f"no operations in scope ({scope.summary()})")
    rows, seen = [], 0
    async with clients.pinata_client(settings) as pinata:
        try:
            async for page in pinata.pin_pages():
                seen += len(page)
                rows += [_pin_record(r) for r in page if keep is None or keep(str(r.get("ipfs_pin_hash")))]
        except LayerError as exc:
            return unavailable("pinata", exc, PIN_COLUMNS)
    frame = pd.DataFrame(rows, columns=PIN_COLUMNS)
    message = f"kept {len(frame)} of {seen} pins (the CIDs of the scope's rows)" if keep is not None else None
    return Snapshot(frame, LayerStatus("pinata", rows=len(frame), message=message))


def _pin_record(row: dict) -> dict:
    return {"cid": row["ipfs_pin_hash"], "name": (row.get("metadata") or {}).get("name"),
            "size": row.get("size"), "date_pinned": row.get("date_pinned")}  # fmt: skip
