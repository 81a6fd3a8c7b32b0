"""The plan as of now, without Dagster: read every layer, join, judge, plan (the CLI and the apply job).

Apply always works from a fresh plan, so it never repairs from an old snapshot; the ``repair_plan``
asset shows the plan of each reconciliation run, and its action ids are the same as long as the
truth has not changed (they hash the check, the entity and the truth's version).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from ..checks.block_checks import run_block_checks
from ..checks.block_join import build_block_consistency
from ..checks.findings import concat_findings
from ..checks.nft_checks import nft_findings
from ..checks.nft_join import build_nft_consistency
from ..settings import Settings
from ..snapshots.collect import collect_snapshots
from .apply import ApplyReport, apply_plan
from .archive import ContentArchive
from .plan import build_plan


@dataclass
class Judgement:
    findings: pd.DataFrame
    nft: pd.DataFrame
    blocks: pd.DataFrame


def judge_now(settings: Settings) -> Judgement:
    """Snapshot every layer and run every check (deep IPFS reads), as a reconciliation run does."""
    frames = {name: snapshot.frame for name, snapshot in collect_snapshots(settings).items()}
    nft = build_nft_consistency(frames, settings)
    blocks = build_block_consistency(frames, settings)
    findings = concat_findings([nft_findings(nft, frames, settings), run_block_checks(frames, settings, blocks=blocks)])
    return Judgement(findings, nft, blocks)


def current_plan(settings: Settings) -> pd.DataFrame:
    judged = judge_now(settings)
    return build_plan(judged.findings, judged.nft, judged.blocks, settings)


def plan_and_apply(
    settings: Settings,
    *,
    execute: bool = False,
    approve: Iterable[str] = (),
    approved_by: str | None = None,
    archive: ContentArchive | None = None,
) -> tuple[pd.DataFrame, ApplyReport]:
    """A fresh plan, then :func:`.apply.apply_plan` (dry-run unless ``execute``)."""
    plan = current_plan(settings)
    report = apply_plan(settings, plan, execute=execute, approve=approve, approved_by=approved_by, archive=archive)
    return plan, report
