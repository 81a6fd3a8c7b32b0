"""The joined NFT frame, ``nft_consistency``: one row per minting operation or on-chain mint found by any layer.

An outer join of ``db_minting_operations`` with ``solana_metadata_accounts`` on the mint (orphans of
either side stay; DB rows without a mint stay as ``operation`` rows), then, by vectorized merges and
lookups, the mint transaction's status, the metadata object (from the on-chain URI, the truth; the
DB's URI when the chain has no readable account: ``metadata_uri_source``), its parsed JSON, the image
it names, the pin status of both CIDs and the level's source image and registry hash.

Every layer's read status for the row is a column (``*_read``, ``*_pin``): ``ok`` | ``missing`` (read,
not there) | ``unavailable`` (could not be read: checks say unknown) | ``invalid`` | ``refused`` |
``none`` (nothing to read, e.g. no mint yet). Pure: no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..settings import Settings
from ..snapshots.base import read_status
from .nft_join_frames import attach_by_key, frame_of, is_text, joined_input, same_key_type
from .nft_join_ipfs import attach_metadata_fields, attach_objects
from .nft_join_keys import cid_keys

MINTED = frozenset({"BLOCKCHAIN_CONFIRMED", "VERIFIED", "COMPLETED"})  # the DB says the NFT exists
PRE_CHAIN = frozenset({"PENDING", "SOURCE_READ", "IPFS_UPLOADED", "BLOCKCHAIN_SUBMITTED"})
TERMINAL = frozenset({"COMPLETED", "FAILED"})

DB_COLUMNS = {
    "id": "op_id",
    "status": "db_status",
    "user_wallet_address": "wallet",
    "level": "db_level",
    "transaction_signature": "db_tx_signature",
    "mint_address": "mint",
    "metadata_uri": "db_metadata_uri",
    "image_uri": "db_image_uri",
    "created_at": "db_created_at",
    "updated_at": "db_updated_at",
}
CHAIN_COLUMNS = {
    "mint": "mint",
    "status": "chain_read",
    "error": "chain_error",
    "listed": "chain_listed",
    "update_authority": "chain_update_authority",
    "uri": "chain_uri",
    "is_mutable": "chain_is_mutable",
    "name": "chain_name",
}
TX_COLUMNS = {"signature": "db_tx_signature", "status": "tx_read", "succeeded": "tx_succeeded", "err": "tx_err"}
IPFS_COLUMNS = ["cid", "path", "role", "uris", "status", "sha256", "size", "content_text", "error", "gateway_statuses"]
SOURCE_COLUMNS = ["level", "status", "sha256", "error", "expected", "backup_status", "backup_sha256"]
NFT_CONSISTENCY_COLUMNS = """
    entity_type entity_id op_id mint
    db_read db_error db_status wallet db_level db_tx_signature db_metadata_uri db_image_uri db_created_at db_updated_at
    chain_read chain_error chain_listed chain_update_authority chain_uri chain_is_mutable chain_name
    tx_read tx_succeeded tx_err
    metadata_uri metadata_uri_source uri_is_truth metadata_cid metadata_path metadata_read metadata_error
    metadata_sha256 metadata_size metadata_gateway_statuses metadata_gateways_ok metadata_gateways_unreadable
    metadata_gateways_integrity
    json_parsed json_error json_name json_image json_level
    image_uri image_cid image_path image_read image_error image_sha256 image_size image_gateway_statuses
    image_gateways_ok image_gateways_unreadable image_gateways_integrity
    metadata_pin image_pin pin_error
    check_level source_read source_sha256 source_error registry_read registry_hash source_matches_registry
