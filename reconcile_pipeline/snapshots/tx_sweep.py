"""The home shard's sweep of the ``vdc:tx:`` index: the *loose* entries, whose named block does not hold them.

A sharded deep scan reads, per shard, the index keys of its own blocks' transactions; an index entry no
block holds (a dangling one) is named by no block, so no shard would read it. The home shard (the last)
sweeps the whole index in one pass over the index and one over the named blocks, in bounded memory:

1. list ``vdc:tx:`` names one page at a time (names only) and drop the keys the shard already read;
2. per batch of :data:`SWEEP_BATCH` keys, bulk-read the values and parse ``blockNumber``; an entry naming a
   block the shard read is ``scoped`` (the shard's own block rows judge it), one naming no block is
   ``unnamed``; the others go to a spill file on disk (SQLite: block number, tx id, key, value);
3. walk the spill in block-number order, :data:`SWEEP_BATCH` distinct blocks at a time: bulk-read them once
   each (``vdc:block:N``; the R2 copy ``blocks/N.json`` where the KV copy is absent or not a JSON object),
   keep only which of their entries' transactions each holds, drop the bytes;
4. keep the loose entries only: their raw values (KV frame ``tx`` rows) and what the sweep found of the named
   block (:data:`STATES`), for :func:`..checks.block_checks_index.check_tx_index` to judge them as an
   unsharded read would.

Requests per 1,000 index keys: 1 list, 10 bulk value reads; then one bulk read per 100 distinct named
blocks (each block read once, whatever the number of its transactions). No Dagster.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections import Counter
from collections.abc import Container
from dataclasses import dataclass, field

from ..layers import blocks as fmt
from ..layers.errors import LayerError

SWEEP_BATCH = 200
SWEEP_ATTR = "tx_sweep"  # key in the KV frame's block scope: {"states": {tx_id: state}, "counts", "error"}
HOLDS_NOT, ABSENT, UNREADABLE, UNNAMED, SCOPED = "holds_not", "absent", "unreadable", "unnamed", "scoped"
STATES = (HOLDS_NOT, ABSENT, UNREADABLE, UNNAMED, SCOPED)  # unnamed: the value names no block (unreadable)
HOLDS = "holds"  # internal: the named block holds it (not loose, not kept)


@dataclass
class TxSweep:
    """The loose entries: raw values by key, the named block's state by tx id; counts; why the sweep stopped."""

    values: dict[str, bytes] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    error: str | None = None

    def attrs(self) -> dict:
        return {"states": dict(self.states), "counts": dict(self.counts), "error": self.error}


def named_block(value: dict) -> int | None:
    """The block number a parsed ``vdc:tx`` value names (None: no integer blockNumber)."""
    number = value.get("blockNumber")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


async def _r2_copies(r2, numbers: list[int], counts: Counter) -> dict[int, bytes | None] | None:
    if not numbers:
        return {}
    counts["blocks_r2"] += len(numbers)
    try:
        copies = await r2.get_many([fmt.r2_block_key(n) for n in numbers])
    except LayerError:
        return None  # R2 could not be read: these blocks are unreadable
    return {n: copies[fmt.r2_block_key(n)] for n in numbers}


async def _block_states(kv, r2, numbers: list[int], batch_tx: set[str], counts: Counter) -> dict[int, str | set]:
    """Per named block: the batch's transactions it holds (a set), else absent | unreadable | holds_not."""
    if not numbers:
        return {}
    counts["blocks_kv"] += len(numbers)
    try:
        kv_copies = await kv.get_many([fmt.block_key(n) for n in numbers])
    except LayerError:
        return dict.fromkeys(numbers, UNREADABLE)
    parsed = {n: fmt.json_object(kv_copies[fmt.block_key(n)]) for n in numbers}
    r2_copies = await _r2_copies(r2, [n for n in numbers if parsed[n] is None], counts)
    states: dict[int, str | set] = {}
    for number in numbers:
        block, exists = parsed[number], kv_copies[fmt.block_key(number)] is not None
        if block is None and r2_copies is None:
            states[number] = UNREADABLE
            continue
        if block is None:
            raw = r2_copies[number]
            block, exists = fmt.json_object(raw), exists or raw is not None
        held = set(fmt.listed_tx_ids(block)) if block is not None else None
        states[number] = (held & batch_tx) if held is not None else (HOLDS_NOT if exists else ABSENT)
    return states  # the block bytes go out of scope here


