"""Snapshot assets: one per layer, each a thin call into ``snapshots/`` written as Parquet."""

import asyncio

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from ..snapshots import blockstore, ipfs, nft
from ..snapshots.base import Snapshot
from .resources import SettingsResource

GROUP = "snapshots"


def _output(snapshot: Snapshot) -> Output[pd.DataFrame]:
    status = snapshot.status
    metadata = {
        "dagster/row_count": len(snapshot.frame),
        "layer": status.layer,
        "read_status": status.status,
        "unreadable": status.unreadable,
        "status_counts": MetadataValue.json(status.counts),
    }
    if status.message:
        metadata["message"] = status.message[:2000]
    return Output(snapshot.frame, metadata=metadata)


def _column(frame: pd.DataFrame, name: str) -> list:
    return frame[name].dropna().tolist() if name in frame else []


@asset(group_name=GROUP, kinds={"parquet"}, description="Level images under assets/images and the backup folder.")
def source_images(settings: SettingsResource) -> Output[pd.DataFrame]:
    return _output(nft.snapshot_source_images(settings.load()))


@asset(group_name=GROUP, kinds={"parquet"}, description="minting_operations rows from the backend database.")
def db_minting_operations(settings: SettingsResource) -> Output[pd.DataFrame]:
    return _output(nft.snapshot_table(settings.load(), "read_minting_operations"))


@asset(group_name=GROUP, kinds={"parquet"}, description="source_image_registry rows from the backend database.")
def db_source_image_registry(settings: SettingsResource) -> Output[pd.DataFrame]:
    return _output(nft.snapshot_table(settings.load(), "read_source_image_registry"))


@asset(group_name=GROUP, kinds={"parquet", "solana"}, description="Metaplex metadata accounts of our mints.")
def solana_metadata_accounts(settings: SettingsResource, db_minting_operations: pd.DataFrame) -> Output[pd.DataFrame]:
    mints = _column(db_minting_operations, "mint_address")
    return _output(asyncio.run(nft.snapshot_chain_metadata(settings.load(), mints)))


@asset(group_name=GROUP, kinds={"parquet", "solana"}, description="Mint transaction statuses.")
def solana_transaction_statuses(
    settings: SettingsResource, db_minting_operations: pd.DataFrame
) -> Output[pd.DataFrame]:
    signatures = _column(db_minting_operations, "transaction_signature")
    return _output(asyncio.run(nft.snapshot_tx_statuses(settings.load(), signatures)))


@asset(group_name=GROUP, kinds={"parquet", "ipfs"}, description="Pinata's pin list.")
def pinata_pins(settings: SettingsResource) -> Output[pd.DataFrame]:
    return _output(asyncio.run(nft.snapshot_pins(settings.load())))


@asset(group_name=GROUP, kinds={"parquet", "ipfs"}, description="Metadata JSON and images by CID on every gateway.")
def ipfs_objects(
    context: AssetExecutionContext,
    settings: SettingsResource,
    solana_metadata_accounts: pd.DataFrame,
    db_minting_operations: pd.DataFrame,
) -> Output[pd.DataFrame]:
    uris = _column(solana_metadata_accounts, "uri") + _column(db_minting_operations, "metadata_uri")
    images = _column(db_minting_operations, "image_uri")
    mode = context.run.tags.get("reconcile/ipfs_mode", "deep")
    return _output(asyncio.run(ipfs.snapshot_ipfs_objects(settings.load(), uris, images, mode=mode)))


@asset(group_name=GROUP, kinds={"parquet"}, description="Cloudflare KV: vdc:block:*, vdc:latest, vdc:tx:*, count.")
def blockstore_kv(settings: SettingsResource) -> Output[pd.DataFrame]:
    return _output(asyncio.run(blockstore.snapshot_kv(settings.load())))


@asset(group_name=GROUP, kinds={"parquet", "s3"}, description="R2: blocks/N.json and pending/ID.json.")
def blockstore_r2(settings: SettingsResource) -> Output[pd.DataFrame]:
    return _output(asyncio.run(blockstore.snapshot_r2(settings.load())))


@asset(group_name=GROUP, kinds={"parquet", "ipfs"}, description="Each KV block's IPFS copy, by its ipfsHash.")
def blockstore_ipfs(settings: SettingsResource, blockstore_kv: pd.DataFrame) -> Output[pd.DataFrame]:
    return _output(asyncio.run(blockstore.snapshot_block_ipfs(settings.load(), blockstore_kv)))


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
