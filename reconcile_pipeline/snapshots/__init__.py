"""Snapshots: read one layer through its client into a DataFrame plus the layer's read status.

No Dagster here: the assets in ``defs/`` call these functions and write the frames as Parquet.
"""

NFT_SNAPSHOTS = (
    "source_images",
    "db_minting_operations",
    "db_source_image_registry",
    "solana_metadata_accounts",
    "solana_transaction_statuses",
    "pinata_pins",
    "ipfs_objects",
)
BLOCK_SNAPSHOTS = ("blockstore_kv", "blockstore_r2", "blockstore_ipfs")
SNAPSHOT_NAMES = (*NFT_SNAPSHOTS, *BLOCK_SNAPSHOTS)  # the snapshot assets, one per layer read
