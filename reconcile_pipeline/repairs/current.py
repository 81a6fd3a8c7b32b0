"""The plan as of now, without Dagster: read every layer, join, judge, plan (the CLI and the apply job).

Apply always works from a fresh plan, so it never repairs from an old snapshot; the ``repair_plan``
asset shows the plan of each reconciliation run, and its action ids are the same as long as the
truth has not changed (they hash the check, the entity and the truth's version).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from ..checks.block_checks import run_block_checks
from ..checks.block_join import build_block_consistency
from ..checks.findings import concat_findings
from ..checks.nft_checks import nft_findings
from ..checks.nft_join import build_nft_consistency
from ..layers.database import DatabaseClient
from ..settings import Settings
from ..snapshots.collect import collect_snapshots
from .apply import ApplyReport, apply_plan
from .archive import ContentArchive
from .plan import build_plan, resolve_repairs
from .queue_review import clear_gone


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
    return Judgement(resolve_repairs(findings, nft, blocks, settings), nft, blocks)


def plan_now(settings: Settings) -> tuple[Judgement, pd.DataFrame]:
    """The judgement of every layer as it is now, and the plan from it."""
    judged = judge_now(settings)
    return judged, build_plan(judged.findings, judged.nft, judged.blocks, settings)


def current_plan(settings: Settings) -> pd.DataFrame:
    return plan_now(settings)[1]


def clear_queue(settings: Settings, judged: Judgement) -> list[str]:
    """Resolve the manual-review items this complete judgement no longer supports; their action ids."""
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        return clear_gone(db, judged.findings, f"the plan of {datetime.now(UTC).isoformat()[:19]}Z")


def plan_and_apply(
    settings: Settings,
    *,
    execute: bool = False,
    approve: Iterable[str] = (),
    approved_by: str | None = None,
    archive: ContentArchive | None = None,
) -> tuple[pd.DataFrame, ApplyReport]:
    """A fresh plan, then :func:`.apply.apply_plan` (dry-run unless ``execute``).

    Executed, it also resolves the manual-review items whose problem this complete read no longer finds.
    """
    judged, plan = plan_now(settings)
    report = apply_plan(settings, plan, execute=execute, approve=approve, approved_by=approved_by, archive=archive)
    if execute:
        report.cleared = clear_queue(settings, judged)
    return plan, report
