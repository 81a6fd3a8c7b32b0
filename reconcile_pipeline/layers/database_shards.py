"""Sharded reads of ``minting_operations`` for the deep scan (:mod:`..shards`), no Dagster.

:func:`read_shard` streams the table in chunks (``yield_per``; a server-side cursor on PostgreSQL) and keeps
only the shard's rows, so memory follows the shard, not the table. :func:`duplicate_group_anchors` finds
the wallet-and-level groups with more than one minted operation (one ``GROUP BY``): each group goes whole
to the shard of its anchor (its lowest op id), so DB_DUPLICATE_MINT sees the whole group in one shard.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import func, select

from ..db.models import TABLES
from ..shards import Shard, operation_bytes

IDS_PER_QUERY = 500


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def duplicate_group_anchors(client, statuses: Sequence[str]) -> dict[tuple[str, str], int]:
    """(wallet, level) -> the placing byte of the group's lowest op id, for each wallet and level with more
    than one operation in ``statuses`` (a handful of rows: one ``GROUP BY``, then the anchors' mints)."""
    table = TABLES["minting_operations"]
    wallet, level = table.c.user_wallet_address, table.c.level
    groups = (
        select(wallet, level, func.min(table.c.id))
        .where(table.c.status.in_(list(statuses)), wallet != "", level != "")
        .group_by(wallet, level)
        .having(func.count() > 1)
    )
    with client.connect() as conn:
        anchors = {row[2]: (row[0], row[1]) for row in conn.execute(groups)}
        mints: dict[str, str | None] = {}
        for chunk in _chunks(list(anchors), IDS_PER_QUERY):
            query = select(table.c.id, table.c.mint_address).where(table.c.id.in_(chunk))
            mints |= {row[0]: row[1] for row in conn.execute(query)}
    ids = list(anchors)
    placed = operation_bytes([mints.get(i) for i in ids], ids)
    return {anchors[i]: byte for i, byte in zip(ids, placed, strict=True)}


def read_shard(client, statement: Any, shard: Shard, group_statuses: Sequence[str]) -> pd.DataFrame:
    """The rows of ``statement`` (over the whole table) that belong to ``shard``, chunk by chunk."""
    anchors = duplicate_group_anchors(client, group_statuses) if group_statuses else {}
    grouped = set(group_statuses)
    tables: list[pa.Table] = []
    with client.connect() as conn:
        result = conn.execution_options(yield_per=client.chunk_rows).execute(statement)
        keys = list(result.keys())
        for part in result.partitions():
            chunk = pd.DataFrame.from_records(part, columns=keys)
            group_keys = [
                (w, lv) if st in grouped else None
                for w, lv, st in zip(chunk["user_wallet_address"], chunk["level"], chunk["status"], strict=True)
            ]
            placed = operation_bytes(chunk["mint_address"].tolist(), chunk["id"].tolist(), anchors, group_keys)
            keep = [byte % shard.count == shard.index for byte in placed]
            tables.append(pa.Table.from_pandas(chunk[keep], preserve_index=False))
            del chunk, part  # the chunk's Python objects go as a whole: none is kept (see _compact)
    return _typed([_compact(tables)] if tables else [])


def _compact(tables: list) -> pd.DataFrame:
    """The kept rows as one frame of fresh objects. Kept as Arrow per chunk, so that the rows a shard drops
    free their memory: kept Python strings would pin the interpreter's arenas of every chunk read."""
    return pa.concat_tables(tables, promote_options="default").to_pandas()


def _typed(frames: list[pd.DataFrame]) -> pd.DataFrame:
    from .database import typed_frame

    return typed_frame(TABLES["minting_operations"], frames)