""".split()


STATUS_COLUMNS = [  # every row has one of a few values: Arrow-backed strings, compared without Python objects
    "chain_read",
    "tx_read",
    "metadata_read",
    "image_read",
    "metadata_pin",
    "image_pin",
    "source_read",
    "registry_read",
]


def listing_problem(frames: dict[str, pd.DataFrame], settings: Settings) -> str | None:
    """Why chain-only mints cannot be found (listing by update authority failed or impossible), or None."""
    chain, reason = frame_of(frames, "solana_metadata_accounts", list(CHAIN_COLUMNS) + ["listing_status"])
    if reason:
        return reason
    if not settings.solana.update_authority:
        return "no update authority configured: our mints cannot be listed"
    bad = chain["listing_status"].dropna()
    bad = bad[bad != "ok"]
    message = read_status(chain).get("message")
    if len(bad):
        return f"listing by update authority failed: {bad.iloc[0]}"
    return f"listing by update authority failed: {message}" if message else None


def _db_chain(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    ops, db_reason = joined_input(frames, "db_minting_operations", list(DB_COLUMNS))
    chain, chain_reason = joined_input(frames, "solana_metadata_accounts", list(CHAIN_COLUMNS))
    db = ops[list(DB_COLUMNS)].rename(columns=DB_COLUMNS)
    accounts = chain[list(CHAIN_COLUMNS)].rename(columns=CHAIN_COLUMNS).dropna(subset=["mint"])
    accounts = accounts.sort_values("chain_read", key=lambda s: s != "ok", kind="stable").drop_duplicates("mint")
    db, accounts = same_key_type(db, accounts, "mint")
    db = db.astype({"op_id": "str" if is_text(db["op_id"]) else "object"})
    with_mint = db[db["mint"].notna()].merge(accounts, on="mint", how="outer")
    joined = pd.concat([with_mint, db[db["mint"].isna()]], ignore_index=True)
    in_db = joined["op_id"].notna()
    joined["db_read"] = "ok"
    joined.loc[~in_db, "db_read"] = "unavailable" if db_reason else "missing"
    joined["db_error"] = None if not db_reason else db_reason
    joined.loc[in_db, "db_error"] = None
    has_mint, unread = joined["mint"].notna(), joined["chain_read"].isna()
    joined["chain_read"] = joined["chain_read"].astype("object")
    joined.loc[has_mint & unread, "chain_read"] = "unavailable"
    joined.loc[has_mint & unread, "chain_error"] = chain_reason or "solana_metadata_accounts: mint not read"
    joined.loc[~has_mint, "chain_read"] = "none"
    joined["chain_listed"] = joined["chain_listed"].astype("object").eq(True)
    joined["entity_type"] = joined["mint"].notna().map({True: "nft", False: "operation"})
    joined["entity_id"] = joined["mint"].where(joined["mint"].notna(), joined["op_id"])
    return joined


def _attach_tx(joined: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    txs, reason = joined_input(frames, "solana_transaction_statuses", list(TX_COLUMNS))
    statuses = txs[list(TX_COLUMNS)].rename(columns=TX_COLUMNS).dropna(subset=["db_tx_signature"])
    joined = attach_by_key(joined, statuses.drop_duplicates("db_tx_signature"), "db_tx_signature")
    has_sig, unread = joined["db_tx_signature"].notna(), joined["tx_read"].isna()
    joined["tx_read"] = joined["tx_read"].astype("object")
    joined.loc[has_sig & unread, "tx_read"] = "unavailable"
    joined.loc[has_sig & unread, "tx_err"] = reason or "solana_transaction_statuses: signature not read"
    joined.loc[~has_sig, "tx_read"] = "none"
    joined["tx_succeeded"] = joined["tx_succeeded"].astype("object")
    return joined


def _attach_ipfs(joined: pd.DataFrame, frames: dict[str, pd.DataFrame], settings: Settings) -> pd.DataFrame:
    objects, reason = joined_input(frames, "ipfs_objects", IPFS_COLUMNS)
    from_chain = joined["chain_read"] == "ok"
    uri = joined["chain_uri"].where(from_chain, joined["db_metadata_uri"])
    joined["metadata_uri"] = uri if is_text(uri) else uri.astype("object")
    source = pd.Series("database", index=joined.index).where(~from_chain, "chain")
    joined["metadata_uri_source"] = source.where(joined["metadata_uri"].notna(), None)
    joined["uri_is_truth"] = joined["chain_read"].isin(["ok", "missing", "none"])
    gateways = len(settings.ipfs.gateways)
    unread = reason or "ipfs_objects: URI not read by the snapshot"
    joined = attach_objects(
        joined, objects, "metadata_uri", "metadata", role="metadata", gateways=gateways, unread_reason=unread
    )
    joined = attach_metadata_fields(joined, settings.ipfs.max_json_bytes)
    joined["image_uri"] = joined["json_image"]
    joined = attach_objects(
        joined, objects, "image_uri", "image", role="image", gateways=gateways, unread_reason=unread
    ).drop(columns=["image_content_text"])
    for column in ("json_name", "json_image", "json_level", "image_uri"):  # plain values, None for missing
        joined[column] = joined[column].astype("object").where(joined[column].notna(), None)
    meta_unknown = joined["metadata_read"] == "unavailable"
    joined.loc[meta_unknown, "image_read"] = "unavailable"
    joined.loc[meta_unknown, "image_error"] = "metadata JSON unreadable, so its image is unknown"
    return joined


def _attach_pins(joined: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    pins, reason = joined_input(frames, "pinata_pins", ["cid"])
    pinned = cid_keys(pins["cid"]).dropna().unique()
    for prefix in ("metadata", "image"):
        keys = cid_keys(joined[f"{prefix}_cid"])
        state = pd.Series(np.where(keys.isin(pinned), "pinned", "not_pinned"), index=joined.index, dtype="object")
        state = state.where(keys.notna(), "none")
        if reason:
            state = state.where(keys.isna(), "unavailable")
        joined[f"{prefix}_pin"] = state
    joined["pin_error"] = reason
    return joined


def _attach_source(joined: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    images, source_reason = frame_of(frames, "source_images", SOURCE_COLUMNS)
    registry, registry_reason = frame_of(frames, "db_source_image_registry", ["level", "file_hash"])
    expected = images[images["expected"].astype("object").eq(True)] if len(images) else images
    levels = (
        expected[SOURCE_COLUMNS[:4]]
        .drop_duplicates("level")
        .set_axis(["check_level", "source_read", "source_sha256", "source_error"], axis=1)
    )
    hashes = registry[["level", "file_hash"]].dropna(subset=["level"]).drop_duplicates("level")
    hashes = hashes.set_axis(["check_level", "registry_hash"], axis=1).assign(registry_read="ok")
    hashes["registry_hash"] = hashes["registry_hash"].astype("object").str.lower()
    joined["check_level"] = joined["db_level"].where(joined["db_read"] == "ok", joined["json_level"]).astype("object")
    joined = attach_by_key(joined, levels, "check_level")
    joined = attach_by_key(joined, hashes, "check_level")
    has_level = joined["check_level"].notna()
    joined["source_read"] = joined["source_read"].astype("object")
    joined.loc[has_level & joined["source_read"].isna(), "source_read"] = (
        "unavailable" if source_reason else "not_expected"
    )
    joined.loc[~has_level, "source_read"] = "none"
    joined.loc[has_level & (joined["source_read"] == "unavailable") & joined["source_error"].isna(), "source_error"] = (
        source_reason
    )
    joined["registry_read"] = joined["registry_read"].astype("object")
    joined.loc[has_level & joined["registry_read"].isna(), "registry_read"] = (
        "unavailable" if registry_reason else "missing"
    )
    joined.loc[~has_level, "registry_read"] = "none"
    comparable = (joined["source_read"] == "ok") & joined["registry_hash"].notna() & joined["source_sha256"].notna()
    matches = pd.Series(pd.NA, index=joined.index, dtype="boolean")
    matches[comparable] = joined.loc[comparable, "source_sha256"] == joined.loc[comparable, "registry_hash"]
    matches[(joined["source_read"] == "ok") & (joined["registry_read"] == "missing")] = False
    joined["source_matches_registry"] = matches
    return joined


def unreadable_layers(frames: dict[str, pd.DataFrame], settings: Settings) -> dict[str, str]:
    """Layer -> why it could not be read as a whole ("listing": chain-only mints cannot be found)."""
    named = {
        "database": frame_of(frames, "db_minting_operations", [])[1],
        "registry": frame_of(frames, "db_source_image_registry", [])[1],
        "solana": frame_of(frames, "solana_metadata_accounts", [])[1],
        "listing": listing_problem(frames, settings),
        "transactions": frame_of(frames, "solana_transaction_statuses", [])[1],
        "ipfs": frame_of(frames, "ipfs_objects", [])[1],
        "pinata": frame_of(frames, "pinata_pins", [])[1],
        "source_images": frame_of(frames, "source_images", [])[1],
    }
    return {layer: reason for layer, reason in named.items() if reason}


def build_nft_consistency(frames: dict[str, pd.DataFrame], settings: Settings) -> pd.DataFrame:
    """The joined frame (see the module docstring); stable order: by entity type, then entity id.

    ``attrs["unreadable"]`` names each layer that could not be read as a whole, with the reason.
    """
    joined = _db_chain(frames)  # the order is set here, on the narrow frame: every later step keeps it
    joined = joined.sort_values(["entity_type", "entity_id", "op_id"], kind="stable", na_position="last")
    joined = _attach_tx(joined.reset_index(drop=True), frames)
    joined = _attach_ipfs(joined, frames, settings)
    joined = _attach_pins(joined, frames)
    joined = _attach_source(joined, frames)
    joined = joined.reset_index(drop=True)[NFT_CONSISTENCY_COLUMNS].astype(dict.fromkeys(STATUS_COLUMNS, "str"))
    joined.attrs = {"unreadable": unreadable_layers(frames, settings)}
    return joined
