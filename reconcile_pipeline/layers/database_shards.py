"""Sharded reads of ``minting_operations`` for the deep scan (:mod:`..shards`), no Dagster.

:func:`read_shard` has the database filter the shard's rows (:mod:`.shard_sql`: string ranges of the mints,
plus the rows without a well-formed mint and the duplicate groups' members, which every shard fetches), then
applies the exact placement to what comes back, chunk by chunk (``yield_per``; a server-side cursor on
PostgreSQL), so the database returns about 1/n of the table and memory follows the shard, not the table.
:func:`duplicate_group_anchors` finds the wallet-and-level groups with more than one minted operation (one
``GROUP BY``): each group goes whole to the shard of its anchor (its lowest op id), so DB_DUPLICATE_MINT sees
the whole group in one shard.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, func, select, tuple_

from ..db.models import TABLES
from ..shards import Shard, operation_bytes
from .shard_sql import shard_superset

IDS_PER_QUERY = 500


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def duplicate_group_anchors(client, statuses: Sequence[str]) -> dict[tuple[str, str], int]:
    """(wallet, level) -> the placing byte of the group's lowest op id, for each wallet and level with more
    than one operation in ``statuses`` (a handful of rows: one ``GROUP BY``, then the anchors' mints)."""
    with client.connect() as conn:
        return _duplicate_groups(conn, statuses)[0]


def _duplicate_groups(conn: Connection, statuses: Sequence[str]) -> tuple[dict[tuple[str, str], int], list[str]]:
    """The anchor bytes of the duplicate groups (see :func:`duplicate_group_anchors`) and their members' ids."""
    table = TABLES["minting_operations"]
    wallet, level, status = table.c.user_wallet_address, table.c.level, table.c.status
    groups = (
        select(wallet, level, func.min(table.c.id))
        .where(status.in_(list(statuses)), wallet != "", level != "")
        .group_by(wallet, level)
        .having(func.count() > 1)
    )
    anchors = {row[2]: (row[0], row[1]) for row in conn.execute(groups)}
    mints: dict[str, str | None] = {}
    members: list[str] = []
    for chunk in _chunks(list(anchors), IDS_PER_QUERY):
        query = select(table.c.id, table.c.mint_address).where(table.c.id.in_(chunk))
        mints |= {row[0]: row[1] for row in conn.execute(query)}
        keys = tuple_(wallet, level).in_([anchors[i] for i in chunk])
        members += conn.execute(select(table.c.id).where(status.in_(list(statuses)), keys)).scalars()
    ids = list(anchors)
    placed = operation_bytes([mints.get(i) for i in ids], ids)
    return {anchors[i]: byte for i, byte in zip(ids, placed, strict=True)}, members


def read_shard(client, statement: Any, shard: Shard, group_statuses: Sequence[str]) -> pd.DataFrame:
    """The rows of ``statement`` (a select of the whole table) that belong to ``shard``: the database
    fetches a superset (:func:`.shard_sql.shard_superset`), the exact placement keeps the shard's rows."""
    table = TABLES["minting_operations"]
    grouped = set(group_statuses)
    tables: list[pa.Table] = []
    with client.connect() as conn:
        anchors, members = _duplicate_groups(conn, group_statuses) if group_statuses else ({}, [])
        dialect = conn.dialect.name
        statement = statement.where(shard_superset(table.c.mint_address, table.c.id, shard, members, dialect))
        if dialect == "sqlite":  # walking the id index would visit the whole table in random order
            statement = statement.order_by(None)  # sorted below: BINARY order is Python's str order
        result = conn.execution_options(yield_per=client.chunk_rows).execute(statement)
        keys = list(result.keys())
        for part in result.partitions():
            chunk = _shard_rows(pd.DataFrame.from_records(part, columns=keys), shard, anchors, grouped)
            tables.append(pa.Table.from_pandas(chunk, preserve_index=False))
            del chunk, part  # the chunk's Python objects go as a whole: none is kept (see _compact)
    frame = _typed([_compact(tables)] if tables else [])
    return frame.sort_values("id", ignore_index=True) if dialect == "sqlite" else frame


def _shard_rows(chunk: pd.DataFrame, shard: Shard, anchors: dict, grouped: set[str]) -> pd.DataFrame:
    """The rows of ``chunk`` (fetched rows) that the exact placement puts in ``shard``."""
    group_keys = [
        (w, lv) if st in grouped else None
        for w, lv, st in zip(chunk["user_wallet_address"], chunk["level"], chunk["status"], strict=True)
    ]
    placed = operation_bytes(chunk["mint_address"].tolist(), chunk["id"].tolist(), anchors, group_keys)
    return chunk[[shard.holds(byte) for byte in placed]]


def _compact(tables: list) -> pd.DataFrame:
    """The kept rows as one frame of fresh objects. Kept as Arrow per chunk, so that the rows a shard drops
    free their memory: kept Python strings would pin the interpreter's arenas of every chunk read."""
    return pa.concat_tables(tables, promote_options="default").to_pandas()


def _typed(frames: list[pd.DataFrame]) -> pd.DataFrame:
    from .database import typed_frame

    return typed_frame(TABLES["minting_operations"], frames)
