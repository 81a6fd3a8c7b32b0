"""Retention: per-run files past ``[reports] retention_days`` go; the newest, the findings and other files stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dagster import build_op_context

from reconcile_pipeline.cli import main
from reconcile_pipeline.defs.resources import SettingsResource
from reconcile_pipeline.defs.retention import prune_files
from reconcile_pipeline.retention import DAY_S, prune_run_files
from reconcile_pipeline.settings import load_settings

NOW = time.time()


def touch(path: Path, age_days: float, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - age_days * DAY_S, NOW - age_days * DAY_S))
    return path


def report_folder(root: Path, run: str, age_days: float) -> Path:
    touch(root / run / "findings.parquet", age_days, 100)
    touch(root / run / "report.html", age_days, 50)
    os.utime(root / run, (NOW - age_days * DAY_S, NOW - age_days * DAY_S))
    return root / run


def layout(data: Path) -> dict[str, Path]:
    snap = data / "snapshots"
    return {
        "old_kv": touch(snap / "blockstore_kv" / "r1.parquet", 40),
        "mid_kv": touch(snap / "blockstore_kv" / "r2.parquet", 35),
        "new_kv": touch(snap / "blockstore_kv" / "r3.parquet", 1),
        "only_pins": touch(snap / "pinata_pins" / "r1.parquet", 90),  # the newest of its asset: kept
        "findings": touch(snap / "consistency_findings" / "r1.parquet", 90),  # the history: kept
        "tmp": touch(snap / "blockstore_kv" / "r0.parquet.tmp", 90),  # being written: not a run's file
        "other": touch(snap / "blockstore_kv" / "notes.txt", 90),
        "old_report": report_folder(data / "reports", "r1", 40),
        "new_report": report_folder(data / "reports", "r3", 1),
        "stray": touch(data / "reports" / "loose.txt", 90),
    }


def settings_for(data: Path, days: int = 30):
    return load_settings(None, data_dir=str(data), reports={"retention_days": days})


def test_prunes_old_run_files_and_keeps_the_rest(tmp_path: Path) -> None:
    paths = layout(tmp_path)
    dry = prune_run_files(settings_for(tmp_path), dry_run=True, now=NOW)
    assert sorted(dry.removed) == sorted(str(paths[k]) for k in ("old_kv", "mid_kv", "old_report"))
    assert dry.bytes == 10 + 10 + 150 and all(path.exists() for path in paths.values())
    done = prune_run_files(settings_for(tmp_path), now=NOW)
    assert done.removed == dry.removed and done.errors == []
    gone = {"old_kv", "mid_kv", "old_report"}
    assert {k for k, path in paths.items() if not path.exists()} == gone


def test_zero_days_keeps_everything(tmp_path: Path) -> None:
    paths = layout(tmp_path)
    assert prune_run_files(settings_for(tmp_path, 0), now=NOW).removed == []
    assert all(path.exists() for path in paths.values())


def test_an_empty_data_dir_is_fine(tmp_path: Path) -> None:
    assert prune_run_files(settings_for(tmp_path / "nothing-yet"), now=NOW).removed == []


def test_cli_and_the_dagster_op(tmp_path: Path, capsys, monkeypatch) -> None:
    paths = layout(tmp_path)
    monkeypatch.setenv("RECONCILE_DATA_DIR", str(tmp_path))
    assert main(["prune", "--dry-run"]) == 0
    assert "would remove 3 per-run file(s) or folder(s), 170 bytes (older than 30 days)" in capsys.readouterr().out
    assert paths["old_kv"].exists()
    context = build_op_context(resources={"settings": SettingsResource(config_path=None)})
    result = prune_files(context)
    assert result.value["removed"] == 3 and not paths["old_kv"].exists() and paths["new_kv"].exists()
