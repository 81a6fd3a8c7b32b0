"""The findings a run of a :class:`~..cadences.Scope` reports: the checks, then only what the scope judges.

One path for the Dagster assets (``defs/consistency.py``), the sensor's and schedules' runs alike (their scope
comes from the run's tags), and for anything judging snapshot frames without Dagster (tests, benchmarks):

- block store: every block check within the read's reach (:mod:`.block_reach`: nothing when no block was read,
  the pointers and queue only on a read of every block), minus the context blocks (:func:`..cadences.in_scope`);
- both: the whole population's entities only in the run that judges them (:func:`..cadences.home_entities_only`);
- the blocks it judged (:func:`context_blocks`, :func:`without_context`): no audit row or block status says a block
  read only as context passed.
"""

from __future__ import annotations

import pandas as pd

from ..cadences import Scope, home_entities_only, in_scope
from ..settings import Settings
from .block_checks import run_block_checks
from .block_reach import block_reach
from .findings import concat_findings
from .nft_checks import nft_findings
from .nft_checks_metrics import nft_metrics
from .nft_join import build_nft_consistency


def scoped_block_findings(
    frames: dict[str, pd.DataFrame], settings: Settings, scope: Scope, blocks: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The block-store findings a run of ``scope`` reports (``blocks``: an already built block_consistency)."""
    return home_entities_only(in_scope(run_block_checks(frames, settings, blocks=blocks), frames), scope)


def scoped_nft_findings(
    nft: pd.DataFrame, frames: dict[str, pd.DataFrame], settings: Settings, scope: Scope
) -> tuple[pd.DataFrame, dict]:
    """The NFT findings a run of ``scope`` reports, and seed 000's consistencyMetrics (over every row read)."""
    findings = nft_findings(nft, frames, settings)
    metrics = nft_metrics(nft, findings, frames)  # per row: its level's source image counts too
    return home_entities_only(findings, scope), metrics


def scoped_findings(frames: dict[str, pd.DataFrame], settings: Settings, scope: Scope) -> pd.DataFrame:
    """Every finding a run of ``scope`` reports from its snapshot frames (NFT, then block store)."""
    nft, _ = scoped_nft_findings(build_nft_consistency(frames, settings), frames, settings, scope)
    return concat_findings([nft, scoped_block_findings(frames, settings, scope)])


def context_blocks(frames: dict[str, pd.DataFrame]) -> list[int]:
    """The block numbers a scoped read took only as context (judged by no check of this run)."""
    reach = block_reach(frames.get("blockstore_kv"))
    if reach.read is None or reach.judged is None:
        return []
    return sorted(reach.read - reach.judged)


def without_context(blocks: pd.DataFrame, context: list[int]) -> pd.DataFrame:
    """The rows of ``block_consistency`` a run judged: those not read only as context."""
    if not context or blocks.empty:
        return blocks
    return blocks[~blocks["block_number"].astype(int).isin(context)].reset_index(drop=True)
