"""Run every snapshot in one process without Dagster (tests, benchmarks): name -> Snapshot.

The names are the snapshot assets' names; the dependencies are the same as the asset graph's. ``scope``
(a :class:`~..cadences.Scope`) narrows the reads as a cadence's run would; without it everything is read,
with ``ipfs_mode`` deciding how content is read.
"""

from __future__ import annotations

import asyncio

from ..cadences import Scope
from ..settings import Settings
from . import blockstore, ipfs, nft
from .base import Snapshot


def _column(snapshot: Snapshot, name: str) -> list:
    frame = snapshot.frame
    return frame[name].dropna().tolist() if name in frame else []


async def _collect_async(settings: Settings, scope: Scope, run_id: str | None) -> dict[str, Snapshot]:
    out: dict[str, Snapshot] = {
        "source_images": nft.snapshot_source_images(settings),
        "db_minting_operations": nft.snapshot_operations(settings, scope),
        "db_source_image_registry": nft.snapshot_table(settings, "read_source_image_registry"),
    }
    ops = out["db_minting_operations"]
    chain, txs, pins, kv = await asyncio.gather(
        nft.snapshot_chain_metadata(
            settings, _column(ops, "mint_address"), listing=scope.complete_nfts, shard=scope.shard
        ),
        nft.snapshot_tx_statuses(settings, _column(ops, "transaction_signature")),
        nft.snapshot_pins(settings, scope),
        blockstore.snapshot_kv(settings, scope),
    )
    r2_options = {"mode": scope.ipfs_mode, "cadence": scope.cadence, "run_id": run_id, "kv_frame": kv.frame}
    r2 = await blockstore.snapshot_r2(settings, blockstore.scoped_numbers(kv.frame), **r2_options)
    out |= {
        "solana_metadata_accounts": chain,
        "solana_transaction_statuses": txs,
        "pinata_pins": pins,
        "blockstore_kv": kv,
        "blockstore_r2": r2,
    }
    metadata_uris = _column(chain, "uri") + _column(ops, "metadata_uri")
    options = {"mode": scope.ipfs_mode, "cadence": scope.cadence, "run_id": run_id}
    out["ipfs_objects"], out["blockstore_ipfs"] = await asyncio.gather(
        ipfs.snapshot_ipfs_objects(settings, metadata_uris, _column(ops, "image_uri"), **options),
        blockstore.snapshot_block_ipfs(settings, kv.frame, **options),
    )
    return out


def collect_snapshots(
    settings: Settings, *, ipfs_mode: str = "deep", scope: Scope | None = None, run_id: str | None = None
) -> dict[str, Snapshot]:
    return asyncio.run(_collect_async(settings, scope or Scope("manual", ipfs_mode), run_id))
