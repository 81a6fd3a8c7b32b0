"""Snapshot assets: one per layer, each a thin call into ``snapshots/`` written as Parquet.

Each run reads what its cadence's scope says (``reconcile/scope`` in the run's tags, see
:mod:`reconcile_pipeline.cadences`; a run without one reads everything, deep), and every snapshot's
metadata names the cadence and the scope. ``blockstore_r2`` follows ``blockstore_kv``: in a scoped run it
reads the block numbers the KV read resolved (the window's blocks and their context); outside the deep
cadence an R2 object whose listed ETag proves the KV block's bytes (or is unchanged since verified) is
not downloaded again (snapshots/r2_reuse.py).
"""

import asyncio

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from ..cadences import Scope, scope_from_tags
from ..snapshots import blockstore, ipfs, nft
from ..snapshots.base import Snapshot
from .resources import SettingsResource

GROUP = "snapshots"


def run_scope(context: AssetExecutionContext) -> Scope:
    return scope_from_tags(context.run.tags)


def snapshot_output(snapshot: Snapshot, scope: Scope) -> Output[pd.DataFrame]:
    status = snapshot.status
    metadata = {
        "dagster/row_count": len(snapshot.frame),
        "layer": status.layer,
        "read_status": status.status,
        "unreadable": status.unreadable,
        "status_counts": MetadataValue.json(status.counts),
        **scope.metadata(),
    }
    if status.message:
        metadata["message"] = status.message[:2000]
    return Output(snapshot.frame, metadata=metadata)


def _column(frame: pd.DataFrame, name: str) -> list:
    return frame[name].dropna().tolist() if name in frame else []


@asset(group_name=GROUP, kinds={"parquet"}, description="Level images under assets/images and the backup folder.")
def source_images(context: AssetExecutionContext, settings: SettingsResource) -> Output[pd.DataFrame]:
    return snapshot_output(nft.snapshot_source_images(settings.load()), run_scope(context))


@asset(group_name=GROUP, kinds={"parquet"}, description="minting_operations rows (the run's scope) from the DB.")
def db_minting_operations(context: AssetExecutionContext, settings: SettingsResource) -> Output[pd.DataFrame]:
    scope = run_scope(context)
    return snapshot_output(nft.snapshot_operations(settings.load(), scope), scope)


@asset(group_name=GROUP, kinds={"parquet"}, description="source_image_registry rows from the backend database.")
def db_source_image_registry(context: AssetExecutionContext, settings: SettingsResource) -> Output[pd.DataFrame]:
    return snapshot_output(nft.snapshot_table(settings.load(), "read_source_image_registry"), run_scope(context))


@asset(group_name=GROUP, kinds={"parquet", "solana"}, description="Metaplex metadata accounts of our mints.")
def solana_metadata_accounts(
    context: AssetExecutionContext, settings: SettingsResource, db_minting_operations: pd.DataFrame
) -> Output[pd.DataFrame]:
    scope = run_scope(context)
    mints = _column(db_minting_operations, "mint_address")
    listing = {"listing": scope.complete_nfts, "shard": scope.shard}
    snapshot = asyncio.run(nft.snapshot_chain_metadata(settings.load(), mints, **listing))
    return snapshot_output(snapshot, scope)


@asset(group_name=GROUP, kinds={"parquet", "solana"}, description="Mint transaction statuses.")
def solana_transaction_statuses(
    context: AssetExecutionContext, settings: SettingsResource, db_minting_operations: pd.DataFrame
) -> Output[pd.DataFrame]:
    signatures = _column(db_minting_operations, "transaction_signature")
    return snapshot_output(asyncio.run(nft.snapshot_tx_statuses(settings.load(), signatures)), run_scope(context))


@asset(group_name=GROUP, kinds={"parquet", "ipfs"}, description="Pinata's pin list.")
def pinata_pins(context: AssetExecutionContext, settings: SettingsResource) -> Output[pd.DataFrame]:
    scope = run_scope(context)
    return snapshot_output(asyncio.run(nft.snapshot_pins(settings.load(), scope)), scope)


@asset(group_name=GROUP, kinds={"parquet", "ipfs"}, description="Metadata JSON and images by CID on every gateway.")
def ipfs_objects(
    context: AssetExecutionContext,
    settings: SettingsResource,
    solana_metadata_accounts: pd.DataFrame,
    db_minting_operations: pd.DataFrame,
) -> Output[pd.DataFrame]:
    scope = run_scope(context)
    uris = _column(solana_metadata_accounts, "uri") + _column(db_minting_operations, "metadata_uri")
    images = _column(db_minting_operations, "image_uri")
    options = {"mode": scope.ipfs_mode, "cadence": scope.cadence, "run_id": context.run_id}
    return snapshot_output(asyncio.run(ipfs.snapshot_ipfs_objects(settings.load(), uris, images, **options)), scope)


@asset(group_name=GROUP, kinds={"parquet"}, description="Cloudflare KV: vdc:block:*, vdc:latest, vdc:tx:*, count.")
def blockstore_kv(context: AssetExecutionContext, settings: SettingsResource) -> Output[pd.DataFrame]:
    scope = run_scope(context)
    return snapshot_output(asyncio.run(blockstore.snapshot_kv(settings.load(), scope)), scope)


@asset(group_name=GROUP, kinds={"parquet", "s3"}, description="R2: blocks/N.json and pending/ID.json.")
def blockstore_r2(
    context: AssetExecutionContext, settings: SettingsResource, blockstore_kv: pd.DataFrame
) -> Output[pd.DataFrame]:
    scope = run_scope(context)
    numbers = blockstore.scoped_numbers(blockstore_kv)
    options = {"mode": scope.ipfs_mode, "cadence": scope.cadence, "run_id": context.run_id, "kv_frame": blockstore_kv}
    return snapshot_output(asyncio.run(blockstore.snapshot_r2(settings.load(), numbers, **options)), scope)


@asset(group_name=GROUP, kinds={"parquet", "ipfs"}, description="Each KV block's IPFS copy, by its ipfsHash.")
def blockstore_ipfs(
    context: AssetExecutionContext, settings: SettingsResource, blockstore_kv: pd.DataFrame
) -> Output[pd.DataFrame]:
    scope = run_scope(context)
    options = {"mode": scope.ipfs_mode, "cadence": scope.cadence, "run_id": context.run_id}
    return snapshot_output(
        asyncio.run(blockstore.snapshot_block_ipfs(settings.load(), blockstore_kv, **options)), scope
    )


SNAPSHOT_ASSETS = [
    source_images,
    db_minting_operations,
    db_source_image_registry,
    solana_metadata_accounts,
    solana_transaction_statuses,
    pinata_pins,
    ipfs_objects,
    blockstore_kv,
    blockstore_r2,
    blockstore_ipfs,
]
