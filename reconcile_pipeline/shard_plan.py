"""How many shards today's deep scan takes (DESIGN §10), no Dagster: counts read from the layers.

``n`` = the next power of two at least (operations or blocks) / ``reconciliation.deep_shard_size``, at
most 256 (:func:`..shards.shard_count`). The operation count is one ``COUNT(*)``; the block count is
``vdc:latest`` + 1. A layer that cannot be read (or is not configured) counts as empty; the shard runs
then report it unknown as any run would.
"""

from __future__ import annotations

import asyncio
import logging

from . import clients
from .cadences import Scope, deep_scope
from .layers import blocks as fmt
from .layers.errors import LayerError
from .settings import Settings
from .shards import Shard, all_shards, shard_count
from .snapshots.blockstore_scope import latest_number

log = logging.getLogger(__name__)


def operation_count(settings: Settings) -> int:
    try:
        with clients.database_client(settings) as client:
            return client.count_minting_operations()
    except LayerError as exc:
        log.warning("deep shards: operations not counted (%s)", exc)
        return 0


async def _block_count(settings: Settings) -> int:
    async with clients.kv_client(settings) as kv:
        latest = latest_number(await kv.get(fmt.LATEST_KEY))
    return 0 if latest is None else latest + 1


def block_count(settings: Settings) -> int:
    store = settings.blockstore
    if not (store.kv_account_id and store.kv_namespace_id and store.kv_api_token.get_secret_value()):
        return 0  # no KV configured: no blocks to shard (and no request to a default endpoint)
    try:
        return asyncio.run(_block_count(settings))
    except LayerError as exc:
        log.warning("deep shards: blocks not counted (%s)", exc)
        return 0


def deep_shard_count(settings: Settings) -> int:
    population = max(operation_count(settings), block_count(settings))
    return shard_count(population, settings.reconciliation.deep_shard_size)


def deep_shard_scopes(settings: Settings, count: int | None = None) -> list[Scope]:
    """One deep scope per shard (one unsharded scope when a single shard suffices)."""
    count = deep_shard_count(settings) if count is None else count
    return [deep_scope(shard) for shard in all_shards(count)]


def parse_shard_option(text: str) -> Shard:
    """The CLI's ``--shard INDEX/COUNT``."""
    return Shard.parse(text)
