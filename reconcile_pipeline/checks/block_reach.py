"""What a block-store read reached, and judging only that: a cadence judges only what it read completely.

The KV snapshot says what was read (:mod:`..snapshots.blockstore_scope`): no ``block_scope`` attrs is a read of
every key (the whole population); a scoped read names its ``judged`` and ``read`` block numbers (``read`` adds the
context blocks) and whether it judges the population (``population``: the home shard of a sharded scan); a read
skipped because the scope has no blocks (an operation event of the immediate cadence) read nothing.

- Nothing read: no block finding at all (not missing, not unknown: out of scope).
- Not the whole population: ``vdc:latest``, ``vdc:pending:count`` and the pending queue
  (:data:`..cadences.BLOCK_POPULATION_CHECKS`) are not judged, nor a ``vdc:tx`` entry naming a block the read
  did not take (:func:`..block_checks_index.check_tx_index` asks :meth:`BlockReach.read_block`).
- A finding on a block outside ``judged`` (a context block) is dropped; entity ``*`` (a whole tier unreadable)
  stays.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..cadences import BLOCK_POPULATION_CHECKS, BLOCK_SCOPE_ATTR
from ..snapshots.base import read_status
from ..snapshots.tx_sweep import SWEEP_ATTR


@dataclass(frozen=True)
class BlockReach:
    """``judged`` / ``read``: block numbers (None: every block); ``population``: the store's pointers, count,
    queue and whole index are judged; ``anything``: the block store was read at all."""

    judged: frozenset[int] | None = None
    read: frozenset[int] | None = None
    population: bool = True
    anything: bool = True

    def read_block(self, number: object) -> bool:
        """Whether block ``number`` was read (by a read of every block, or named by a scoped one)."""
        if self.read is None:
            return True
        return number is not None and not pd.isna(number) and int(number) in self.read


WHOLE = BlockReach()
NOTHING = BlockReach(frozenset(), frozenset(), population=False, anything=False)


def _numbers(values: object) -> frozenset[int]:
    return frozenset(int(n) for n in (values if values is not None else []))


def block_reach(kv_frame: pd.DataFrame | None) -> BlockReach:
    """The reach of the block-store read whose KV snapshot is ``kv_frame`` (None: no snapshot, judged whole)."""
    if kv_frame is None:
        return WHOLE
    if read_status(kv_frame).get("status") == "skipped":
        return NOTHING
    block_scope = kv_frame.attrs.get(BLOCK_SCOPE_ATTR)
    if block_scope is None:
        return WHOLE
    population = block_scope.get("population")
    if population is None:  # written before the key existed: only the home shard swept the index
        population = SWEEP_ATTR in block_scope
    return BlockReach(_numbers(block_scope.get("judged")), _numbers(block_scope.get("read")), bool(population))


def within_reach(findings: pd.DataFrame, reach: BlockReach) -> pd.DataFrame:
    """``findings`` of the block checks minus what the read did not reach (module docstring)."""
    if findings.empty or reach == WHOLE:
        return findings
    if not reach.anything:
        return findings.iloc[0:0].reset_index(drop=True)
    keep = pd.Series(True, index=findings.index)
    if not reach.population:
        keep &= ~findings["check_id"].isin(BLOCK_POPULATION_CHECKS)
    if reach.judged is not None:
        judged = {str(n) for n in reach.judged} | {"*"}
        keep &= (findings["entity_type"] != "block") | findings["entity_id"].astype(str).isin(judged)
    return findings[keep].reset_index(drop=True)
