"""Dagster: definitions load, snapshots materialize on SQLite and PostgreSQL, a PostgreSQL instance runs the job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, make_url, text

from reconcile_pipeline.defs import defs
from reconcile_pipeline.runner import materialize_snapshots
from reconcile_pipeline.snapshots import SNAPSHOT_NAMES
from tests.worldkit import running_world

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = set(SNAPSHOT_NAMES)


def test_definitions_load_with_every_snapshot_asset():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert SNAPSHOTS <= keys
    assert defs.resolve_job_def("snapshot_all_layers") is not None


def test_workspace_yaml_loads(tmp_path):
    env = os.environ | {"DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "passed validation" in result.stdout + result.stderr


def test_snapshots_materialize_on_each_backend(tmp_path, db_url):
    with running_world(tmp_path, seed=2, nfts=10, blocks=5, faults="none", db_url=db_url) as (world, settings):
        summary = materialize_snapshots(str(tmp_path / "reconcile.toml"))
    assert set(summary) == SNAPSHOTS
    assert {meta["read_status"] for meta in summary.values()} == {"ok"}
    assert summary["db_minting_operations"]["dagster/row_count"] == 10
    assert summary["solana_metadata_accounts"]["dagster/row_count"] == 10
    assert summary["source_images"]["dagster/row_count"] == len(world.data.levels)
    assert summary["blockstore_r2"]["dagster/row_count"] == 5 + world.spec.pending
    parquet = Path(summary["db_minting_operations"]["path"])
    frame = pd.read_parquet(parquet)
    assert len(frame) == 10 and frame.attrs["read_status"]["status"] == "ok"
    assert parquet.parent == Path(settings.data_dir) / "snapshots" / "db_minting_operations"


def test_a_layer_down_is_recorded_not_raised(tmp_path):
    with running_world(tmp_path, seed=2, nfts=6, blocks=4, faults="none") as (world, _):
        world.servers.kv.faults.mode = "down"
        world.servers.solana.faults.mode = "error"
        summary = materialize_snapshots(str(tmp_path / "reconcile.toml"))
    assert summary["blockstore_kv"]["read_status"] == "unavailable"
    assert "kv" in summary["blockstore_kv"]["message"]
    assert summary["solana_metadata_accounts"]["read_status"] == "unavailable"
    assert summary["blockstore_r2"]["read_status"] == "ok"


@pytest.mark.postgres
def test_job_runs_on_the_postgres_instance(tmp_path, pg_db_url):
    """dagster.yaml (PostgreSQL storage, credentials from the environment) runs the snapshot job."""
    url = make_url(pg_db_url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())  # the repository's file, as is
    env = os.environ | {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": url.host,
        "DAGSTER_PG_PORT": str(url.port),
        "DAGSTER_PG_USER": url.username,
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.database,
    }
    with running_world(tmp_path, seed=2, nfts=6, blocks=4, faults="none", db_url=pg_db_url):
        env["RECONCILE_CONFIG"] = str(tmp_path / "reconcile.toml")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "dagster",
                "job",
                "execute",
                "-m",
                "reconcile_pipeline.defs",
                "-a",
                "defs",
                "-j",
                "snapshot_all_layers",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    engine = create_engine(pg_db_url)
    with engine.connect() as conn:
        runs = conn.execute(text("select status from runs")).scalars().all()
        materialized = conn.execute(
            text("select count(distinct asset_key) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION'")
        ).scalar()
    engine.dispose()
    assert runs == ["SUCCESS"]
    assert materialized == len(SNAPSHOTS)


def test_outcome_checks_are_on_both_graphs():
    from dagster import AssetCheckKey, AssetKey

    checks = defs.resolve_asset_graph().asset_check_keys
    for prefix in ([], ["deep"]):
        key = AssetKey([*prefix, "consistency_findings"])
        assert {AssetCheckKey(key, "every_check_judged"), AssetCheckKey(key, "no_failing_findings")} <= checks


def test_a_run_with_an_unreadable_layer_is_not_a_plain_success(tmp_path):

    """Dagster's in-process execution: the outcome checks (severity ERROR) fail on unknowns, pass when all is read."""
    from reconcile_pipeline.runner import run_reconciliation
    from tests.worldkit import remove_r2_block

    config = str(tmp_path / "reconcile.toml")
    with running_world(tmp_path, seed=6, nfts=6, blocks=4, faults="none") as (world, settings):
        world.servers.solana.faults.mode = "down"
        down = run_reconciliation(config, cadence="regular")
        world.servers.solana.faults.reset()
        healed = run_reconciliation(config, cadence="regular")
        remove_r2_block(settings, 1)
        broken = run_reconciliation(config, cadence="regular")
    judged, failing = down.outcome["every_check_judged"], down.outcome["no_failing_findings"]
    assert down.success and not judged["passed"] and judged["severity"] == "ERROR"
    assert judged["metadata"]["exit_code"] == 3 and judged["metadata"]["unknown"] > 0
    assert {"CHAIN_METADATA_MUTABLE", "CHAIN_URI_MISMATCH"} <= set(judged["metadata"]["unknown_checks"])
    assert "solana" in judged["metadata"]["unreadable_layers"]
    assert failing["passed"] and failing["metadata"]["failing"] == 0
    assert "every_check_judged" not in down.checks  # the expectation checks are apart
    assert {name: check["passed"] for name, check in healed.outcome.items()} == {
        "every_check_judged": True, "no_failing_findings": True
    }
    assert healed.outcome["every_check_judged"]["metadata"]["exit_code"] == 0
    failing = broken.outcome["no_failing_findings"]
    assert not failing["passed"] and failing["severity"] == "ERROR" and failing["metadata"]["exit_code"] == 1
    assert failing["metadata"]["failing_checks"] == ["BLOCK_TIER_MISSING"]
    assert broken.outcome["every_check_judged"]["passed"]
