"""The repair_plan asset in the reconciliation graph, the repair_apply job (launch config as the CLI's), the CLI."""

from __future__ import annotations

import json

from dagster import DagsterInstance, DagsterRunStatus, materialize

from reconcile_pipeline.cli import main
from reconcile_pipeline.defs import ALL_ASSETS, build_definitions, reconcile_job
from reconcile_pipeline.defs.assets import SNAPSHOT_ASSETS
from reconcile_pipeline.defs.consistency import CONSISTENCY_ASSETS
from reconcile_pipeline.defs.repairs import repair_plan
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.repairs.ledger import Ledger
from tests.worldkit import running_world

FAULTS = "BLOCK_TIER_MISSING,PENDING_ALREADY_MINED,CHAIN_METADATA_MUTABLE"


def ledger(settings) -> tuple[list[dict], list[dict]]:
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        reader = Ledger(db, "test")
        return reader.rows(), reader.queue()


def test_repair_plan_is_part_of_every_reconciliation_and_the_apply_job_is_defined():
    assert repair_plan in ALL_ASSETS and reconcile_job.selection is not None
    defs = build_definitions()
    job = defs.resolve_job_def("repair_apply")
    config = job.run_config_schema.config_type.fields["ops"].config_type.fields["apply_repairs"]
    inner = config.config_type.fields["config"].config_type.fields
    assert set(inner) == {"execute", "approve"} and not inner["execute"].is_required


def test_cli_and_dagster_plan_and_apply_on_a_world(tmp_path, capsys):
    config = str(tmp_path / "reconcile.toml")
    with running_world(tmp_path, seed=31, nfts=6, blocks=5, faults=FAULTS) as (world, settings):
        assert main(["repair", "plan", "--config", config]) == 0
        text = capsys.readouterr().out
        assert "[destructive: needs --approve]" in text and (
            "3 failing findings: 2 automatic (1 destructive), 1 manual review, 0 no action") in text
        assert main(["repair", "apply", "--config", config, "--json"]) == 0
        dry_run = json.loads(capsys.readouterr().out)
        assert dry_run["execute"] is False and ledger(settings) == ([], [])
        outcomes = {o["check_id"]: o["result"] for o in dry_run["outcomes"]}
        assert outcomes == {"BLOCK_TIER_MISSING": "would apply", "PENDING_ALREADY_MINED": "needs approval",
                            "CHAIN_METADATA_MUTABLE": "would queue"}  # fmt: skip

        defs = build_definitions(config)
        instance = DagsterInstance.ephemeral()
        planned = materialize([*SNAPSHOT_ASSETS, *CONSISTENCY_ASSETS, repair_plan], resources=defs.resources,
                              instance=instance)  # fmt: skip
        plan = planned.output_for_node("repair_plan")
        assert list(plan["action_id"]) == [o["action_id"] for o in dry_run["outcomes"]]  # the asset's plan: the CLI's
        assert all(action_id in text for action_id in plan["action_id"])
        assert plan.loc[0, "check_id"] == "BLOCK_TIER_MISSING" and json.loads(plan.loc[0, "target"])["tiers"] == ["r2"]
        destructive = list(plan.loc[plan["destructive"], "action_id"])
        meta = planned.asset_materializations_for_node("repair_plan")[0].metadata
        assert meta["automatic"].value == 2 and meta["destructive"].value == destructive

        job = defs.resolve_job_def("repair_apply")
        dry = job.execute_in_process(instance=instance)  # launched with the defaults: a dry run
        assert dry.success and ledger(settings) == ([], [])
        run_config = {"ops": {"apply_repairs": {"config": {"execute": True, "approve": destructive}}}}
        applied = job.execute_in_process(run_config=run_config, instance=instance)
        assert applied.success and instance.get_run_by_id(applied.run_id).status == DagsterRunStatus.SUCCESS
        rows, queue = ledger(settings)
        assert sorted((r["check_id"], r["status"]) for r in rows) == [
            ("BLOCK_TIER_MISSING", "verified"), ("PENDING_ALREADY_MINED", "verified")]  # fmt: skip
        approved = next(r for r in rows if r["destructive"])["approved_by"]
        assert approved.endswith(f"(run {applied.run_id})")
        assert [q["check_id"] for q in queue] == ["CHAIN_METADATA_MUTABLE"]
        observed = [e for e in applied.all_events if e.event_type_value == "ASSET_OBSERVATION"]
        assert observed and observed[0].asset_key.to_user_string() == "repair_plan"
