"""CHAT records (seed 003): the hash chain, the completeness digest and Merkle proofs over record hashes.

- Chain: ``H_1 = SHA-256(data_1)``, ``H_n = SHA-256(H_{n-1} + data_n)`` with ``H_{n-1}`` as its 64 lowercase hex
  digits and ``data_n`` the record's canonical JSON (sorted keys, no spaces, UTF-8), both as text.
- Completeness digest of a set of records: ``SHA-256`` over their hashes (hex text) in chain order, each
  followed by a newline; a backup node's digest through sequence ``S`` must equal the primary's.
- Merkle tree over the record hashes in chain order, as RFC 6962 (Certificate Transparency): a leaf is
  ``SHA-256(0x00 || hash bytes)``, a node ``SHA-256(0x01 || left || right)``, the largest power of two
  splits a level; a proof is the audit path from the leaf to the root.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

GENESIS = ""  # the "previous hash" of the first record


def canonical_data(data: object) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(previous_hex: str, data: str) -> str:
    """``H_n`` from ``H_{n-1}`` (``""`` for the first record) and the record's canonical data."""
    return hashlib.sha256((previous_hex + data).encode()).hexdigest()


def completeness_digest(hashes: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for value in hashes:
        digest.update(value.encode() + b"\n")
    return digest.hexdigest()


def merkle_leaf(record_hash_hex: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(record_hash_hex)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleTree:
    """The tree's levels, built once: an odd node at the end of a level moves up unchanged, which gives the
    same root and paths as RFC 6962's split at the largest power of two."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            above = [_node(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            if len(below) % 2:
                above.append(below[-1])
            self.levels.append(above)

    @property
    def root(self) -> bytes:
        return self.levels[-1][0] if self.levels[0] else hashlib.sha256(b"").digest()

    def proof(self, index: int) -> list[ProofStep]:
        """The audit path of leaf ``index``, from the leaf up."""
        if not 0 <= index < len(self.levels[0]):
            raise IndexError(index)
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(ProofStep("left" if sibling < index else "right", level[sibling]))
            index //= 2
        return path


@dataclass(frozen=True)
class ProofStep:
    side: str  # "left" | "right": where the sibling sits
    hash: bytes


def verify_proof(leaf: bytes, path: Iterable[ProofStep], root: bytes) -> bool:
    current = leaf
    for step in path:
        current = _node(step.hash, current) if step.side == "left" else _node(current, step.hash)
    return current == root


@dataclass(frozen=True)
class ChainRecord:
    id: str
    seq: int
    data: str  # canonical JSON
    prev_hash: str
    hash: str


def build_chain(items: Iterable[tuple[str, object]], start_seq: int = 1) -> list[ChainRecord]:
    """Records chained from ``(id, data)`` pairs, as the platform writes them (for the world and tests)."""
    records, previous = [], GENESIS
    for offset, (record_id, data) in enumerate(items):
        text = canonical_data(data)
        current = chain_hash(previous, text)
        records.append(ChainRecord(record_id, start_seq + offset, text, previous, current))
        previous = current
    return records
