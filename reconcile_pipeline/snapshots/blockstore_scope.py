"""Scoped reads of the block store's KV tier: only the blocks a run judges, and what judging them needs.

A scope names blocks by number (the immediate sensor: the blocks ``vdc:latest`` moved past), by
``vdc:latest`` alone, by a shard of the deep scan (a slice of ``0..vdc:latest``; the last shard also walks
up past the pointer), or by a time window (the frequent cadence: blocks mined since ``since``, found by
walking down from ``vdc:latest`` in batches until a block older than the window). Beside the *judged*
blocks the read takes *context* blocks, whose findings :func:`..cadences.in_scope` drops: the block before
the lowest judged one (its hash is what the lowest judged block's link is checked against; its own predecessor
is not read, so its own link would look like a gap), and, for the home shard, the block ``vdc:latest`` names
(so LATEST_POINTER_STALE compares the pointer with it when another shard owns it).

Then ``vdc:latest``, ``vdc:pending:count`` and the ``vdc:tx:ID`` key of every transaction of every block
read (from the KV copy; from the R2 copy where the KV copy is absent or unreadable, so a missing index entry
is never assumed). The frame carries ``attrs["block_scope"] = {"judged", "context", "read", "population"}``;
the R2 snapshot reads the same numbers (``read``). ``population`` (:attr:`..cadences.Scope.judges_block_population`)
is True for the home shard alone: a read of some blocks judges neither ``vdc:latest`` nor the pending queue
nor an index entry naming a block it did not read (:mod:`..checks.block_reach`).

The home shard of a sharded scan (``scope.judges_population``) also sweeps the whole ``vdc:tx`` index for
the entries no block it read holds (:mod:`.tx_sweep`): the loose ones join the values as ``tx`` rows and the
sweep's verdict on each named block rides in the block scope (``"tx_sweep"``), so the dangling entries are
judged as an unsharded read judges them.
"""

from __future__ import annotations

from datetime import datetime

from ..cadences import BLOCK_SCOPE_ATTR, Scope
from ..layers import blocks as fmt
from ..shards import Shard
from .base import LayerStatus, Snapshot
from .tx_sweep import SWEEP_ATTR, sweep_tx_index

WALK_BATCH = 32


def latest_number(raw: bytes | None) -> int | None:
    number = (fmt.json_object(raw) or {}).get("blockNumber")
    return number if isinstance(number, int) and not isinstance(number, bool) and number >= 0 else None


def _timestamp(raw: bytes | None) -> int | None:
    stamp = (fmt.json_object(raw) or {}).get("timestamp")
    return stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None


async def _walk_window(kv, latest: int, since: datetime, values: dict[str, bytes | None]) -> list[int]:
    """Block numbers mined at or after ``since``: down from ``latest`` until a block is older than the window."""
    cutoff_ms = int(since.timestamp() * 1000)
    judged: list[int] = []
    top = latest
    while top >= 0:
        numbers = list(range(top, max(top - WALK_BATCH, -1), -1))
        values.update(await kv.get_many([fmt.block_key(n) for n in numbers]))
        for number in numbers:
            stamp = _timestamp(values[fmt.block_key(number)])
            if stamp is not None and stamp < cutoff_ms:
                return sorted(judged)
            judged.append(number)  # in the window, or no readable KV copy to date it: judged
        top = numbers[-1] - 1
    return sorted(judged)


async def _shard_numbers(kv, shard: Shard, latest: int | None, values: dict[str, bytes | None]) -> list[int]:
    """The shard's slice of ``0..latest``; the last shard also takes the blocks persisted above ``latest``.

    Without a readable ``vdc:latest`` the highest block key listed stands in for it."""
    if latest is None:
        numbers = [fmt.parse_block_key(key) for key in await kv.list_keys(fmt.BLOCK_KEY_PREFIX)]
        latest = max((n for n in numbers if n is not None), default=None)
        if latest is None:
            return []
    low, high = shard.block_range(latest)
    judged = list(range(low, high))
    top = latest + 1
    while shard.last:  # up from the pointer, a batch at a time, until a batch holds no block
        numbers = list(range(top, top + WALK_BATCH))
        found = await kv.get_many([fmt.block_key(n) for n in numbers])
        values.update(found)
        present = [n for n in numbers if found[fmt.block_key(n)] is not None]
        if not present:
            break
        judged += list(range(top, max(present) + 1))
        top += WALK_BATCH
    return judged


