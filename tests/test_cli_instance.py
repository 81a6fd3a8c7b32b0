"""CLI runs are recorded in the Dagster instance DAGSTER_HOME names (the UI's), unless --ephemeral."""

from __future__ import annotations

from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus

from reconcile_pipeline.cli import main
from reconcile_pipeline.snapshots import SNAPSHOT_NAMES
from tests.worldkit import running_world


def test_cli_run_is_recorded_in_dagster_home_and_ephemeral_leaves_it_empty(tmp_path, monkeypatch, capsys):
    home, config = tmp_path / "home", str(tmp_path / "reconcile.toml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with running_world(tmp_path, seed=3, nfts=6, blocks=4, faults="CHAIN_METADATA_MUTABLE"):
        assert main(["run", "--cadence", "regular", "--config", config, "--json", "--ephemeral"]) == 1  # it fails
        assert main(["repair", "apply", "--config", config, "--json", "--ephemeral"]) == 0
        assert not home.exists() or not any(home.iterdir())
        assert main(["run", "--cadence", "regular", "--config", config, "--json"]) == 1
        assert main(["repair", "apply", "--config", config, "--json"]) == 0
    capsys.readouterr()
    with DagsterInstance.get() as instance:
        runs = {run.job_name: run for run in instance.get_runs()}
        assert len(instance.get_runs()) == 2 and {r.status for r in runs.values()} == {DagsterRunStatus.SUCCESS}
        apply = instance.all_logs(runs["repair_apply"].run_id, of_type=DagsterEventType.ASSET_OBSERVATION)
        observed = apply[0].dagster_event.event_specific_data.asset_observation
        assert observed.asset_key == AssetKey("repair_plan") and observed.metadata["execute"].value is False
        assert observed.metadata["counts"].value == {"would queue": 1}  # CHAIN_METADATA_MUTABLE: manual review
        run_id = runs["__ephemeral_asset_job__"].run_id
        for name in SNAPSHOT_NAMES:
            event = instance.get_latest_materialization_event(AssetKey(name))
            assert event is not None and event.run_id == run_id, name
        evaluations = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        assert len(evaluations) == 26  # 24 expectation checks, and the run's two outcome checks
        failed = {e.dagster_event.event_specific_data.check_name for e in evaluations
                  if not e.dagster_event.event_specific_data.passed}  # fmt: skip
        assert {"nft_immutable", "no_failing_findings"} <= failed and "every_check_judged" not in failed


def test_an_instance_that_cannot_be_opened_is_a_clear_error(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("storage:\n  no_such_storage: {}\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert main(["run", "--cadence", "regular"]) == 2
    err = capsys.readouterr().err
    assert f"cannot open the Dagster instance in {home}" in err and "--ephemeral" in err
