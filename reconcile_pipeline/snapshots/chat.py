"""Read the CHAT record set (seed 003): the primary's chain, each replica's diff, each backup node's answers.

No Dagster, no judging: :func:`read_chat` returns a :class:`ChatSnapshot` in which every copy that could not
be read carries its error (so its checks are unknown, never failed). Reads of different stores run at once.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from sqlalchemy import create_engine

from ..layers.backup_node import BackupNodeClient, NodeStatus, ProofAnswer
from ..layers.chat_records import ChainRecord
from ..layers.errors import LayerError
from ..layers.http import RetryPolicy
from ..layers.replica_diff import SqlBackend
from ..layers.replicas import CHAT_RECORDS, ReplicaReport, compare_replica

PROOF_SAMPLE = 16


@dataclass
class NodeRead:
    name: str
    status: NodeStatus | None = None
    digest: tuple[str, int] | None = None
    listing: list[tuple[str, int, str]] | None = None
    proofs: ProofAnswer | None = None
    sampled: list[str] = field(default_factory=list)
    error: LayerError | None = None


@dataclass
class ChatSnapshot:
    chain: list[ChainRecord] = field(default_factory=list)
    primary_error: LayerError | None = None
    replicas: list[ReplicaReport] = field(default_factory=list)
    nodes: list[NodeRead] = field(default_factory=list)

    @property
    def primary_rows(self) -> list[tuple[str, int, str]]:
        return [(r.id, r.seq, r.hash) for r in self.chain]


def _read_primary(primary: SqlBackend) -> list[ChainRecord]:
    rows = primary.query('SELECT id, seq, data, prev_hash, hash FROM "chat_records" ORDER BY seq')
    return [ChainRecord(str(i), int(s), str(d), str(p), str(h)) for i, s, d, p, h in rows]


async def _read_node(name: str, url: str, primary: list[tuple[str, int, str]], *, listing: bool, seed: int,
                     retry: RetryPolicy) -> NodeRead:  # fmt: skip
    read = NodeRead(name)
    try:
        async with BackupNodeClient(name, url, retry=retry) as client:
            read.status = await client.status()
            through = min(read.status.through_seq, primary[-1][1] if primary else 0)
            read.digest = await client.digest(through)
            ids = [row[0] for row in primary if row[1] <= through]
            read.sampled = sorted(random.Random(seed).sample(ids, min(PROOF_SAMPLE, len(ids))))
            if read.sampled:
                read.proofs = await client.proofs(read.sampled, through)
            if listing:
                read.listing = [row async for page in client.record_pages() for row in page]
    except LayerError as exc:
        read.error = exc
    return read


async def _read_nodes(nodes: dict[str, str], primary: list, *, listing: bool, seed: int, retry: RetryPolicy) -> list:
    return list(await asyncio.gather(*(_read_node(name, url, primary, listing=listing, seed=seed, retry=retry)
                                       for name, url in nodes.items())))  # fmt: skip


def read_chat(
    primary_url: str,
    replicas: dict[str, str],
    nodes: dict[str, str],
    *,
    listing: bool = True,
    seed: int = 0,
    retry: RetryPolicy | None = None,
) -> ChatSnapshot:
    """Read everything the CHAT checks need. ``listing``: also read each node's full listing (the deep cadence),
    which locates the records an incomplete node lacks."""
    snapshot = ChatSnapshot()
    primary = SqlBackend(create_engine(primary_url), CHAT_RECORDS, layer="chat_primary")
    try:
        snapshot.chain = _read_primary(primary)
    except LayerError as exc:
        snapshot.primary_error = exc
        return snapshot
    for name, url in replicas.items():
        snapshot.replicas.append(compare_replica(name, primary, SqlBackend(create_engine(url), CHAT_RECORDS,
                                                                           layer=f"replica:{name}")))  # fmt: skip
    retry = retry or RetryPolicy(attempts=2, base_delay_s=0.1, max_delay_s=1.0)
    snapshot.nodes = asyncio.run(_read_nodes(nodes, snapshot.primary_rows, listing=listing, seed=seed, retry=retry))
    return snapshot