async def resolve_numbers(kv, scope: Scope, latest: int | None, values: dict) -> list[int]:
    if scope.blocks == "numbers":
        return sorted(set(scope.block_numbers))
    if scope.blocks == "shard":
        return await _shard_numbers(kv, scope.shard, latest, values)
    if latest is None:
        return []
    if scope.blocks == "latest":
        return [latest]
    return await _walk_window(kv, latest, scope.since, values)


def context_numbers(judged: list[int], latest: int | None = None) -> list[int]:
    """The block below the lowest judged one (its hash checks the lowest judged block's link), and ``latest``
    (given for the home shard: the block the pointer names, which LATEST_POINTER_STALE compares it with)."""
    judged = sorted(judged)
    context = {judged[0] - 1} if judged and judged[0] > 0 else set()
    context |= set() if latest is None else {latest}
    return sorted(context - set(judged))


def empty_block_scope(numbers: list[int], scope: Scope) -> dict:
    """The block scope of a read that took ``numbers`` (judged, no context): a skipped or failed read."""
    return {"judged": numbers, "context": [], "read": numbers, "population": scope.judges_block_population}


async def _tx_keys(r2, values: dict[str, bytes | None], numbers: list[int]) -> list[str]:
    """The index keys of every transaction in the blocks read (R2's copy where KV has none that parses)."""
    tx_ids: list[str] = []
    unparsed = []
    for number in numbers:
        raw = values.get(fmt.block_key(number))
        block = fmt.json_object(raw)
        if block is None:
            unparsed.append(number)
        tx_ids += fmt.listed_tx_ids(block or {})
    if unparsed:
        copies = await r2.get_many([fmt.r2_block_key(n) for n in unparsed])
        for raw in copies.values():
            tx_ids += fmt.listed_tx_ids(fmt.json_object(raw) or {})
    return [fmt.tx_key(tx_id) for tx_id in dict.fromkeys(tx_ids)]


async def scoped_kv_values(kv, r2, scope: Scope) -> tuple[dict[str, bytes | None], dict]:
    """Every KV value the scope's judgement needs (see the module docstring) and the block scope."""
    values = await kv.get_many([fmt.LATEST_KEY, fmt.PENDING_COUNT_KEY])
    latest = latest_number(values[fmt.LATEST_KEY])
    judged = await resolve_numbers(kv, scope, latest, values)
    context = context_numbers(judged, latest if scope.judges_block_population else None)
    read = sorted(set(judged) | set(context))
    walked = {key: raw for key, raw in values.items() if fmt.parse_block_key(key) is None}  # the walk read more
    walked |= {fmt.block_key(n): values[fmt.block_key(n)] for n in read if fmt.block_key(n) in values}
    walked |= await kv.get_many([fmt.block_key(n) for n in read if fmt.block_key(n) not in walked])
    walked |= await kv.get_many(await _tx_keys(r2, walked, read))
    block_scope = {"judged": judged, "context": context, "read": read, "population": scope.judges_block_population}
    if scope.shard is not None and scope.judges_population:  # the home shard: the dangling index entries
        sweep = await sweep_tx_index(kv, r2, walked, set(read))
        walked |= sweep.values
        block_scope[SWEEP_ATTR] = sweep.attrs()
    return walked, block_scope


def scoped_snapshot(frame, block_scope: dict, scope: Scope) -> Snapshot:
    """The KV snapshot of a scoped read; the block scope rides in the frame's attrs (kept by Parquet)."""
    frame.attrs[BLOCK_SCOPE_ATTR] = block_scope
    counts = frame["kind"].value_counts().to_dict()
    message = f"scoped: {scope.summary()}"
    sweep = block_scope.get(SWEEP_ATTR)
    if sweep is not None:
        counts |= {f"tx_sweep_{name}": n for name, n in sweep["counts"].items()}
        message += f"; {sweep['error']}" if sweep["error"] else ""
    status = "degraded" if sweep is not None and sweep["error"] else "ok"
    return Snapshot(frame, LayerStatus("kv", status, rows=len(frame), counts=counts, message=message))
