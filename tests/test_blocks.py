"""The VDC block format: canonical JSON, hashes, Merkle root, parsing, keys and values."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from reconcile_pipeline.layers import blocks as b
from reconcile_pipeline.layers.errors import DecodeError


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(i: int) -> str:
    return hashlib.sha256(f"tx{i}".encode()).hexdigest()


def tx(i: int, **extra: object) -> dict:
    base = {"txId": f"tx-{i}", "type": "payment", "timestamp": 1_700_000_000_000 + i, "assetId": f"a{i}"}
    return {**base, "userId": f"u{i}", "amount": 100 + i, **extra}


def sample_block(n_txs: int = 3) -> dict:
    return b.build_block(7, 1_700_000_123_456, "ab" * 32, [tx(i) for i in range(n_txs)])


# -- canonical JSON and hashes ----------------------------------------------------------------
def test_canonical_json_sorts_keys_without_spaces_and_keeps_unicode() -> None:
    assert b.canonical_json({"b": 1, "a": [1, {"d": "é", "c": None}]}) == '{"a":[1,{"c":null,"d":"é"}],"b":1}'.encode()


def test_tx_hash_is_sha256_of_canonical_json() -> None:
    t = tx(1)
    assert b.tx_hash(t) == hashlib.sha256(json.dumps(t, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_merkle_root_vectors() -> None:
    h = [bytes.fromhex(leaf(i)) for i in range(5)]
    assert b.merkle_root([]) == hashlib.sha256(b"").hexdigest()
    assert b.merkle_root([leaf(0)]) == leaf(0)
    assert b.merkle_root([leaf(0), leaf(1)]) == sha(h[0] + h[1]).hex()
    assert b.merkle_root([leaf(i) for i in range(3)]) == sha(sha(h[0] + h[1]) + sha(h[2] + h[2])).hex()
    level1 = [sha(h[0] + h[1]), sha(h[2] + h[3]), sha(h[4] + h[4])]
    level2 = [sha(level1[0] + level1[1]), sha(level1[2] + level1[2])]
    assert b.merkle_root([leaf(i) for i in range(5)]) == sha(level2[0] + level2[1]).hex()


def test_build_block_computes_merkle_root_hash_and_signature() -> None:
    block = sample_block()
    assert block["merkleRoot"] == b.merkle_root([b.tx_hash(t) for t in block["transactions"]])
    hashed = {k: block[k] for k in b.DEFAULT_HASH_FIELDS}
    assert block["hash"] == hashlib.sha256(b.canonical_json(hashed)).hexdigest()
    assert block["blockSignature"]["algorithm"] == "Dilithium-2"
    assert set(block) == {*b.DEFAULT_HASH_FIELDS, "hash", "blockSignature"}


@pytest.mark.parametrize(
    "field, value",
    [
        ("blockNumber", 8),
        ("timestamp", 1),
        ("previousHash", "cd" * 32),
        ("transactions", [tx(0), tx(1)]),
        ("merkleRoot", "ef" * 32),
    ],
)
def test_hash_changes_with_each_hashed_field(field: str, value: object) -> None:
    block = sample_block()
    changed = {**block, field: value}
    assert b.block_hash(changed) != b.block_hash(block) == block["hash"]


def test_hash_changes_when_a_transaction_field_changes() -> None:
    block = sample_block()
    changed = copy.deepcopy(block)
    changed["transactions"][1]["amount"] += 1
    assert b.block_hash(changed) != block["hash"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("blockSignature", {"algorithm": "Dilithium-2", "publicKey": "x", "signature": "y"}),
        ("ipfsHash", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"),
        ("ipfsGatewayUrl", "https://gateway.pinata.cloud/ipfs/Qm..."),
        ("hash", "00" * 32),
    ],
)
def test_hash_ignores_signature_ipfs_fields_and_itself(field: str, value: object) -> None:
    block = sample_block()
    assert b.block_hash({**block, field: value}) == block["hash"]


def test_hash_fields_are_configurable() -> None:
    block = sample_block()
    expected = hashlib.sha256(b.canonical_json({"blockNumber": 7, "previousHash": "ab" * 32})).hexdigest()
    assert b.block_hash(block, ("blockNumber", "previousHash", "notThere")) == expected


def test_block_core_and_core_sha256_drop_ipfs_fields() -> None:
    block = sample_block()
    kv_copy = {**block, "ipfsHash": "Qm1", "ipfsGatewayUrl": "https://gw/ipfs/Qm1"}
    assert b.block_core(kv_copy) == block
    assert b.core_sha256(kv_copy) == b.core_sha256(block) == hashlib.sha256(b.canonical_json(block)).hexdigest()
    assert b.core_sha256({**block, "timestamp": 0}) != b.core_sha256(block)


def test_chain_of_10000_blocks_links() -> None:
    chain, previous = [], b.GENESIS_PREVIOUS_HASH
    for n in range(10_000):
        block = b.build_block(n, 1_700_000_000_000 + n * 60_000, previous, [tx(n), tx(n + 1)])
        chain.append(block)
        previous = block["hash"]
    assert chain[0]["previousHash"] == "0" * 64
    assert all(chain[i]["previousHash"] == chain[i - 1]["hash"] for i in range(1, len(chain)))
    assert len({block["hash"] for block in chain}) == 10_000
    assert b.parse_block(b.canonical_json(chain[-1]), where="vdc:block:9999") == chain[-1]


# -- parse_block ------------------------------------------------------------------------------
def raw(block: object) -> bytes:
    return json.dumps(block).encode()


def test_parse_block_accepts_a_valid_block() -> None:
    block = {**sample_block(), "ipfsHash": "Qm1"}
    assert b.parse_block(raw(block), where="vdc:block:7") == block


@pytest.mark.parametrize("field", ["blockNumber", "timestamp", "previousHash", "hash", "transactions", "merkleRoot"])
def test_parse_block_names_a_missing_field(field: str) -> None:
    block = sample_block()
    del block[field]
    with pytest.raises(DecodeError) as info:
        b.parse_block(raw(block), where="blocks/7.json")
    assert info.value.layer == "blockstore" and info.value.where == "blocks/7.json"
    assert f"'{field}' is missing" in str(info.value)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("blockNumber", -1, "'blockNumber' must be >= 0, got -1"),
        ("blockNumber", "7", "'blockNumber' must be an integer, got str"),
        ("blockNumber", True, "'blockNumber' must be an integer, got bool"),
        ("timestamp", 1.5, "'timestamp' must be an integer, got float"),
        ("previousHash", "xyz", "'previousHash' must be 64 hex characters, got 'xyz'"),
        ("hash", "ab" * 31, "'hash' must be 64 hex characters"),
        ("hash", None, "'hash' must be 64 hex characters, got 'None'"),
        ("merkleRoot", "g" * 64, "'merkleRoot' must be 64 hex characters"),
        ("transactions", {"txId": "a"}, "'transactions' must be a list, got dict"),
        ("transactions", [tx(0), 5], "transactions[1] must be an object, got int"),
        ("transactions", [{"type": "payment"}], "transactions[0].txId must be a non-empty string"),
        ("transactions", [{"txId": 12}], "transactions[0].txId must be a non-empty string"),
    ],
)
def test_parse_block_names_a_bad_field(field: str, value: object, message: str) -> None:
    block = {**sample_block(), field: value}
    with pytest.raises(DecodeError, match=r"\[blockstore\] block field|\[blockstore\] transactions") as info:
        b.parse_block(raw(block), where="vdc:block:7")
    assert message in str(info.value)
    assert str(info.value).endswith("(at vdc:block:7)")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"", "not valid JSON"),
    ],
)
def test_parse_block_rejects_non_blocks(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        b.parse_block(data, where="x")


def test_parse_block_rejects_oversized_input() -> None:
    with pytest.raises(DecodeError, match="over the 8388608-byte cap"):
        b.parse_block(b" " * (8 * 1024 * 1024 + 1), where="x")


def nested_block(levels: int) -> bytes:
    """A valid block whose first tx carries ``levels`` nested lists (block=1, list=2, tx=3)."""
    block = sample_block(1)
    memo: object = 1
    for _ in range(levels):
        memo = [memo]
    block["transactions"][0]["memo"] = memo
    return raw(block)


def test_parse_block_depth_limit_is_twenty_levels() -> None:
    assert b.parse_block(nested_block(17), where="x")
    with pytest.raises(DecodeError, match="nests deeper than 20 levels"):
        b.parse_block(nested_block(18), where="x")


def test_parse_block_rejects_deep_nesting_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[object] = []
    monkeypatch.setattr(b.json, "loads", lambda *args, **kwargs: decoded.append(args))
    for data in (b"[" * 1_000_000 + b"]" * 1_000_000, b'{"a":' * 500_000 + b"1" + b"}" * 500_000):
        with pytest.raises(DecodeError, match="nests deeper"):
            b.parse_block(data, where="x")
    assert decoded == []  # refused by the bracket scan, never handed to the JSON decoder


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    block = sample_block(1)
    block["transactions"][0]["memo"] = '\\"[[[[' + "[" * 100 + '{{{"'
    assert b.parse_block(raw(block), where="x") == block


# -- keys and values --------------------------------------------------------------------------
def test_key_helpers_and_parsers_round_trip() -> None:
    assert b.block_key(12) == "vdc:block:12" and b.parse_block_key("vdc:block:12") == 12
    assert b.tx_key("t-1") == "vdc:tx:t-1" and b.parse_tx_key("vdc:tx:t-1") == "t-1"
    assert b.r2_block_key(3) == "blocks/3.json" and b.parse_r2_block_key("blocks/3.json") == 3
    assert b.r2_pending_key("t-9") == "pending/t-9.json" and b.parse_r2_pending_key("pending/t-9.json") == "t-9"
    assert (b.LATEST_KEY, b.PENDING_COUNT_KEY) == ("vdc:latest", "vdc:pending:count")


@pytest.mark.parametrize(
    "parser, key",
    [
        (b.parse_block_key, "vdc:block:007"),
        (b.parse_block_key, "vdc:block:-1"),
        (b.parse_block_key, "vdc:block:"),
        (b.parse_block_key, "vdc:latest"),
        (b.parse_tx_key, "vdc:tx:"),
        (b.parse_tx_key, "vdc:block:1"),
        (b.parse_r2_block_key, "blocks/1.txt"),
        (b.parse_r2_block_key, "blocks/a.json"),
        (b.parse_r2_pending_key, "pending/a/b.json"),
        (b.parse_r2_pending_key, "pending/.json"),
    ],
)
def test_key_parsers_reject_other_keys(parser, key: str) -> None:  # noqa: ANN001
    assert parser(key) is None


def test_value_shapes() -> None:
    block = {**sample_block(2), "ipfsHash": "QmX"}
    assert b.latest_value(block) == {
        "blockNumber": 7,
        "hash": block["hash"],
        "ipfsHash": "QmX",
        "timestamp": block["timestamp"],
    }
    index = b.tx_index_values(block)
    assert index == {
        "vdc:tx:tx-0": {"blockNumber": 7, "blockHash": block["hash"], "timestamp": block["timestamp"]},
        "vdc:tx:tx-1": {"blockNumber": 7, "blockHash": block["hash"], "timestamp": block["timestamp"]},
    }
    assert b.pending_value("t1", 5, b"\x00\x01") == {
        "txId": "t1",
        "timestamp": 5,
        "encrypted": True,
        "algorithm": "Kyber-768",
        "ciphertext": "AAE=",
    }


def test_parse_pending_count() -> None:
    assert b.parse_pending_count(b"0") == 0 and b.parse_pending_count(b"12\n") == 12
    for bad in (b"-1", b"abc", b"", b"1.5", b"01"):
        with pytest.raises(DecodeError, match="pending count must be"):
            b.parse_pending_count(bad)
