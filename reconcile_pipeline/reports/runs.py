"""Find a past run and load what it left behind: the Parquet files of its assets, its history row.

A run of the reconciliation writes one Parquet file per asset (``{data_dir}/snapshots/{asset}/{run_id}.parquet``,
see ``defs/io.py``) and, when the database can be written, a ``run_history`` row and its ``findings`` rows.
The report is built from those alone, so it can be rebuilt for any past run (``reconcile report --run``).
Findings come from the Parquet file, else from the findings table; a database that cannot be read makes
the history *unavailable* (said in the report), never empty.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from .. import clients
from ..checks.findings import FINDING_COLUMNS, empty_findings
from ..db.models import TABLES
from ..layers.errors import LayerError
from ..settings import Settings
from ..snapshots import SNAPSHOT_NAMES

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ReportError(ValueError):
    """A report cannot be built: says which run and what is missing."""


@dataclass
class RunInfo:
    """One run as the history table knows it (or as its files suggest when the table cannot be read)."""

    run_id: str
    cadence: str = "unknown"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: str = "unknown"


@dataclass
class RunFrames:
    """Everything one run produced that the report reads."""

    run_id: str
    findings: pd.DataFrame
    nft: pd.DataFrame | None = None
    blocks: pd.DataFrame | None = None
    snapshots: dict[str, pd.DataFrame] = field(default_factory=dict)
    findings_source: str = "parquet"  # parquet | database | given


def check_run_id(run_id: str) -> str:
    if not RUN_ID_PATTERN.match(run_id):
        raise ReportError(f"not a run id: {run_id!r} (letters, digits, '.', '_' and '-' only)")
    return run_id


def asset_path(settings: Settings, asset: str, run_id: str) -> Path:
    return Path(settings.data_dir) / "snapshots" / asset / f"{check_run_id(run_id)}.parquet"


def _read_parquet(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path, engine="pyarrow") if path.is_file() else None


def _findings_from_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of the findings table in the shape of the findings frame (details as JSON text)."""
    if rows.empty:
        return empty_findings()
    frame = rows.copy()
    frame["details"] = [json.dumps(d or {}, sort_keys=True, default=str) for d in frame["details"]]
    frame["layers"] = [list(layers or []) for layers in frame["layers"]]
    return frame[FINDING_COLUMNS].reset_index(drop=True)


def load_run(settings: Settings, run_id: str) -> RunFrames:
    """The run's findings, joined frames and snapshots; ReportError when the run left no findings anywhere."""
    findings = _read_parquet(asset_path(settings, "consistency_findings", run_id))
    source = "parquet"
    if findings is None:
        findings, source = _findings_from_database(settings, run_id), "database"
    if findings is None:
        raise ReportError(
            f"no findings for run {run_id}: neither {asset_path(settings, 'consistency_findings', run_id)} "
            "nor rows in the findings table"
        )
    snapshots = {
        name: frame
        for name in SNAPSHOT_NAMES
        if (frame := _read_parquet(asset_path(settings, name, run_id))) is not None
    }
    return RunFrames(
        run_id=run_id,
        findings=findings,
        nft=_read_parquet(asset_path(settings, "nft_consistency", run_id)),
        blocks=_read_parquet(asset_path(settings, "block_consistency", run_id)),
        snapshots=snapshots,
        findings_source=source,
    )


def _findings_from_database(settings: Settings, run_id: str) -> pd.DataFrame | None:
    try:
        with clients.database_client(settings) as client:
            rows = client.read_findings(run_id=run_id)
            known = not rows.empty or run_id in set(client.read_run_history()["run_id"])
    except LayerError:
        return None
    return _findings_from_table(rows) if known else None


def read_history_table(settings: Settings) -> tuple[pd.DataFrame | None, str | None]:
    """The run_history table (oldest first) and, if it could not be read, why."""
    try:
        with clients.database_client(settings) as client:
            return client.read_run_history(), None
    except LayerError as exc:
        return None, f"run history unavailable: {exc}"


def parquet_runs(settings: Settings) -> pd.DataFrame:
    """Runs that left a findings file: run_id and the file's time (UTC), oldest first."""
    folder = Path(settings.data_dir) / "snapshots" / "consistency_findings"
    files = [(p.stem, datetime.fromtimestamp(p.stat().st_mtime, UTC)) for p in folder.glob("*.parquet")]
    frame = pd.DataFrame(files, columns=["run_id", "written_at"])
    return frame.sort_values("written_at", ignore_index=True)


def list_runs(settings: Settings) -> pd.DataFrame:
    """Every run known to the history table or the Parquet folder, oldest first, with what each left behind."""
    history, _ = read_history_table(settings)
    files = parquet_runs(settings)
    runs = history[["run_id", "cadence", "started_at", "status", "counts"]] if history is not None else None
    if runs is None or runs.empty:
        runs = files.rename(columns={"written_at": "started_at"}).assign(
            cadence="unknown", status="unknown", counts=None
        )
    else:
        extra = files[~files["run_id"].isin(set(runs["run_id"]))].rename(columns={"written_at": "started_at"})
        runs = pd.concat([runs, extra.assign(cadence="unknown", status="unknown", counts=None)], ignore_index=True)
    runs = runs.assign(has_parquet=runs["run_id"].isin(set(files["run_id"])))
    return runs.sort_values("started_at", kind="stable", ignore_index=True)


def latest_run_id(settings: Settings) -> str:
    runs = list_runs(settings)
    if runs.empty:
        raise ReportError(f"no runs yet: no run history and no findings under {settings.data_dir}/snapshots")
    return str(runs["run_id"].iloc[-1])


def run_info(settings: Settings, run_id: str, history: pd.DataFrame | None) -> RunInfo:
    """The run's history row, else what its findings file says (its time), else a bare RunInfo."""
    if history is not None and not history.empty:
        rows = history[history["run_id"] == run_id]
        if not rows.empty:
            row = rows.iloc[-1]
            finished = row["finished_at"]
            return RunInfo(
                run_id=run_id,
                cadence=str(row["cadence"]),
                started_at=row["started_at"].to_pydatetime(),
                finished_at=None if pd.isna(finished) else finished.to_pydatetime(),
                status=str(row["status"]),
            )
    path = asset_path(settings, "consistency_findings", run_id)
    written = datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.is_file() else None
    return RunInfo(run_id=run_id, started_at=written, finished_at=written)


def read_columns(settings: Settings, table: str, columns: list[str], run_ids: list[str]) -> pd.DataFrame:
    """Chosen columns of a per-run table for some runs (a narrow read: the trends need keys, not details)."""
    spec = TABLES[table]
    with clients.database_client(settings) as client:
        with client.connect() as conn:
            statement = select(*(spec.c[name] for name in columns)).where(spec.c.run_id.in_(run_ids))
            result = conn.execution_options(yield_per=200_000).execute(statement)
            parts = [pd.DataFrame.from_records(part, columns=columns) for part in result.partitions()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
