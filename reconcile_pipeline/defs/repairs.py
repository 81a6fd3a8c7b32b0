"""Dagster wiring of repairs: the ``repair_plan`` asset (part of every reconciliation) and the ``repair_apply`` job.

``repair_plan`` plans from the run's findings and joined frames (pure; the GX suites' blocking checks on
the joined frames stop it when a frame is unsound); a complete run also resolves the manual-review items
whose problem it no longer finds (repairs/queue_review.py). ``repair_apply`` is launched on purpose, from the UI
or the CLI's twin, with the same config as ``reconcile repair apply``: ``execute`` (default false: a dry
run) and ``approve`` (action ids of destructive actions). It plans again from the layers as they are
now, applies through the ledger, and reports each action's outcome as an observation of ``repair_plan``;
the run fails when an action failed or was sent to manual review, so that failure alerts.
"""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetObservation,
    Config,
    Failure,
    MetadataValue,
    OpExecutionContext,
    Output,
    asset,
    job,
    op,
)

from ..repairs.actions import AUTOMATIC, MANUAL
from ..repairs.plan import build_plan
from .resources import SettingsResource

GROUP = "repairs"
PREVIEW_ROWS = 50


def _preview(frame: pd.DataFrame, columns: list[str]) -> MetadataValue:
    if frame.empty:
        return MetadataValue.md("_nothing_")
    return MetadataValue.md(frame[columns].head(PREVIEW_ROWS).to_markdown(index=False))


def plan_metadata(plan: pd.DataFrame) -> dict:
    automatic = int(plan["repair"].isin(list(AUTOMATIC)).sum()) if len(plan) else 0
    manual = int((plan["repair"] == MANUAL).sum()) if len(plan) else 0
    return {
        "dagster/row_count": len(plan),
        "automatic": automatic,
        "manual_review": manual,
        "no_action": len(plan) - automatic - manual,
        "destructive": MetadataValue.json(plan.loc[plan["destructive"].astype(bool), "action_id"].tolist()),
        "by_repair": MetadataValue.json(plan["repair"].value_counts().to_dict() if len(plan) else {}),
        "blocked": MetadataValue.json(list(plan.attrs.get("blocked", []))),
        "actions": _preview(plan, ["action_id", "repair", "check_id", "entity_id", "destructive", "reason"]),
    }


@asset(
    group_name=GROUP,
    ins={name: AssetIn(name) for name in ("consistency_findings", "nft_consistency", "block_consistency")},
    kinds={"parquet"},
    description="One entry per failing finding: its automatic repair, MANUAL_REVIEW, or NONE/RECHECK (writes nothing);"
    " nothing from unknown.",
)
def repair_plan(
    context: AssetExecutionContext,
    settings: SettingsResource,
    consistency_findings: pd.DataFrame,
    nft_consistency: pd.DataFrame,
    block_consistency: pd.DataFrame,
) -> Output[pd.DataFrame]:
    loaded = settings.load()
    plan = build_plan(consistency_findings, nft_consistency, block_consistency, loaded)
    for problem in plan.attrs.get("blocked", []):
        context.log.warning(f"repair plan refused: {problem}")
    cleared = _clear_queue(context, loaded, consistency_findings)
    return Output(plan, metadata=plan_metadata(plan) | {"queue_cleared": MetadataValue.json(cleared)})


def _clear_queue(context: AssetExecutionContext, settings, findings: pd.DataFrame) -> list[str]:
    """A complete run resolves the manual-review items whose problem it no longer finds (partial runs never)."""
    from ..cadences import scope_from_tags
    from ..layers.database import DatabaseClient
    from ..layers.errors import LayerError
    from ..repairs.queue_review import clear_gone

    if not scope_from_tags(context.run.tags).complete:
        return []
    try:
        with DatabaseClient(settings.database.url.get_secret_value()) as db:
            cleared = clear_gone(db, findings, f"run {context.run_id}")
    except LayerError as exc:  # the queue lives in the database; an unreadable one leaves the items as they are
        context.log.warning(f"manual-review queue not reviewed: {exc}")
        return []
    if cleared:
        context.log.info(f"manual-review items resolved (problem no longer found): {', '.join(cleared)}")
    return cleared


class RepairApplyConfig(Config):
    """The config of ``reconcile repair apply``: ``execute`` to write, ``approve`` destructive action ids."""

    execute: bool = False
    approve: list[str] = []


@op(description="Plan from the layers as they are now and apply (a dry run unless execute).")
def apply_repairs(context: OpExecutionContext, config: RepairApplyConfig, settings: SettingsResource) -> None:
    from ..repairs.current import plan_and_apply

    who = context.run.tags.get("user") or context.run.tags.get("dagster/user") or "launched in Dagster"
    plan, report = plan_and_apply(settings.load(), execute=config.execute, approve=config.approve,
                                  approved_by=f"{who} (run {context.run_id})")  # fmt: skip
    outcomes = report.frame()
    metadata = {
        "execute": config.execute,
        "counts": MetadataValue.json(report.counts()),
        "unknown_approvals": MetadataValue.json(report.unknown_approvals),
        "outcomes": _preview(outcomes, ["action_id", "result", "repair", "check_id", "entity_id"]),
    }
    context.log_event(AssetObservation(asset_key="repair_plan", metadata=metadata))
    context.log.info(f"repairs ({'executed' if config.execute else 'dry run'}): {report.counts()}")
    for action_id in report.unknown_approvals:
        context.log.warning(f"approval {action_id} names no destructive action of the current plan")
    bad = outcomes[outcomes["result"].isin(["failed", "manual review"])] if len(outcomes) else outcomes
    if len(bad):
        raise Failure(f"{len(bad)} repair(s) failed or went to manual review", metadata={"failed": _preview(
            bad, ["action_id", "result", "repair", "entity_id", "detail"])})  # fmt: skip


@job(name="repair_apply", description="Apply the repair plan (dry run unless execute; approve destructive ids).")
def repair_apply() -> None:
    apply_repairs()


REPAIR_ASSETS: list = [repair_plan]  # in the main graph (planned on every run)
REPAIR_JOBS: list = [repair_apply]  # launched on purpose (apply)
