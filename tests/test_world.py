"""The world builder's manifest agrees with what the servers serve.

For every injected fault the state behind it is confirmed through the production clients (the
snapshot frames are read over the real protocols), with logic written independently of the
checks. Determinism: one seed, one world.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from PIL import Image

from reconcile_pipeline.layers import blocks as fmt
from reconcile_pipeline.layers.cid import is_cid, parse_ipfs_uri
from reconcile_pipeline.sandbox.build import ALL_FAULTS, build_world, manifest, nft_count
from reconcile_pipeline.sandbox.worlddata import WorldSpec
from tests.worldkit import running_world, snapshot_frames


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    with running_world(tmp_path_factory.mktemp("world"), seed=11, nfts=32, blocks=16) as (world, settings):
        yield world, world.manifest(), snapshot_frames(settings)


def _by(frame: pd.DataFrame, column: str) -> dict:
    return {key: row for key, row in zip(frame[column], frame.to_dict("records"), strict=True)}


def _cid(uri: str) -> str:
    return str(parse_ipfs_uri(uri)[0])


def _json(frames, cid: str) -> dict:
    objects = frames["ipfs_objects"]
    return json.loads(objects.loc[objects["cid"] == cid, "content_text"].iloc[0])


def _source_sha(world, level: str) -> str | None:
    path = world.assets_dir / f"{level}.png"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def confirm_nft_fault(fault: dict, world, frames) -> None:
    kind, entity = fault["fault"], fault["entity_id"]
    ops = frames["db_minting_operations"]
    db = _by(ops[ops["mint_address"].notna()], "mint_address")
    chain = _by(frames["solana_metadata_accounts"], "mint")
    txs = _by(frames["solana_transaction_statuses"], "signature")
    objects = _by(frames["ipfs_objects"][frames["ipfs_objects"]["cid"].notna()], "cid")
    registry = _by(frames["db_source_image_registry"], "level")
    pinned = set(frames["pinata_pins"]["cid"])
    if kind == "SOURCE_MISSING":
        assert _source_sha(world, entity) is None and (world.backup_dir / f"{entity}.png").exists()
    elif kind == "SOURCE_MISSING_ACTIVE_NFT":
        assert _source_sha(world, entity) is None and (ops["level"] == entity).any()
    elif kind == "SOURCE_INVALID":
        with pytest.raises(OSError):
            Image.open(io.BytesIO((world.assets_dir / f"{entity}.png").read_bytes())).load()
    elif kind == "SOURCE_REGISTRY_DRIFT":
        assert _source_sha(world, entity) != registry[entity]["file_hash"]
    elif kind == "CHAIN_METADATA_MISSING":
        assert chain[entity]["status"] == "missing" and db[entity]["status"] == "COMPLETED"
    elif kind == "CHAIN_URI_MISMATCH":
        assert _cid(chain[entity]["uri"]) != _cid(db[entity]["metadata_uri"])
    elif kind == "CHAIN_METADATA_MUTABLE":
        assert bool(chain[entity]["is_mutable"]) is True
    elif kind == "CHAIN_AUTHORITY_UNEXPECTED":
        assert chain[entity]["update_authority"] != world.data.authority and not chain[entity]["listed"]
    elif kind == "TX_FAILED_DB_CONFIRMED":
        assert txs[db[entity]["transaction_signature"]]["err"] and db[entity]["status"] == "COMPLETED"
    elif kind == "BLOCKCHAIN_SUCCESS_DATABASE_FAILURE":
        assert chain[entity]["status"] == "ok" and (entity not in db or db[entity]["status"] == "FAILED")
    elif kind == "DB_PENDING_TX_FAILED":
        assert db[entity]["status"] == "BLOCKCHAIN_SUBMITTED" and txs[db[entity]["transaction_signature"]]["err"]
    elif kind == "DB_STUCK_PENDING":
        row = ops[ops["id"] == entity].iloc[0]
        assert row["status"] == "IPFS_UPLOADED" and row["updated_at"] < datetime.now(UTC) - timedelta(minutes=30)
    elif kind == "DB_DUPLICATE_MINT":
        wallet, level = entity.split(":")
        done = ops[(ops["user_wallet_address"] == wallet) & (ops["level"] == level) & (ops["status"] == "COMPLETED")]
        assert len(done) == 2
    elif kind == "DATABASE_SUCCESS_IPFS_FAILURE":
        assert objects[_cid(chain[entity]["uri"])]["status"] == "missing"
    elif kind == "IPFS_METADATA_INVALID":
        document = _json(frames, _cid(chain[entity]["uri"]))
        assert document["attributes"][0]["value"] != db[entity]["level"]
    elif kind == "IPFS_SOURCE_MISMATCH":
        image = objects[_cid(_json(frames, _cid(chain[entity]["uri"]))["image"])]
        assert image["status"] == "ok" and image["sha256"] != _source_sha(world, db[entity]["level"])
    elif kind in ("IPFS_CID_INTEGRITY", "IPFS_GATEWAY_WRONG_BYTES"):
        assert objects[entity]["gateways_integrity"] == 1 and objects[entity]["status"] == "ok"
    elif kind == "IPFS_NOT_PINNED":
        assert entity not in pinned and objects[entity]["status"] == "ok"
    elif kind == "IPFS_PROPAGATION_PARTIAL":
        assert 0 < objects[entity]["gateways_ok"] < world.spec.min_gateways
    elif kind == "DB_IPFS_REFERENCE_MISMATCH":
        assert _cid(db[entity]["image_uri"]) != _cid(_json(frames, _cid(chain[entity]["uri"]))["image"])
    elif kind == "PARTNER_VERIFICATION_FAILED":
        assert parse_ipfs_uri(chain[entity]["uri"]) is None
    else:
        raise AssertionError(f"no confirmation for {kind}")


def _tier_blocks(frame: pd.DataFrame) -> dict[int, dict]:
    rows = frame[(frame["kind"] == "block") & frame["present"]]
    return {int(n): json.loads(v) for n, v in zip(rows["block_number"], rows["value"], strict=True)}


def confirm_block_fault(fault: dict, world, frames) -> None:
    kind, entity = fault["fault"], fault["entity_id"]
    kv, r2 = frames["blockstore_kv"], frames["blockstore_r2"]
    kv_blocks, r2_blocks = _tier_blocks(kv), _tier_blocks(r2)
    pending = set(r2.loc[r2["kind"] == "pending", "tx_id"])
    mined = {tx["txId"]: n for n, block in kv_blocks.items() for tx in block["transactions"]}
    n = int(entity) if kind.startswith("BLOCK_") else None
    if kind == "BLOCK_TIER_MISSING":
        assert n in kv_blocks and n not in r2_blocks
    elif kind == "BLOCK_TIER_DIVERGENT":
        assert fmt.core_sha256(kv_blocks[n]) != fmt.core_sha256(r2_blocks[n])
    elif kind == "BLOCK_HASH_INVALID":
        assert fmt.block_hash(kv_blocks[n]) != kv_blocks[n]["hash"]
    elif kind == "BLOCK_CHAIN_BROKEN":
        assert kv_blocks[n]["previousHash"] != kv_blocks[n - 1]["hash"]
    elif kind == "BLOCK_MERKLE_INVALID":
        hashes = [fmt.tx_hash(tx) for tx in kv_blocks[n]["transactions"]]
        assert fmt.merkle_root(hashes) != kv_blocks[n]["merkleRoot"]
    elif kind == "BLOCK_KV_TAMPERED":
        assert fmt.block_hash(kv_blocks[n]) != kv_blocks[n]["hash"] and fmt.core_sha256(r2_blocks[n]) != (
            fmt.core_sha256(kv_blocks[n]))  # fmt: skip
        assert fmt.block_hash(r2_blocks[n]) == r2_blocks[n]["hash"] == kv_blocks[n]["hash"]
    elif kind == "BLOCK_GONE":
        assert n not in kv_blocks and n not in r2_blocks and {n - 1, n + 1} <= set(kv_blocks) & set(r2_blocks)
    elif kind == "BLOCK_IPFS_HASH_INVALID":
        assert not is_cid(kv_blocks[n]["ipfsHash"])
    elif kind == "LATEST_POINTER_STALE":
        latest = json.loads(kv.loc[kv["kind"] == "latest", "value"].iloc[0])
        assert latest["blockNumber"] < max(kv_blocks)
    elif kind == "TX_INDEX_INCONSISTENT":
        index = kv[(kv["kind"] == "tx") & (kv["tx_id"] == entity)]
        assert index.empty or json.loads(index["value"].iloc[0])["blockNumber"] != mined[entity]
    elif kind == "PENDING_COUNT_DRIFT":
        count = int(kv.loc[kv["kind"] == "pending_count", "value"].iloc[0])
        assert count != len(pending)
    elif kind == "PENDING_ALREADY_MINED":
        assert entity in pending and entity in mined
    elif kind == "PENDING_BACKLOG":
        assert len(pending) > world.spec.backlog_max
    else:
        raise AssertionError(f"no confirmation for {kind}")


def test_every_catalogue_fault_is_injected(faulty):
    _, truth, _ = faulty
    assert {entry["fault"] for entry in truth["faults"]} == set(ALL_FAULTS)
    assert truth["skipped_faults"] == []
    # faults named for what they do, not for the check that finds them: a tampered KV block, a block gone from
    # KV and R2, a gateway serving other bytes (a second way to make IPFS_CID_INTEGRITY, found by the regular cadence)
    scenarios = {"BLOCK_KV_TAMPERED", "BLOCK_GONE", "IPFS_GATEWAY_WRONG_BYTES"}
    assert {f["check_id"] for f in truth["expected_findings"]} == set(ALL_FAULTS) - scenarios


def test_each_fault_is_what_the_servers_serve(faulty):
    world, truth, frames = faulty
    for fault in truth["faults"]:
        if fault["entity_type"] in ("block", "tx", "kv_key", "queue"):
            confirm_block_fault(fault, world, frames)
        else:
            confirm_nft_fault(fault, world, frames)


def test_clean_world_serves_every_layer_consistently(tmp_path):
    with running_world(tmp_path, seed=5, nfts=12, blocks=8, faults="none") as (world, settings):
        frames = snapshot_frames(settings)
        assert world.manifest()["expected_findings"] == []
    assert set(frames["source_images"]["status"]) == {"ok"}
    assert set(frames["solana_metadata_accounts"]["status"]) == {"ok"}
    assert frames["solana_metadata_accounts"]["listed"].all()
    assert set(frames["ipfs_objects"]["status"]) == {"ok"}
    assert (frames["ipfs_objects"]["gateways_ok"] == world.spec.gateways).all()
    assert set(frames["ipfs_objects"]["cid"]) <= set(frames["pinata_pins"]["cid"])
    assert len(_tier_blocks(frames["blockstore_kv"])) == len(_tier_blocks(frames["blockstore_r2"])) == 8
    assert set(frames["blockstore_ipfs"]["status"]) == {"ok"}


def _comparable(truth: dict) -> dict:
    return {k: v for k, v in truth.items() if k not in ("built_at", "endpoints")}


def test_same_seed_same_world_other_seed_other_victims():
    first = manifest(build_world(WorldSpec(seed=3, nfts=24, blocks=16, faults=["all"])))
    again = manifest(build_world(WorldSpec(seed=3, nfts=24, blocks=16, faults=["all"])))
    other = manifest(build_world(WorldSpec(seed=4, nfts=24, blocks=16, faults=["all"])))
    assert _comparable(first) == _comparable(again)
    assert first["expected_findings"] != other["expected_findings"]


def test_a_world_too_small_lists_skipped_faults():
    truth = manifest(build_world(WorldSpec(seed=1, nfts=3, blocks=3, faults=["all"])))
    skipped = {entry["fault"] for entry in truth["skipped_faults"]}
    assert "DB_DUPLICATE_MINT" in skipped or "IPFS_SOURCE_MISMATCH" in skipped
    injected = {entry["fault"] for entry in truth["faults"]}
    assert injected.isdisjoint(skipped)


def test_unknown_fault_ids_are_refused():
    with pytest.raises(ValueError, match="unknown fault ids"):
        build_world(WorldSpec(faults=["NOT_A_FAULT"]))


def test_the_nft_count_says_why_a_world_has_more_nfts_than_asked():
    """`world up --nfts 40` with every fault: 41 NFTs, and the fault that added one says so (issue 18)."""
    faulty = build_world(WorldSpec(seed=7, nfts=40, blocks=20, faults=["all"]))
    assert len(faulty.nfts) == 41
    assert nft_count(faulty) == (
        "41 NFTs (40 asked, +1: DB_DUPLICATE_MINT adds a second completed mint for one wallet and level)"
    )
    assert nft_count(build_world(WorldSpec(seed=7, nfts=40, blocks=20, faults=[]))) == "40 NFTs"
    others = [fault for fault in ALL_FAULTS if fault != "DB_DUPLICATE_MINT"]
    assert nft_count(build_world(WorldSpec(seed=7, nfts=40, blocks=20, faults=others))) == "40 NFTs"
