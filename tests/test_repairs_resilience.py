"""Repairs under trouble: a crash (SIGKILL) mid-apply, a layer down, repeated failures, refused repairs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.repairs.apply import CRASH_ENV, apply_plan
from reconcile_pipeline.repairs.current import current_plan, judge_now, plan_and_apply
from reconcile_pipeline.repairs.ledger import Ledger
from reconcile_pipeline.repairs.plan import build_plan, plan_actions
from reconcile_pipeline.repairs.plan_nft import record_id_for
from tests.worldkit import finding_keys, running_world

ROOT = Path(__file__).resolve().parents[1]


def ledger_rows(settings) -> tuple[list[dict], list[dict]]:
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        ledger = Ledger(db, "test")
        return ledger.rows(), ledger.queue(None)


def ops_for_mint(settings, mint: str) -> list[str]:
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        return db.read_minting_operations().query("mint_address == @mint")["id"].tolist()


def test_a_crash_mid_apply_resumes_without_a_duplicate_effect(tmp_path):
    faults = "BLOCKCHAIN_SUCCESS_DATABASE_FAILURE,BLOCK_TIER_MISSING,TX_INDEX_INCONSISTENT"
    with running_world(tmp_path, seed=21, nfts=8, blocks=6, faults=faults) as (world, settings):
        victims = {f["description"]: f["entity_id"] for f in world.manifest()["faults"]}
        mint = victims["minted on chain, no DB row"]  # the plan's first actions: the two DB rows, by entity id
        create = sorted([mint, victims["minted on chain, DB says FAILED"]]).index(mint)
        env = os.environ | {CRASH_ENV: str(create + 1), "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "reconcile_pipeline.cli", "repair", "apply", "--execute",
                   "--config", str(tmp_path / "reconcile.toml")]  # fmt: skip
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
        rows, _ = ledger_rows(settings)
        assert [r["status"] for r in rows] == ["verified"] * create + ["applying"]
        assert ops_for_mint(settings, mint) == [record_id_for(mint)]  # written, then killed before the ledger knew

        crashed = rows[create]["action_id"]
        _, report = plan_and_apply(settings, execute=True)
        assert set(report.counts()) == {"verified"}
        rows, queue = ledger_rows(settings)
        resumed = next(r for r in rows if r["action_id"] == crashed)
        events = [e["event"] for e in resumed["history"]]
        assert events == ["planned", "claimed", "resumed", "applied", "verified"] and resumed["attempts"] == 2
        assert resumed["history"][3]["detail"].startswith("the layer already holds the target state")
        assert ops_for_mint(settings, mint) == [record_id_for(mint)]  # no second row
        assert {r["status"] for r in rows} == {"verified"} and len(rows) == 5  # 2 DB rows, 1 block, 2 tx index keys
        assert len(report.outcomes) == 5 - create  # those verified before the crash are no longer planned
        assert {o["check_id"] for o in report.outcomes} == set(faults.split(",")) and queue == []


def test_with_a_layer_down_nothing_is_planned_from_unknown_and_an_outage_is_not_a_failure(tmp_path):
    faults = "CHAIN_URI_MISMATCH,DB_PENDING_TX_FAILED,BLOCK_TIER_MISSING"
    with running_world(tmp_path, seed=22, nfts=8, blocks=5, faults=faults) as (world, settings):
        world.servers.solana.faults.mode = "down"
        judged = judge_now(settings)
        plan = build_plan(judged.findings, judged.nft, judged.blocks, settings)
        unknown = finding_keys(judged.findings, "unknown")
        assert {"CHAIN_URI_MISMATCH", "DB_PENDING_TX_FAILED"} <= {check for check, _, _ in unknown}
        assert not any(check.startswith(("CHAIN", "DB_")) for check, _, _ in finding_keys(judged.findings))
        assert list(plan["check_id"]) == ["BLOCK_TIER_MISSING"]
        assert not set(zip(plan["check_id"], plan["entity_type"], plan["entity_id"], strict=True)) & unknown

        world.servers.kv.faults.mode = "down"  # the block is planned; KV is down when it is applied
        first = apply_plan(settings, plan, execute=True)
        assert [o["result"] for o in first.outcomes] == ["unavailable"]
        rows, queue = ledger_rows(settings)
        assert rows[0]["status"] == "failed" and rows[0]["history"][-1]["event"] == "unavailable" and queue == []
        world.servers.kv.faults.mode = "ok"
        second = apply_plan(settings, plan, execute=True)
        assert [o["result"] for o in second.outcomes] == ["verified"]


def test_repeated_failures_and_refused_repairs_go_to_the_manual_review_queue(tmp_path, capsys):
    from reconcile_pipeline.cli import main

    faults = "CHAIN_URI_MISMATCH,DATABASE_SUCCESS_IPFS_FAILURE"
    with running_world(tmp_path, seed=23, nfts=8, blocks=3, faults=faults) as (world, settings):
        plan = current_plan(settings)  # the archive is empty: the lost JSON has no exact copy anywhere
        uri_fix = next(a for a in plan_actions(plan) if a.check_id == "CHAIN_URI_MISMATCH")
        with DatabaseClient(settings.database.url.get_secret_value()) as db, db.connect(write=True) as conn:
            conn.execute(text("UPDATE minting_operations SET metadata_uri = 'ipfs://changed' WHERE id = :id"),
                         {"id": uri_fix.target["op_id"]})  # fmt: skip
        results = [apply_plan(settings, plan, execute=True) for _ in range(settings.repairs.max_attempts)]
        by_run = [{o["check_id"]: o["result"] for o in r.outcomes} for r in results]
        assert [run["CHAIN_URI_MISMATCH"] for run in by_run] == ["failed", "failed", "manual review"]
        assert by_run[0]["DATABASE_SUCCESS_IPFS_FAILURE"] == "manual review"  # refused at once: no exact bytes
        assert by_run[1]["DATABASE_SUCCESS_IPFS_FAILURE"] == "in queue"
        rows, queue = ledger_rows(settings)
        queued = {q["check_id"]: q for q in queue}
        assert queued["CHAIN_URI_MISMATCH"]["source"] == "failures"
        assert [e["event"] for e in queued["CHAIN_URI_MISMATCH"]["history"]].count("failed") == 3
        assert "changed since the plan" in queued["CHAIN_URI_MISMATCH"]["reason"]
        assert queued["DATABASE_SUCCESS_IPFS_FAILURE"]["source"] == "refused"
        assert "hashes to it" in queued["DATABASE_SUCCESS_IPFS_FAILURE"]["reason"]
        assert {r["status"] for r in rows} == {"manual_review"}
        assert main(["repair", "queue", "--config", str(tmp_path / "reconcile.toml")]) == 0
    shown = capsys.readouterr().out
    assert "failures" in shown and "refused" in shown and shown.count("failed:") >= 3
