"""Crash safety of a whole reconciliation (issue 9, item 4): kill -9 mid-run, then rerun; two runs at once.

`python -m reconcile_pipeline run` runs in a child against a local world and is killed: once exactly between
the findings and the audit rows of the recording (a patched insert SIGKILLs the child: with separate
transactions the findings would stay without their audit rows), then after random delays (fixed seed).
After every kill, each run id in the findings, consistency_checks and run_history tables is complete (all
three, the counts agreeing, the manifest's findings) or absent. Then two runs at once: both complete,
neither touches the other's rows, each equals the manifest.
"""

from __future__ import annotations

import random
import signal
import time

import pytest

from reconcile_pipeline.layers.database import DatabaseClient
from tests.test_crash_support import kill_after, output, start_child
from tests.worldkit import expected_findings, finding_keys, running_world

KILL_SEED = 5
# the CLI, but the audit rows' insert SIGKILLs the process first: after the findings, before their audit rows
KILLED_WHILE_RECORDING = r"""
import os, signal, sys
from reconcile_pipeline.layers.database import DatabaseClient
insert = DatabaseClient._insert_groups
def insert_unless_audit(conn, table, groups):
    if table.name == "consistency_checks":
        os.kill(os.getpid(), signal.SIGKILL)
    return insert(conn, table, groups)
DatabaseClient._insert_groups = staticmethod(insert_unless_audit)
from reconcile_pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    with running_world(folder, seed=13, nfts=10, blocks=12) as (world, settings):
        yield folder, settings, expected_findings(world.manifest())


def recorded_runs(settings) -> dict[str, dict]:
    """Each run id found in any of the three tables, checked complete; what it recorded."""
    with DatabaseClient(settings.database.url.get_secret_value()) as db:
        findings, audit, history = db.read_findings(), db.read_consistency_checks(), db.read_run_history()
    runs = {}
    for run_id in set(findings["run_id"]) | set(audit["run_id"]) | set(history["run_id"]):
        mine, checks = findings[findings["run_id"] == run_id], audit[audit["run_id"] == run_id]
        row = history[history["run_id"] == run_id]
        assert len(row) == 1 and row["status"].iloc[0] == "SUCCESS", f"run {run_id} has no history row"
        assert len(mine) == sum(row["counts"].iloc[0].values()), f"run {run_id}: findings and history disagree"
        assert len(checks) > 0, f"run {run_id}: findings without audit rows"
        failed = checks[checks["status"] == "FAILED"]
        runs[run_id] = {"findings": finding_keys(mine.assign(entity_id=mine["entity_id"].astype(str))),
                        "unknown": int((mine["status"] == "unknown").sum()), "audit_rows": len(checks),
                        "audit_failed": set(zip(failed["check_id"], failed["entity_type"], failed["entity_id"],
                                                strict=True))}  # fmt: skip
    return runs


def assert_every_run_complete(settings, manifest: set) -> dict[str, dict]:
    runs = recorded_runs(settings)
    for run_id, run in runs.items():
        assert run["findings"] == manifest and run["audit_failed"] == manifest and run["unknown"] == 0, run_id
    assert len({run["audit_rows"] for run in runs.values()}) <= 1  # every recorded run wrote the same rows
    return runs


def run_command(folder) -> list[str]:
    return ["run", "--cadence", "regular", "--config", str(folder / "reconcile.toml")]


@pytest.fixture(scope="module")
def killed_while_recording(world):
    """(seconds the child ran until killed while recording: about a whole run, the runs recorded after)."""
    folder, settings, _ = world
    started = time.monotonic()
    child = start_child(["-c", KILLED_WHILE_RECORDING, *run_command(folder)], folder / "recording")
    code = child.wait(timeout=600)
    assert code == -signal.SIGKILL, output(child)[1][-2000:]
    return time.monotonic() - started, recorded_runs(settings)


def test_a_run_killed_between_findings_and_audit_rows_leaves_nothing_half_written(killed_while_recording):
    _, runs = killed_while_recording
    assert runs == {}  # the findings insert was rolled back with the rest: no findings without audit rows


def test_kill_minus_nine_at_random_points_of_runs_then_two_runs_at_once(world, killed_while_recording):
    folder, settings, manifest = world
    duration, _ = killed_while_recording  # the random kills fall inside a run this long
    rng = random.Random(KILL_SEED)
    killed = []
    for attempt in range(2):
        delay = rng.uniform(0.15 * duration, 0.8 * duration)  # the recording's end is the fixture's kill
        child = start_child(["-m", "reconcile_pipeline", *run_command(folder)], folder / f"killed{attempt}")
        if kill_after(child, delay):
            killed.append(round(delay, 1))
        assert_every_run_complete(settings, manifest)
    assert killed, "no run was killed: the delays were too long"

    before = set(recorded_runs(settings))
    children = [start_child(["-m", "reconcile_pipeline", *run_command(folder)], folder / f"both{i}") for i in (0, 1)]
    for child in children:
        assert child.wait(timeout=600) == 1, output(child)[1][-2000:]  # the manifest's failing findings
    runs = assert_every_run_complete(settings, manifest)
    assert len(set(runs) - before) == 2  # the rerun(s): each complete, exactly the manifest, side by side
