"""CHAT records (seed 003): the hash chain, RFC 6962 Merkle proofs, the backup-node API (client against the
local node, same wire format) and the pure checks of chains and backup nodes."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from reconcile_pipeline.checks.backups import check_completeness, check_currency, check_proofs, judged_through
from reconcile_pipeline.checks.hash_chain import verify_chain
from reconcile_pipeline.layers.backup_node import BackupNodeClient
from reconcile_pipeline.layers.chat_records import (
    MerkleTree,
    build_chain,
    chain_hash,
    completeness_digest,
    merkle_leaf,
    verify_proof,
)
from reconcile_pipeline.layers.errors import DecodeError, LayerServerError
from reconcile_pipeline.layers.http import RetryPolicy
from reconcile_pipeline.sandbox.backup_node import BackupNodeServer

FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02)


def records(n: int) -> list:
    return build_chain((f"tx-{i:05d}", {"from": f"w{i % 7}", "to": f"w{i % 5}", "amount": i}) for i in range(n))


# -- the chain ----------------------------------------------------------------------------------
def test_chain_follows_seed_003() -> None:
    chain = records(3)
    assert chain[0].hash == hashlib.sha256(chain[0].data.encode()).hexdigest() and chain[0].prev_hash == ""
    assert chain[2].hash == hashlib.sha256((chain[1].hash + chain[2].data).encode()).hexdigest()
    assert verify_chain(chain).intact and verify_chain(chain).checked == 3


def test_a_tampered_record_is_one_break_and_the_rest_are_affected_once() -> None:
    chain = records(10)
    chain[4] = dataclasses.replace(chain[4], data=chain[4].data.replace('"amount":4', '"amount":40'))
    verdict = verify_chain(chain)
    assert [(b.seq, b.reason) for b in verdict.breaks] == [(5, "hash differs from SHA-256(prev_hash + data)")]
    assert verdict.breaks[0].affected == tuple(r.id for r in chain[5:])


def test_a_rewritten_hash_breaks_the_next_link_and_two_breaks_are_two() -> None:
    chain = records(12)
    forged = chain_hash(chain[2].prev_hash, chain[2].data.replace("w2", "w9"))
    chain[2] = dataclasses.replace(chain[2], data=chain[2].data.replace("w2", "w9"), hash=forged)
    del chain[8]  # a gap further on
    verdict = verify_chain(chain)
    assert [b.seq for b in verdict.breaks] == [4, 10]
    assert "previous record's hash" in verdict.breaks[0].reason and "gap" in verdict.breaks[1].reason
    assert verdict.breaks[0].affected == tuple(r.id for r in chain[4:8])
    assert verdict.breaks[1].affected == tuple(r.id for r in chain[9:])


def test_a_continuation_is_verified_from_the_last_verified_record() -> None:
    chain = records(6)
    assert verify_chain(chain[3:], previous=chain[2]).intact
    assert not verify_chain(chain[4:], previous=chain[2]).intact


# -- Merkle (RFC 6962) ----------------------------------------------------------------------------
def rfc6962_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_root(leaves[:k]) + rfc6962_root(leaves[k:])).digest()


def test_merkle_tree_is_rfc6962_for_every_size_and_every_proof_verifies() -> None:
    assert MerkleTree([hashlib.sha256(b"\x00").digest()]).root.hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"  # RFC 6962 test vector: one empty leaf
    )
    for n in range(1, 41):
        leaves = [merkle_leaf(hashlib.sha256(bytes([i])).hexdigest()) for i in range(n)]
        tree = MerkleTree(leaves)
        assert tree.root == rfc6962_root(leaves), n
        assert all(verify_proof(leaves[i], tree.proof(i), tree.root) for i in range(n))
        assert n == 1 or not verify_proof(leaves[0], tree.proof(1), tree.root)


# -- the backup-node API --------------------------------------------------------------------------
@pytest.fixture
def node() -> Iterator[BackupNodeServer]:
    with BackupNodeServer("backup-1", records(2500)) as server:
        yield server


def ask(server: BackupNodeServer, call):  # noqa: ANN001, ANN201
    async def main():  # noqa: ANN202
        async with BackupNodeClient("backup-1", server.url, retry=FAST) as client:
            return await call(client)

    return asyncio.run(main())


def primary_rows(n: int = 2500) -> list[tuple[str, int, str]]:
    return [(r.id, r.seq, r.hash) for r in records(n)]


async def listing(client: BackupNodeClient) -> list:
    return [row async for page in client.record_pages() for row in page]


def test_a_faithful_node_passes_every_check(node: BackupNodeServer) -> None:
    primary, now = primary_rows(), datetime.now(UTC)
    status = ask(node, lambda c: c.status())
    through = judged_through(status, primary)
    assert through == 2500 and status.records == 2500
    assert check_currency("backup-1", status, now, 3600) == []
    assert check_completeness("backup-1", ask(node, lambda c: c.digest(through)), primary, through) == []
    sample = [primary[i][0] for i in (0, 1, 777, 2499)]
    assert check_proofs("backup-1", ask(node, lambda c: c.proofs(sample, through)), primary, sample) == []
    assert ask(node, listing) == primary


def test_missing_records_are_located(node: BackupNodeServer) -> None:
    primary = primary_rows()
    node.forget({"tx-00010", "tx-01234"})
    status = ask(node, lambda c: c.status())
    through = judged_through(status, primary)
    (verdict,) = check_completeness("backup-1", ask(node, lambda c: c.digest(through)), primary, through,
                                    listing=ask(node, listing))  # fmt: skip
    assert verdict.problem == "incomplete" and verdict.details["missing_ids"] == ["tx-00010", "tx-01234"]
    assert verdict.details["foreign_ids"] == [] == verdict.details["different_ids"]


def test_a_node_that_is_merely_behind_is_complete_through_its_own_sync(node: BackupNodeServer) -> None:
    primary = primary_rows(2600)  # the primary wrote 100 more since the node's sync
    status = ask(node, lambda c: c.status())
    through = judged_through(status, primary)
    assert through == 2500 and check_completeness("backup-1", ask(node, lambda c: c.digest(through)), primary,
                                                  through) == []  # fmt: skip


def test_a_stale_node(node: BackupNodeServer) -> None:
    node.last_sync = datetime.now(UTC) - timedelta(hours=3)
    (verdict,) = check_currency("backup-1", ask(node, lambda c: c.status()), datetime.now(UTC), 3600)
    assert verdict.problem == "stale" and verdict.details["age_s"] >= 3 * 3600 - 5


def test_corrupt_proofs_and_unknown_records_are_invalid(node: BackupNodeServer) -> None:
    primary = primary_rows()
    node.corrupt_proofs = True
    sample = ["tx-00003", "tx-00999"]
    (verdict,) = check_proofs("backup-1", ask(node, lambda c: c.proofs(sample, 2500)), primary, sample)
    assert set(verdict.details["failing"]) == set(sample)
    node.corrupt_proofs = False
    node.forget({"tx-00999"})
    (verdict,) = check_proofs("backup-1", ask(node, lambda c: c.proofs(sample, 2500)), primary, sample)
    assert set(verdict.details["failing"]) == {"tx-00003", "tx-00999"}  # index shifted, root differs; not held


def test_an_unreadable_node_is_unavailable_and_a_malformed_answer_a_decode_error(node: BackupNodeServer) -> None:
    node.faults.arm("error")
    with pytest.raises(LayerServerError):
        ask(node, lambda c: c.status())
    node.faults.reset()
    node.sync(records(3))
    node.rows[0] = ("tx-00000", 1, "not-hex")
    with pytest.raises(DecodeError):
        ask(node, listing)


def test_completeness_digest_is_order_and_content_sensitive() -> None:
    hashes = [r[2] for r in primary_rows(5)]
    assert completeness_digest(hashes) != completeness_digest(hashes[::-1])
    assert completeness_digest(hashes) == hashlib.sha256("".join(h + "\n" for h in hashes).encode()).hexdigest()
