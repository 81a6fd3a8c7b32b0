"""Descriptions of the joined frames' columns for the exports (see ``checks/nft_join.py`` and
``checks/block_join.py`` for how each is computed). Exact names first, then the column's prefix."""

from __future__ import annotations

READ_STATES = "ok | missing (read, not there) | unavailable (could not be read) | invalid | refused | none"
NFT_EXACT = {
    "run_id": "the run that built the frame",
    "entity_type": "nft (has a mint address) | operation (a database row without a mint)",
    "entity_id": "the mint address, else the operation id",
    "op_id": "minting_operations.id (null for a mint the database does not know)",
    "mint": "the mint address",
    "wallet": "minting_operations.user_wallet_address",
    "db_read": f"the database row: {READ_STATES}",
    "db_error": "why the database row could not be read",
    "chain_error": "why the metadata account could not be read",
    "tx_err": "the transaction's error (JSON) when it failed, or why its status could not be read",
    "metadata_error": "why the metadata JSON could not be read",
    "metadata_gateway_statuses": "per configured gateway: ok | missing | integrity | unavailable (JSON)",
    "image_error": "why the image could not be read",
    "image_gateway_statuses": "per configured gateway: ok | missing | integrity | unavailable (JSON)",
    "json_parsed": "the metadata bytes parsed as a JSON object",
    "json_error": "why the metadata JSON did not parse, or a field is missing",
    "source_error": "why the source image could not be read",
    "chain_read": f"the Metaplex metadata account: {READ_STATES}",
    "tx_read": f"the mint transaction's status: {READ_STATES}",
    "metadata_uri": "the metadata URI judged: on-chain when the account was read, else the database's",
    "metadata_uri_source": "chain | database: where metadata_uri comes from",
    "uri_is_truth": "true when metadata_uri is the chain's (or the chain was read and has none)",
    "metadata_read": f"the metadata JSON on IPFS: {READ_STATES}",
    "image_read": f"the image on IPFS: {READ_STATES}",
    "metadata_pin": "pinned | not_pinned | unavailable | none: the metadata CID in the Pinata pin list",
    "image_pin": "pinned | not_pinned | unavailable | none: the image CID in the Pinata pin list",
    "pin_error": "why the pin list could not be read",
    "check_level": "the level judged: the database's, else the metadata JSON's",
    "source_read": f"the level's source image: {READ_STATES}",
    "registry_read": f"the level's source_image_registry row: {READ_STATES}",
    "registry_hash": "source_image_registry.file_hash of the level",
    "source_matches_registry": "the source image's SHA-256 equals the registry's",
}
NFT_PREFIXES = {
    "db_": "from minting_operations (the backend database)",
    "chain_": "from the Metaplex metadata account on Solana",
    "tx_": "the mint transaction on Solana (getSignatureStatuses)",
    "metadata_": "the metadata JSON object on IPFS (CID, path, hash, size, per-gateway status)",
    "json_": "a field parsed from the metadata JSON",
    "image_": "the image object on IPFS named by the metadata (CID, path, hash, size, per-gateway status)",
    "source_": "the level's source image file",
}
BLOCK_EXACT = {
    "run_id": "the run that built the frame",
    "block_number": "the block number (one row per number any tier holds)",
    "kv_ipfs_hash": "the ipfsHash field of the KV copy",
    "kv_ipfs_problem": "why kv_ipfs_hash cannot name the block (missing, not a CID, a mock)",
    "r2_ipfs_hash": "the ipfsHash field of the R2 copy",
    "ipfs_cid": "the CID the IPFS copy was read by",
    "ipfs_read": "the gateway read status of the IPFS copy",
    "ipfs_read_error": "why the IPFS copy could not be read",
    "source_tier": "the first copy that validates, KV > R2 > IPFS: where a rehydration copies from (null: none)",
    "ref_tier": "the copy the chain checks judge: the source, else the first usable copy",
}
BLOCK_SUFFIXES = {
    "_status": "present | missing | unavailable | unlocated | unverified",
    "_reason": "why the copy is not present",
    "_sha256": "SHA-256 of the copy's raw bytes",
    "_core_sha256": "SHA-256 of the canonical block without its IPFS fields (raw:<sha256> if not a JSON object)",
    "_usable": "parsed and under the right number",
    "_valid": "usable, and its hash and Merkle root recompute",
    "_error": "parse error, or a blockNumber under the wrong key",
    "_object": "the copy is at least a JSON object",
    "_hash": "the block's hash field",
    "_previous_hash": "the block's previousHash field",
    "_merkle_root": "the block's merkleRoot field",
    "_hash_computed": "the hash recomputed over the configured hash fields",
    "_merkle_computed": "the Merkle root recomputed from the transactions",
    "_tx_ids": "the ids of the block's transactions",
}
TIER_NAMES = {
    "kv": "KV copy (vdc:block:N)",
    "r2": "R2 copy (blocks/N.json)",
    "ipfs": "IPFS copy",
    "ref": "reference copy",
}


def _nft(name: str) -> str:
    if name in NFT_EXACT:
        return NFT_EXACT[name]
    prefix = next((p for p in NFT_PREFIXES if name.startswith(p)), None)
    return f"{NFT_PREFIXES[prefix]}: {name[len(prefix) :]}" if prefix else name


def _block(name: str) -> str:
    if name in BLOCK_EXACT:
        return BLOCK_EXACT[name]
    tier, _, rest = name.partition("_")
    suffix = f"_{rest}"
    if tier in TIER_NAMES and suffix in BLOCK_SUFFIXES:
        return f"{TIER_NAMES[tier]}: {BLOCK_SUFFIXES[suffix]}"
    return name


def joined_description(export: str, column: str) -> str:
    return _nft(column) if export == "nft_consistency" else _block(column)
