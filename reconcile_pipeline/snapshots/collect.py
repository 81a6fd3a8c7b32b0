"""Run every snapshot in one process without Dagster (tests, benchmarks): name -> Snapshot.

The names are the snapshot assets' names; the dependencies are the same as the asset graph's.
"""

from __future__ import annotations

import asyncio

from ..settings import Settings
from . import blockstore, ipfs, nft
from .base import Snapshot


def _column(snapshot: Snapshot, name: str) -> list:
    frame = snapshot.frame
    return frame[name].dropna().tolist() if name in frame else []


async def _collect_async(settings: Settings, ipfs_mode: str) -> dict[str, Snapshot]:
    out: dict[str, Snapshot] = {
        "source_images": nft.snapshot_source_images(settings),
        "db_minting_operations": nft.snapshot_table(settings, "read_minting_operations"),
        "db_source_image_registry": nft.snapshot_table(settings, "read_source_image_registry"),
    }
    ops = out["db_minting_operations"]
    chain, txs, pins, kv, r2 = await asyncio.gather(
        nft.snapshot_chain_metadata(settings, _column(ops, "mint_address")),
        nft.snapshot_tx_statuses(settings, _column(ops, "transaction_signature")),
        nft.snapshot_pins(settings),
        blockstore.snapshot_kv(settings),
        blockstore.snapshot_r2(settings),
    )
    out |= {
        "solana_metadata_accounts": chain,
        "solana_transaction_statuses": txs,
        "pinata_pins": pins,
        "blockstore_kv": kv,
        "blockstore_r2": r2,
    }
    metadata_uris = _column(chain, "uri") + _column(ops, "metadata_uri")
    out["ipfs_objects"], out["blockstore_ipfs"] = await asyncio.gather(
        ipfs.snapshot_ipfs_objects(settings, metadata_uris, _column(ops, "image_uri"), mode=ipfs_mode),
        blockstore.snapshot_block_ipfs(settings, kv.frame),
    )
    return out


def collect_snapshots(settings: Settings, *, ipfs_mode: str = "deep") -> dict[str, Snapshot]:
    return asyncio.run(_collect_async(settings, ipfs_mode))
