"""The joined NFT frame on small hand-made snapshot frames: outer join, read statuses, URI resolution.

``make_frames`` (also used by test_nft_checks.py) builds the snapshot frames of a tiny world from NFT
specs: every field has a healthy default and each test overrides only what it is about.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from solders.pubkey import Pubkey

from reconcile_pipeline.checks.nft_join import NFT_CONSISTENCY_COLUMNS, build_nft_consistency
from reconcile_pipeline.layers.unixfs import unixfs_cid
from reconcile_pipeline.settings import Settings

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
AUTHORITY = str(Pubkey(bytes([200]) * 32))
GATEWAYS = ["http://gw0.test", "http://gw1.test", "http://gw2.test"]
LEVELS = ["Bronze", "Silver"]
IMAGES = {level: f"png bytes of {level}".encode() for level in LEVELS}


def pubkey(i: int) -> str:
    return str(Pubkey(bytes([i + 1]) * 32))


def cid(data: bytes, version: int = 0) -> str:
    return str(unixfs_cid(data, cid_version=version))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def settings(**sections) -> Settings:
    base = {
        "solana": {"update_authority": AUTHORITY},
        "ipfs": {"gateways": GATEWAYS, "min_gateways": 2},
        "source_images": {"supported_levels": LEVELS},
        "reconciliation": {"stuck_pending_after_s": 600},
    }
    for name, values in sections.items():
        base[name] = base.get(name, {}) | values
    return Settings(**base)


def metadata_bytes(name: str, level: str | None, image_uri: str | None) -> bytes:
    document: dict = {"name": name, "symbol": "T"}
    if image_uri is not None:
        document["image"] = image_uri
    if level is not None:
        document["attributes"] = [{"trait_type": "Level", "value": level}]
    return json.dumps(document, separators=(",", ":")).encode()


def nft(i: int, **overrides) -> dict:
    """A healthy NFT spec; ``overrides`` change any field (see the keys below)."""
    level = overrides.get("level", LEVELS[i % len(LEVELS)])
    image_uri = overrides.pop("image_uri", f"ipfs://{cid(IMAGES[level])}")
    meta = overrides.pop("meta", metadata_bytes(f"NFT #{i}", level, image_uri))
    uri = overrides.pop("uri", f"ipfs://{cid(meta)}")
    spec = {
        "op_id": f"op-{i}",
        "mint": pubkey(i),
        "wallet": f"wallet-{i}",
        "level": level,
        "status": "COMPLETED",
        "signature": f"sig-{i}",
        "in_db": True,
        "db_uri": uri,
        "db_image_uri": image_uri,
        "age_s": 3600,
        "chain": "ok",
        "listed": True,
        "uri": uri,
        "authority": AUTHORITY,
        "is_mutable": False,
        "tx": "ok",
        "tx_ok": True,
        "meta": meta,
        "meta_status": "ok",
        "image_uri": image_uri,
        "image_status": "ok",
        "image_bytes": IMAGES[level],
        "gateways": dict.fromkeys(GATEWAYS, "ok"),
        "image_gateways": None,
        "pinned": True,
    }
    spec.update(overrides)
    return spec


def _ok(frame: pd.DataFrame, layer: str, status: str = "ok", message: str | None = None) -> pd.DataFrame:
    frame.attrs["read_status"] = {"layer": layer, "status": status} | ({"message": message} if message else {})
    return frame


def _ops(specs: list[dict]) -> pd.DataFrame:
    rows = []
    for s in specs:
        if not s["in_db"]:
            continue
        stamp = NOW - timedelta(seconds=s["age_s"])
        rows.append(
            {
                "id": s["op_id"],
                "user_wallet_address": s["wallet"],
                "level": s["level"],
                "status": s["status"],
                "transaction_signature": s["signature"],
                "mint_address": s["mint"],
                "metadata_uri": s["db_uri"],
                "image_uri": s["db_image_uri"],
                "created_at": stamp - timedelta(seconds=120),
                "updated_at": stamp,
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "id",
            "user_wallet_address",
            "level",
            "status",
            "transaction_signature",
            "mint_address",
            "metadata_uri",
            "image_uri",
            "created_at",
            "updated_at",
        ],
    )
    for column in ("created_at", "updated_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return _ok(frame, "database")


def _chain(specs: list[dict]) -> pd.DataFrame:
    rows = []
    for s in specs:
        if s["mint"] is None or s["chain"] is None:
            continue
        row = {
            "mint": s["mint"],
            "status": s["chain"],
            "listed": s["listed"],
            "listing_status": "ok",
            "error": "rpc down" if s["chain"] == "unavailable" else None,
        }
        if s["chain"] == "ok":
            row |= {
                "update_authority": s["authority"],
                "uri": s["uri"],
                "is_mutable": s["is_mutable"],
                "name": f"NFT {s['op_id']}",
            }
        rows.append(row)
    columns = ["mint", "status", "error", "listed", "listing_status", "update_authority", "uri", "is_mutable", "name"]
    return _ok(pd.DataFrame(rows, columns=columns), "solana")


def _txs(specs: list[dict]) -> pd.DataFrame:
    rows = [
        {
            "signature": s["signature"],
            "status": s["tx"],
            "succeeded": s["tx_ok"] if s["tx"] == "ok" else None,
            "err": None if s["tx_ok"] else '{"InstructionError":[0,{"Custom":1}]}',
        }
        for s in specs
        if s["signature"] and s["tx"] is not None
    ]
    return _ok(pd.DataFrame(rows, columns=["signature", "status", "succeeded", "err"]), "solana")


def _object(uri: str, role: str, status: str, content: bytes | None, gateways: dict) -> dict:
    from reconcile_pipeline.checks.nft_join_ipfs import ref_key

    key = ref_key(uri)
    if key is None:
        return {
            "cid": None,
            "path": "",
            "role": role,
            "uris": [uri],
            "status": "refused",
            "error": "not IPFS",
            "gateway_statuses": None,
        }
    text = content.decode() if content is not None and role == "metadata" else None
    return {
        "cid": uri.split("/ipfs/")[-1].removeprefix("ipfs://").split("/")[0],
        "path": "",
        "role": role,
        "uris": [uri],
        "status": status,
        "sha256": sha(content) if content is not None else None,
        "size": len(content) if content is not None else None,
        "content_text": text,
        "error": None if status == "ok" else f"object {status}",
        "gateway_statuses": json.dumps(gateways),
    }


def _objects(specs: list[dict]) -> pd.DataFrame:
    rows: dict[tuple[str, str], dict] = {}
    for s in specs:
        for role, uri, status, content, gateways in (
            ("metadata", s["uri"], s["meta_status"], s["meta"], s["gateways"]),
            ("image", s["image_uri"], s["image_status"], s["image_bytes"], s["image_gateways"] or s["gateways"]),
        ):
            if uri is not None and status is not None:
                rows.setdefault((role, uri), _object(uri, role, status, content if status == "ok" else None, gateways))
    return _ok(pd.DataFrame(list(rows.values())), "ipfs")


def _pins(specs: list[dict]) -> pd.DataFrame:
    from reconcile_pipeline.checks.nft_join_ipfs import ref_key

    cids = set()
    for s in specs:
        for uri in (s["uri"], s["image_uri"]):
            key = ref_key(uri)
            if key and s["pinned"]:
                cids.add(key)
    return _ok(pd.DataFrame({"cid": sorted(cids)}), "pinata")


def source_frames(
    images: dict[str, bytes | None] | None = None,
    registry: dict[str, str] | None = None,
    backups: dict[str, bytes] | None = None,
) -> dict[str, pd.DataFrame]:
    images = IMAGES | (images or {})
    backups = IMAGES | (backups or {})
    registry = {level: sha(data) for level, data in IMAGES.items()} | (registry or {})
    rows = [
        {
            "level": level,
            "path": f"/a/{level}.png",
            "status": "missing" if data is None else "ok",
            "sha256": sha(data) if data is not None else None,
            "error": None,
            "expected": True,
            "invalid_reason": None,
            "backup_status": "ok",
            "backup_sha256": sha(backups[level]),
        }
        for level, data in images.items()
    ]
    sources = _ok(pd.DataFrame(rows), "source_images")
    hashes = _ok(pd.DataFrame({"level": list(registry), "file_hash": list(registry.values())}), "database")
    return {"source_images": sources, "db_source_image_registry": hashes}


def make_frames(specs: list[dict], **sources) -> dict[str, pd.DataFrame]:
    return {
        "db_minting_operations": _ops(specs),
        "solana_metadata_accounts": _chain(specs),
        "solana_transaction_statuses": _txs(specs),
        "ipfs_objects": _objects(specs),
        "pinata_pins": _pins(specs),
    } | source_frames(**sources)


def unavailable(frame: pd.DataFrame, layer: str, message: str = "connection refused") -> pd.DataFrame:
    """The frame a snapshot returns for a layer it could not read at all."""
    return _ok(pd.DataFrame(columns=frame.columns if layer != "database" else []), layer, "unavailable", message)


def joined(specs: list[dict], **kwargs) -> pd.DataFrame:
    return build_nft_consistency(make_frames(specs), settings(**kwargs)).set_index("entity_id", drop=False)


# -- tests -----------------------------------------------------------------------------------------
def test_outer_join_keeps_orphans_of_both_sides():
    specs = [
        nft(0),
        nft(1, in_db=False),
        nft(2, chain="missing"),
        nft(3, mint=None, signature=None, chain=None, status="IPFS_UPLOADED"),
    ]
    frame = joined(specs)
    assert list(frame.columns) == NFT_CONSISTENCY_COLUMNS
    assert frame.loc[pubkey(0), ["db_read", "chain_read", "entity_type"]].tolist() == ["ok", "ok", "nft"]
    assert frame.loc[pubkey(1), ["db_read", "chain_read"]].tolist() == ["missing", "ok"]
    assert pd.isna(frame.loc[pubkey(1), "op_id"])
    assert frame.loc[pubkey(2), ["db_read", "chain_read", "metadata_uri_source"]].tolist() == [
        "ok",
        "missing",
        "database",
    ]
    assert frame.loc["op-3", ["entity_type", "chain_read", "tx_read"]].tolist() == ["operation", "none", "none"]
    assert len(frame) == 4


def test_every_layer_read_status_of_a_healthy_row():
    row = joined([nft(0)]).iloc[0]
    reads = ["db_read", "chain_read", "tx_read", "metadata_read", "image_read", "source_read", "registry_read"]
    assert row[reads].tolist() == ["ok"] * 7
    assert (row["metadata_pin"], row["image_pin"], row["metadata_uri_source"]) == ("pinned", "pinned", "chain")
    assert (row["json_level"], row["json_error"], row["metadata_gateways_ok"]) == ("Bronze", None, 3)
    assert row["image_sha256"] == row["source_sha256"] == row["registry_hash"]


def test_record_level_unavailable_statuses_propagate():
    specs = [nft(0, chain="unavailable", tx="unavailable", meta_status="unavailable", pinned=False)]
    row = joined(specs).iloc[0]
    assert row[["chain_read", "tx_read", "metadata_read", "image_read"]].tolist() == ["unavailable"] * 4
    assert row["metadata_uri_source"] == "database" and not row["uri_is_truth"]
    assert row["metadata_pin"] == "not_pinned"


@pytest.mark.parametrize(
    "layer, frame_name, column, expected",
    [
        ("database", "db_minting_operations", "db_read", "unavailable"),
        ("solana", "solana_metadata_accounts", "chain_read", "unavailable"),
        ("solana", "solana_transaction_statuses", "tx_read", "unavailable"),
        ("ipfs", "ipfs_objects", "metadata_read", "unavailable"),
        ("pinata", "pinata_pins", "metadata_pin", "unavailable"),
        ("source_images", "source_images", "source_read", "unavailable"),
        ("database", "db_source_image_registry", "registry_read", "unavailable"),
    ],
)
def test_whole_layer_unavailable_is_unavailable_never_missing(layer, frame_name, column, expected):
    frames = make_frames([nft(0)])
    if frame_name == "db_minting_operations":
        frames[frame_name] = unavailable(frames[frame_name], layer)
        frames["solana_metadata_accounts"]["listed"] = True
    else:
        frames[frame_name] = unavailable(frames[frame_name], layer)
    frame = build_nft_consistency(frames, settings())
    assert frame[column].tolist() == [expected]
    assert frame.attrs["unreadable"][
        {
            "db_source_image_registry": "registry",
            "db_minting_operations": "database",
            "solana_metadata_accounts": "solana",
            "ipfs_objects": "ipfs",
            "pinata_pins": "pinata",
            "source_images": "source_images",
            "solana_transaction_statuses": "transactions",
        }[frame_name]
    ]


def test_unavailable_metadata_makes_the_image_unknown_not_absent():
    row = joined([nft(0, meta_status="unavailable")]).iloc[0]
    assert (row["image_read"], row["image_uri"]) == ("unavailable", None)
    missing = joined([nft(0, meta_status="missing")]).iloc[0]
    assert missing["image_read"] == "none"


def test_metadata_matched_by_canonical_reference_when_the_uri_was_not_listed():
    spec = nft(0)
    frames = make_frames([spec])
    v0 = spec["uri"].removeprefix("ipfs://")
    other_form = f"https://gateway.pinata.cloud/ipfs/{v0}"
    frames["solana_metadata_accounts"].loc[0, "uri"] = other_form
    row = build_nft_consistency(frames, settings()).iloc[0]
    assert (row["metadata_uri"], row["metadata_read"], row["metadata_cid"]) == (other_form, "ok", v0)


def test_uri_never_read_is_unavailable_with_its_cid():
    spec = nft(0)
    frames = make_frames([spec])
    frames["ipfs_objects"] = frames["ipfs_objects"].iloc[0:0]
    row = build_nft_consistency(frames, settings()).iloc[0]
    assert row["metadata_read"] == "unavailable"
    assert row["metadata_cid"] and row["metadata_gateways_unreadable"] == len(GATEWAYS)


def test_listing_problem_is_recorded():
    frames = make_frames([nft(0)])
    frames["solana_metadata_accounts"]["listing_status"] = "unavailable: rate limited"
    assert "rate limited" in build_nft_consistency(frames, settings()).attrs["unreadable"]["listing"]
    assert (
        "listing"
        in build_nft_consistency(make_frames([nft(0)]), settings(solana={"update_authority": ""})).attrs["unreadable"]
    )


def test_parquet_round_trip_gives_the_same_join(tmp_path):
    frames = make_frames([nft(0), nft(1, in_db=False), nft(2, meta_status="missing")])
    read_back = {}
    for name, frame in frames.items():
        frame.to_parquet(tmp_path / f"{name}.parquet")
        read_back[name] = pd.read_parquet(tmp_path / f"{name}.parquet")
    assert read_back["ipfs_objects"].attrs["read_status"]["status"] == "ok"
    before, after = build_nft_consistency(frames, settings()), build_nft_consistency(read_back, settings())
    columns = ["entity_id", "db_read", "chain_read", "metadata_read", "image_read", "metadata_pin", "json_level"]
    assert before[columns].astype(str).values.tolist() == after[columns].astype(str).values.tolist()


def test_vectorized_cid_keys_agree_with_the_parser_on_every_spelling():
    import random

    from reconcile_pipeline.checks.nft_join_keys import _slow_cid, _slow_ref, cid_key, cid_keys, ref_keys, v1_of_key
    from reconcile_pipeline.layers.multibase import encode_base58btc

    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    rng = random.Random(3)
    texts = ["Qm" + "".join(rng.choice(alphabet) for _ in range(44)) for _ in range(400)]  # most are no CID
    texts += [encode_base58btc(b"\x12\x20" + rng.randbytes(32)) for _ in range(50)]
    texts += [encode_base58btc(b"\x12\x20" + bytes(32)), encode_base58btc(b"\x12\x20" + b"\xff" * 32)]
    texts += [" " + texts[-1], "", None, "bafy", str(unixfs_cid(b"x").to_v1()), "QmX" * 20]
    for dtype in ("str", "object"):
        keys = cid_keys(pd.Series(texts, dtype=dtype))
        assert keys.tolist() == [_slow_cid(text) for text in texts]
    for text in texts:
        key = _slow_cid(text)
        assert (key is None) == (cid_key(text) is None) and (key is None or v1_of_key(key) == cid_key(text))
    uris = [f"ipfs://{t}" for t in texts if t] + [f"https://gateway.pinata.cloud/ipfs/{texts[-7]}/a?b", "IPFS://x"]
    assert ref_keys(pd.Series(uris, dtype="str")).tolist() == [_slow_ref(uri) for uri in uris]


def test_canonical_metadata_fast_path_matches_the_parser_on_hostile_variants():
    from reconcile_pipeline.checks.nft_join_metadata import metadata_fields, parse_metadata

    def doc(name: str = "AIW3 #0", level: str = "Bronze") -> str:
        return (
            f'{{"name":"{name}","symbol":"AIW3","description":"d","image":"ipfs://x",'
            f'"attributes":[{{"trait_type":"Level","value":"{level}"}}],'
            '"properties":{"files":[{"uri":"ipfs://x","type":"image/png"}],"category":"image"}}'
        )

    texts = [doc(), doc(name="  "), doc(name="\u3000"), doc(name="\u00e9"), doc(name='a\\"b'), doc(name="a\tb")]
    texts += [doc(level="\\ud800"), doc(level=""), doc() + " ", "[1]", "not json", None, "[" * 5000 + "]" * 5000]
    for cap in (100_000, 200):
        fields = metadata_fields(pd.Series(texts, dtype="str"), pd.Series(True, index=range(len(texts))), cap)
        for position, text in enumerate(texts):
            got = {key: None if pd.isna(value) else value for key, value in fields.iloc[position].items()}
            assert {**got, "json_parsed": bool(got["json_parsed"])} == parse_metadata(text, cap), text
