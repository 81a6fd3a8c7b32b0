"""The VDC block format (seed 004): canonical JSON, hashes, Merkle root, parsing and storage keys.

Pure functions, no I/O. The documented canonical form:

- ``canonical_json(obj)``: ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, UTF-8.
- ``tx_hash(tx)`` = SHA-256 hex of the canonical JSON of the whole transaction object.
- ``merkleRoot``: leaves are the tx hashes (32 raw bytes each, from hex); each level hashes
  ``sha256(left + right)`` pairwise, the last node of an odd level is paired with itself; no
  transactions -> ``sha256(b"")``; one transaction -> its hash.
- ``hash`` = SHA-256 hex of the canonical JSON of ``{k: block[k] for k in hash fields}``, the hash
  fields being ``blockNumber, timestamp, previousHash, transactions, merkleRoot`` by default
  (configurable: ``settings.blockstore.hash_fields``). ``blockSignature`` (Dilithium-2) and the
  IPFS fields are not hashed.

A block: ``{"blockNumber": int >= 0, "timestamp": ms, "previousHash": 64-hex (genesis: "0"*64),
"hash": 64-hex, "transactions": [{"txId", "type", "timestamp", "assetId", "userId", "amount"}],
"merkleRoot": 64-hex, "blockSignature": {"algorithm": "Dilithium-2", "publicKey", "signature"}}``.
R2 (``blocks/N.json``) and IPFS hold the *core* (the block without ``ipfsHash``/``ipfsGatewayUrl``);
KV (``vdc:block:N``) holds the core plus those two fields. Tiers compare by :func:`core_sha256`.

Other KV values: ``vdc:latest`` = ``{"blockNumber", "hash", "ipfsHash", "timestamp"}``;
``vdc:tx:ID`` = ``{"blockNumber", "blockHash", "timestamp"}``; ``vdc:pending:count`` = a decimal
string. R2 ``pending/ID.json`` = ``{"txId", "timestamp", "encrypted": true, "algorithm":
"Kyber-768", "ciphertext": base64}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from ..jsonsafe import nesting_depth_exceeds
from .errors import DecodeError

DEFAULT_HASH_FIELDS = ("blockNumber", "timestamp", "previousHash", "transactions", "merkleRoot")
GENESIS_PREVIOUS_HASH = "0" * 64
IPFS_FIELDS = ("ipfsHash", "ipfsGatewayUrl")
SIGNATURE_ALGORITHM = "Dilithium-2"
PENDING_ALGORITHM = "Kyber-768"
MAX_BLOCK_BYTES = 8 * 1024 * 1024
MAX_BLOCK_DEPTH = 20

LATEST_KEY = "vdc:latest"
PENDING_COUNT_KEY = "vdc:pending:count"
BLOCK_KEY_PREFIX = "vdc:block:"
TX_KEY_PREFIX = "vdc:tx:"
R2_BLOCK_PREFIX = "blocks/"
R2_PENDING_PREFIX = "pending/"

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_NUMBER = r"(0|[1-9][0-9]*)"
_FAKE_PUBLIC_KEY = base64.b64encode(hashlib.shake_256(b"vdc-system-master-key").digest(1312)).decode()


# -- hashing -------------------------------------------------------------------------------
def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def block_hash(block: dict, fields: Sequence[str] = DEFAULT_HASH_FIELDS) -> str:
    return hashlib.sha256(canonical_json({k: block[k] for k in fields if k in block})).hexdigest()


def tx_hash(tx: dict) -> str:
    return hashlib.sha256(canonical_json(tx)).hexdigest()


def merkle_root(tx_hashes: Sequence[str]) -> str:
    if not tx_hashes:
        return hashlib.sha256(b"").hexdigest()
    level = [bytes.fromhex(h) for h in tx_hashes]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0].hex()


def block_core(block: dict) -> dict:
    """The block without the IPFS fields: what R2 and IPFS hold."""
    return {k: v for k, v in block.items() if k not in IPFS_FIELDS}


def core_sha256(block: dict) -> str:
    return hashlib.sha256(canonical_json(block_core(block))).hexdigest()


# -- building ------------------------------------------------------------------------------
def fake_signature(block_hash_hex: str) -> dict:
    """A deterministic stand-in for a Dilithium-2 signature (real sizes, fake bytes)."""
    signature = hashlib.shake_256(b"fake-dilithium2:" + block_hash_hex.encode()).digest(2420)
    return {
        "algorithm": SIGNATURE_ALGORITHM,
        "publicKey": _FAKE_PUBLIC_KEY,
        "signature": base64.b64encode(signature).decode(),
    }


def build_block(
    number: int,
    timestamp: int,
    previous_hash: str,
    transactions: list[dict],
    signature: dict | None = None,
    *,
    fields: Sequence[str] = DEFAULT_HASH_FIELDS,
) -> dict:
    """A block with its merkleRoot, hash and (unless given) a fake blockSignature."""
    block = {
        "blockNumber": number,
        "timestamp": timestamp,
        "previousHash": previous_hash,
        "hash": "",
        "transactions": transactions,
        "merkleRoot": merkle_root([tx_hash(tx) for tx in transactions]),
    }
    block["hash"] = block_hash(block, fields)
    block["blockSignature"] = signature if signature is not None else fake_signature(block["hash"])
    return block


# -- parsing -------------------------------------------------------------------------------
def _fail(message: str, where: str) -> DecodeError:
    return DecodeError(message, layer="blockstore", where=where)


def _require_int(block: dict, name: str, where: str, minimum: int | None = None) -> None:
    value = block.get(name)
    if name not in block:
        raise _fail(f"block field '{name}' is missing", where)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(f"block field '{name}' must be an integer, got {type(value).__name__}", where)
    if minimum is not None and value < minimum:
        raise _fail(f"block field '{name}' must be >= {minimum}, got {value}", where)


def _require_hex64(block: dict, name: str, where: str) -> None:
    if name not in block:
        raise _fail(f"block field '{name}' is missing", where)
    value = block[name]
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _fail(f"block field '{name}' must be 64 hex characters, got {str(value)[:80]!r}", where)


def _require_transactions(block: dict, where: str) -> None:
    if "transactions" not in block:
        raise _fail("block field 'transactions' is missing", where)
    txs = block["transactions"]
    if not isinstance(txs, list):
        raise _fail(f"block field 'transactions' must be a list, got {type(txs).__name__}", where)
    for index, tx in enumerate(txs):
        if not isinstance(tx, dict):
            raise _fail(f"transactions[{index}] must be an object, got {type(tx).__name__}", where)
        if not isinstance(tx.get("txId"), str) or not tx["txId"]:
            raise _fail(f"transactions[{index}].txId must be a non-empty string", where)


def json_object(raw: bytes | None) -> dict | None:
    """``raw`` as a JSON object, leniently: None when absent, not JSON, or not an object (no DecodeError)."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def listed_tx_ids(block: dict) -> list[str]:
    """The txIds of a block's transactions, leniently: what :func:`parse_block` would reject is skipped."""
    txs = block.get("transactions")
    if not isinstance(txs, list):
        return []
    return [tx["txId"] for tx in txs if isinstance(tx, dict) and isinstance(tx.get("txId"), str)]