class _Spill:
    """Entries waiting for their named block, on disk (a temporary SQLite file), read back by block number."""

    def __init__(self, folder: str) -> None:
        self.db = sqlite3.connect(f"{folder}/tx-sweep.sqlite")
        self.db.execute("CREATE TABLE spill (number INTEGER, tx_id TEXT, key TEXT, raw BLOB)")

    def add(self, rows: list[tuple[int, str, str, bytes]]) -> None:
        self.db.executemany("INSERT INTO spill VALUES (?, ?, ?, ?)", rows)

    def by_block(self, blocks_per_chunk: int):
        """Lists of (number, tx_id, key, raw) naming at most ``blocks_per_chunk`` distinct blocks each."""
        self.db.execute("CREATE INDEX spill_number ON spill (number)")
        chunk: list[tuple] = []
        numbers = 0
        for row in self.db.execute("SELECT number, tx_id, key, raw FROM spill ORDER BY number"):
            if not chunk or row[0] != chunk[-1][0]:
                if numbers == blocks_per_chunk:
                    yield chunk
                    chunk, numbers = [], 0
                numbers += 1
            chunk.append(row)
        if chunk:
            yield chunk

    def close(self) -> None:
        self.db.close()


def _keep(sweep: TxSweep, key: str, tx_id: str, raw: bytes, state: str) -> None:
    sweep.values[key], sweep.states[tx_id] = raw, state
    sweep.counts[state] += 1


async def _read_values(kv, keys: list[str], read_numbers: Container[int], sweep: TxSweep, spill: _Spill) -> None:
    """One batch of index keys: scoped and unnamed entries decided now, the others spilled by named block."""
    values = await kv.get_many(keys)
    sweep.counts["values_read"] += len(keys)
    waiting = []
    for key, raw in values.items():
        if raw is None:
            continue  # listed, then deleted: no entry any more
        tx_id, number = fmt.parse_tx_key(key), named_block(fmt.json_object(raw) or {})
        if number is None:
            _keep(sweep, key, tx_id, raw, UNNAMED)
        elif number < 0:
            _keep(sweep, key, tx_id, raw, ABSENT)
        elif number in read_numbers:
            _keep(sweep, key, tx_id, raw, SCOPED)
        else:
            waiting.append((number, tx_id, key, bytes(raw)))
    spill.add(waiting)


async def _judge_chunk(kv, r2, chunk: list[tuple], sweep: TxSweep) -> None:
    """Entries naming a few blocks: each block read once, the entries it does not hold kept."""
    numbers = sorted({row[0] for row in chunk})
    blocks = await _block_states(kv, r2, numbers, {row[1] for row in chunk}, sweep.counts)
    for number, tx_id, key, raw in chunk:
        block = blocks[number]
        state = (HOLDS if tx_id in block else HOLDS_NOT) if isinstance(block, set) else block
        if state != HOLDS:
            _keep(sweep, key, tx_id, raw, state)


async def _sweep(kv, r2, already_read: Container[str], read_numbers: Container[int], batch_size: int,
                 sweep: TxSweep, spill: _Spill) -> None:  # fmt: skip
    async for page in kv.key_pages(fmt.TX_KEY_PREFIX):
        sweep.counts["listed"] += len(page)
        tx_keys = [key for key in page if fmt.parse_tx_key(key) is not None]  # others are no index entries
        keys = [key for key in tx_keys if key not in already_read]
        sweep.counts["already_read"] += len(tx_keys) - len(keys)
        for start in range(0, len(keys), batch_size):
            await _read_values(kv, keys[start : start + batch_size], read_numbers, sweep, spill)
    for chunk in spill.by_block(batch_size):
        await _judge_chunk(kv, r2, chunk, sweep)


async def sweep_tx_index(
    kv, r2, already_read: Container[str], read_numbers: Container[int], *, batch_size: int = SWEEP_BATCH
) -> TxSweep:
    """Every loose ``vdc:tx`` entry whose key is not in ``already_read`` (module docstring). A KV failure while
    listing or reading index values stops the sweep: ``error`` says why (what was found so far is kept)."""
    sweep = TxSweep()
    kv_before, r2_before = kv.request_count, r2.request_count
    with tempfile.TemporaryDirectory(prefix="reconcile-tx-sweep-") as folder:
        spill = _Spill(folder)
        try:
            await _sweep(kv, r2, already_read, read_numbers, batch_size, sweep, spill)
        except LayerError as exc:
            sweep.error = f"the vdc:tx index could not be swept: {exc}"
        finally:
            spill.close()
    sweep.counts["kv_requests"] = kv.request_count - kv_before
    sweep.counts["r2_requests"] = r2.request_count - r2_before
    return sweep
