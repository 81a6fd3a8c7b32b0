"""Retention of per-run files: snapshot Parquet files and report folders older than ``[reports] retention_days``.

Every run writes one Parquet file per asset (``{data_dir}/snapshots/{asset}/{run_id}.parquet``) and one report
folder (``{data_dir}/reports/{run_id}/``); at the 5-minute and hourly cadences that is a few hundred files a
day. What is kept:

- everything newer than the retention window (by modification time);
- the newest file of each asset and the newest report, whatever their age (the IO manager and
  ``reconcile report`` fall back to the latest run);
- the ``consistency_findings`` files: the findings of every run are small and are the history (the
  ``findings`` and ``consistency_checks`` tables are never touched here);
- anything that is not a run's file (other names, symlinks, folders under the snapshot folders).

No Dagster here; ``reconcile prune`` and the ``prune_run_files`` job call :func:`prune_run_files`.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .settings import Settings

KEPT_ASSETS = frozenset({"consistency_findings"})
DAY_S = 86_400


@dataclass
class PruneReport:
    """What was (or, in a dry run, would be) removed."""

    dry_run: bool
    cutoff: float  # epoch seconds: older than this goes
    removed: list[str] = field(default_factory=list)
    bytes: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "cutoff": self.cutoff, "removed": len(self.removed),
                "bytes": self.bytes, "errors": self.errors, "paths": self.removed}  # fmt: skip


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(child.stat().st_size for child in path.rglob("*") if child.is_file() and not child.is_symlink())
    return path.stat().st_size


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile
        return None


def _old_but_newest(candidates: list[Path], cutoff: float) -> list[Path]:
    """The candidates older than ``cutoff``, never the newest one."""
    aged = sorted((mtime, str(path)) for path in candidates if (mtime := _mtime(path)) is not None)
    return [Path(path) for mtime, path in aged[:-1] if mtime < cutoff]


def _snapshot_files(data_dir: Path) -> list[list[Path]]:
    root = data_dir / "snapshots"
    if not root.is_dir():
        return []
    folders = [f for f in sorted(root.iterdir()) if f.is_dir() and not f.is_symlink() and f.name not in KEPT_ASSETS]
    return [[p for p in f.glob("*.parquet") if p.is_file() and not p.is_symlink()] for f in folders]


def _report_folders(settings: Settings) -> list[Path]:
    root = Path(settings.reports.output_dir or Path(settings.data_dir) / "reports")
    if not root.is_dir():
        return []
    return [f for f in root.iterdir() if f.is_dir() and not f.is_symlink() and (f / "report.html").is_file()]


def _remove(path: Path, report: PruneReport) -> None:
    try:
        size = _size(path)
        if not report.dry_run:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    except OSError as exc:
        report.errors.append(f"{path}: {exc.strerror or exc}")
        return
    report.removed.append(str(path))
    report.bytes += size


def prune_run_files(settings: Settings, *, dry_run: bool = False, now: float | None = None) -> PruneReport:
    """Remove per-run snapshot files and report folders older than the retention window (none if it is 0)."""
    days = settings.reports.retention_days
    report = PruneReport(dry_run, (now if now is not None else time.time()) - days * DAY_S)
    if days == 0:
        return report
    groups = [*_snapshot_files(Path(settings.data_dir)), _report_folders(settings)]
    for group in groups:
        for path in _old_but_newest(group, report.cutoff):
            _remove(path, report)
    return report