def parse_block(raw: bytes, *, where: str) -> dict:
    """Decode and validate one stored block; raise DecodeError naming the bad field and ``where``."""
    if len(raw) > MAX_BLOCK_BYTES:
        raise _fail(f"block is {len(raw)} bytes, over the {MAX_BLOCK_BYTES}-byte cap", where)
    if nesting_depth_exceeds(raw, MAX_BLOCK_DEPTH):
        raise _fail(f"block JSON nests deeper than {MAX_BLOCK_DEPTH} levels", where)
    try:
        block = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _fail("block is not valid UTF-8", where) from None
    except (ValueError, RecursionError) as exc:
        raise _fail(f"block is not valid JSON ({str(exc)[:120]})", where) from None
    if not isinstance(block, dict):
        raise _fail(f"block must be a JSON object, got {type(block).__name__}", where)
    try:
        canonical_json(block)  # what hashing does: a lone surrogate ("\ud800") cannot be encoded
    except UnicodeEncodeError:
        raise _fail("block holds a lone surrogate (an unpaired \\ud800-\\udfff escape)", where) from None
    _require_int(block, "blockNumber", where, minimum=0)
    _require_int(block, "timestamp", where)
    _require_hex64(block, "previousHash", where)
    _require_hex64(block, "hash", where)
    _require_transactions(block, where)
    _require_hex64(block, "merkleRoot", where)
    return block


# -- keys ----------------------------------------------------------------------------------
def block_key(n: int) -> str:
    return f"{BLOCK_KEY_PREFIX}{n}"


def tx_key(tx_id: str) -> str:
    return f"{TX_KEY_PREFIX}{tx_id}"


def r2_block_key(n: int) -> str:
    return f"{R2_BLOCK_PREFIX}{n}.json"


def r2_pending_key(tx_id: str) -> str:
    return f"{R2_PENDING_PREFIX}{tx_id}.json"


_BLOCK_KEY = re.compile(re.escape(BLOCK_KEY_PREFIX) + _NUMBER)
_R2_BLOCK_KEY = re.compile(re.escape(R2_BLOCK_PREFIX) + _NUMBER + r"\.json")
_R2_PENDING_KEY = re.compile(re.escape(R2_PENDING_PREFIX) + r"([^/]+)\.json")


def parse_block_key(key: str) -> int | None:
    """``vdc:block:N`` -> N; None for anything else (including non-canonical numbers like ``007``)."""
    match = _BLOCK_KEY.fullmatch(key)
    return int(match.group(1)) if match else None


def parse_tx_key(key: str) -> str | None:
    tx_id = key[len(TX_KEY_PREFIX) :] if key.startswith(TX_KEY_PREFIX) else ""
    return tx_id or None


def parse_r2_block_key(key: str) -> int | None:
    match = _R2_BLOCK_KEY.fullmatch(key)
    return int(match.group(1)) if match else None


def parse_r2_pending_key(key: str) -> str | None:
    match = _R2_PENDING_KEY.fullmatch(key)
    return match.group(1) if match else None


# -- other values --------------------------------------------------------------------------
def latest_value(block: dict) -> dict:
    return {
        "blockNumber": block["blockNumber"],
        "hash": block["hash"],
        "ipfsHash": block.get("ipfsHash"),
        "timestamp": block["timestamp"],
    }


def tx_index_values(block: dict) -> dict[str, dict]:
    """``{vdc:tx:ID: {"blockNumber", "blockHash", "timestamp"}}`` for every tx of a block."""
    value = {"blockNumber": block["blockNumber"], "blockHash": block["hash"], "timestamp": block["timestamp"]}
    return {tx_key(tx["txId"]): dict(value) for tx in block["transactions"]}


def pending_value(tx_id: str, timestamp: int, ciphertext: bytes) -> dict:
    return {
        "txId": tx_id,
        "timestamp": timestamp,
        "encrypted": True,
        "algorithm": PENDING_ALGORITHM,
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }


def parse_pending_count(raw: bytes, *, where: str = PENDING_COUNT_KEY) -> int:
    text = raw.decode("utf-8", "replace").strip()
    if not re.fullmatch(_NUMBER, text):
        raise _fail(f"pending count must be a non-negative decimal string, got {text[:40]!r}", where)
    return int(text)
