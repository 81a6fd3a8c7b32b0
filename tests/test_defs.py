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
