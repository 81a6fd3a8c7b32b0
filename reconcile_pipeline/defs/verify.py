"""The ``verify_entity`` job: `reconcile verify` launched from the UI, the entity in its run config.

    ops:
      verify_one_entity:
        config: {operation: ID | mint: ADDRESS | block: N | cid: CID, repair: false, execute: false, approve: []}

It reads that entity on every layer, runs every check (:mod:`..verify`), logs a verdict per layer and the
recommended actions, and reports them as an observation of ``consistency_findings`` (metadata: the entity,
the layers' verdicts, findings, actions, the CLI's exit status). With ``repair`` it applies the entity's
plan like ``repair_apply`` (a dry run unless ``execute``; destructive actions need ``approve``); the run
fails when a repair failed or went to manual review, or when the config names no entity or two.
"""

from dagster import AssetObservation, Config, Failure, MetadataValue, OpExecutionContext, job, op

from .resources import SettingsResource

FINDING_FIELDS = ("status", "check_id", "entity_type", "entity_id")


class VerifyEntityConfig(Config):
    """Exactly one of ``operation``, ``mint``, ``block``, ``cid``; ``repair``/``execute``/``approve`` as the CLI's."""

    operation: str = ""
    mint: str = ""
    block: int | None = None
    cid: str = ""
    repair: bool = False
    execute: bool = False
    approve: list[str] = []


def _md(rows: list[dict]) -> MetadataValue:
    import pandas as pd

    return MetadataValue.md(pd.DataFrame(rows).to_markdown(index=False) if rows else "_nothing_")


@op(description="Verify one entity on every layer: a verdict per layer, the findings, the recommended actions.")
def verify_one_entity(context: OpExecutionContext, config: VerifyEntityConfig, settings: SettingsResource) -> None:
    from ..repairs.apply import apply_plan
    from ..verify import Target, verify
    from ..verify_report import as_json

    try:
        target = Target.one_of(operation=config.operation, mint=config.mint, block=config.block, cid=config.cid)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    loaded = settings.load()
    result = verify(loaded, target)
    report = as_json(result)
    for layer in report["layers"]:
        context.log.info(f"{target}: {layer['layer']} {layer['verdict']} {layer['detail']}".rstrip())
    metadata = {
        "entity": str(target),
        "exit_status": report["exit"],
        "layers": MetadataValue.json(report["layers"]),
        "findings": _md([{k: f[k] for k in FINDING_FIELDS} for f in report["findings"]]),
        "actions": _md(report["actions"]),
    }
    if config.repair:
        who = context.run.tags.get("user") or context.run.tags.get("dagster/user") or "launched in Dagster"
        applied = apply_plan(loaded, result.plan, execute=config.execute, approve=config.approve,
                             approved_by=f"{who} (run {context.run_id})")  # fmt: skip
        metadata |= {"repair_execute": config.execute, "repairs": MetadataValue.json(applied.counts())}
        bad = [o for o in applied.outcomes if o["result"] in ("failed", "manual review")]
    else:
        bad = []
    context.log_event(AssetObservation(asset_key="consistency_findings", metadata=metadata))
    context.log.info(f"{target}: exit status {report['exit']} ({len(report['findings'])} findings)")
    if bad:
        raise Failure(f"{len(bad)} repair(s) of {target} failed or went to manual review")


@job(name="verify_entity", description="Verify one entity (operation, mint, block or CID) on every layer.")
def verify_entity() -> None:
    verify_one_entity()


VERIFY_JOBS: list = [verify_entity]
