"""Parquet exports of a report: the findings, the joined frames, the metrics and the history.

One folder per run (beside ``report.html``). Every file carries its schema: fixed Arrow schemas for the
findings, metrics and history files, the joined frames as the pipeline built them; each field has a
``description`` in its Arrow metadata, and the file has ``reconcile.export`` / ``reconcile.run_id`` /
``reconcile.schema_version`` in its schema metadata. ``docs/report-schema.md`` documents the same
columns (a test keeps the two in step). Secrets are masked before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .history import History
from .joined_schema import joined_description
from .metrics import metrics_frame
from .redact import Redactor

SCHEMA_VERSION = "1"
TS = pa.timestamp("us", tz="UTC")
F = tuple[str, pa.DataType, str]

FINDINGS_FIELDS: list[F] = [
    ("run_id", pa.string(), "the run that reported the finding"),
    ("check_id", pa.string(), "catalogue id of the check (DESIGN §3)"),
    ("entity_type", pa.string(), "nft | operation | level | cid | wallet_level | block | tx | kv_key | queue"),
    ("entity_id", pa.string(), "the entity's key: mint, operation id, level, CID, block number, ...; * = every entity"),
    ("layers", pa.list_(pa.string()), "the layers the check compares"),
    ("status", pa.string(), "fail | unknown (a layer it needs could not be read)"),
    ("severity", pa.string(), "info | warning | critical"),
    ("truth", pa.string(), "the layer that wins"),
    ("repair", pa.string(), "planned repair: an action code, MANUAL_REVIEW, RECHECK or NONE"),
    ("details", pa.string(), "what was seen, a JSON object as text"),
]
METRICS_FIELDS: list[F] = [
    ("run_id", pa.string(), "the run"),
    ("group", pa.string(), "sourceImages | blockchain | ipfs | database | crossLayer | blockStore"),
    ("metric", pa.string(), "the metric's name (seed 000 consistencyMetrics names)"),
    ("value", pa.float64(), "its value; null when not measured"),
    ("seed", pa.bool_(), "true when the seed names the metric, false for additions"),
]
RUNS_FIELDS: list[F] = [
    ("run_id", pa.string(), "the run"),
    ("cadence", pa.string(), "immediate | frequent | regular | deep | manual"),
    ("started_at", TS, "when the run started (run_history)"),
    ("status", pa.string(), "the run's status in run_history"),
    ("full_scope", pa.bool_(), "false for frequent and immediate runs, which look at a recent window only"),
    ("fail", pa.int64(), "failing findings"),
    ("unknown", pa.int64(), "unknown findings"),
    ("critical", pa.int64(), "failing findings of severity critical"),
    ("warning", pa.int64(), "failing findings of severity warning"),
    ("info", pa.int64(), "failing findings of severity info"),
]
BY_CHECK_FIELDS: list[F] = [
    ("run_id", pa.string(), "the run"),
    ("check_id", pa.string(), "the check"),
    ("status", pa.string(), "fail | unknown"),
    ("severity", pa.string(), "info | warning | critical"),
    ("count", pa.int64(), "findings of that check, status and severity in the run"),
]
EPISODE_FIELDS: list[F] = [
    ("check_id", pa.string(), "the check"),
    ("entity_type", pa.string(), "the entity's type"),
    ("entity_id", pa.string(), "the entity's key"),
    ("first_seen_run", pa.string(), "the first run of the episode that reported the finding"),
    ("first_seen_at", TS, "that run's start"),
    ("last_seen_at", TS, "the start of the last run that reported it"),
    ("resolved_run", pa.string(), "the first later full-scope run without it; null while open"),
    ("resolved_at", TS, "that run's start; null while open"),
    ("time_to_detect_s", pa.float64(), "first_seen_at minus the last earlier run that judged it clean (upper bound)"),
    ("time_to_repair_s", pa.float64(), "resolved_at minus first_seen_at; null while open"),
    ("open", pa.bool_(), "still reported by the last run of the window"),
    ("age_s", pa.float64(), "for open episodes: the last run's start minus first_seen_at"),
]
FIXED = {
    "findings": (FINDINGS_FIELDS, "every finding of the run"),
    "metrics": (METRICS_FIELDS, "seed 000's consistencyMetrics (and the block-store summary), long form"),
    "history_runs": (RUNS_FIELDS, "the runs of the trend window, oldest first"),
    "history_by_check": (BY_CHECK_FIELDS, "findings per run, check, status and severity"),
    "episodes": (EPISODE_FIELDS, "each stretch of runs in which a finding kept failing"),
}


@dataclass
class ExportFile:
    name: str
    path: Path
    rows: int
    description: str


def schema(fields: list[F], export: str, run_id: str) -> pa.Schema:
    described = [pa.field(name, kind, metadata={"description": text}) for name, kind, text in fields]
    return pa.schema(described, metadata=_file_metadata(export, run_id))


def _file_metadata(export: str, run_id: str) -> dict[str, str]:
    return {"reconcile.export": export, "reconcile.run_id": run_id, "reconcile.schema_version": SCHEMA_VERSION}


def _write(table: pa.Table, folder: Path, export: str, description: str) -> ExportFile:
    path = folder / f"{export}.parquet"
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
    return ExportFile(path.name, path, table.num_rows, description)


def _fixed(frame: pd.DataFrame, export: str, run_id: str, folder: Path, redactor: Redactor) -> ExportFile:
    fields, description = FIXED[export]
    frame = frame[[name for name, _, _ in fields]]
    table = redactor.table(pa.Table.from_pandas(frame, schema=schema(fields, export, run_id), preserve_index=False))
    return _write(table.replace_schema_metadata(_file_metadata(export, run_id)), folder, export, description)


def _joined(frame: pd.DataFrame, export: str, run_id: str, folder: Path, redactor: Redactor) -> ExportFile:
    frame = frame.reset_index(drop=True)
    frame.attrs = {}
    table = redactor.table(pa.Table.from_pandas(frame.assign(run_id=run_id), preserve_index=False))
    table = table.select(["run_id", *[name for name in table.column_names if name != "run_id"]])
    fields = [
        f.with_type(pa.large_string() if pa.types.is_null(f.type) else f.type).with_metadata(
            {"description": joined_description(export, f.name)}
        )
        for f in table.schema
    ]  # an all-null column is text, so every run's file has the same types
    table = table.cast(pa.schema(fields, metadata=_file_metadata(export, run_id)))
    what = "NFT row" if export == "nft_consistency" else "block number"
    return _write(table, folder, export, f"the joined frame {export}, one row per {what}")


def findings_export_frame(findings: pd.DataFrame, run_id: str) -> pd.DataFrame:
    return findings.assign(run_id=run_id, entity_id=findings["entity_id"].astype(str))


def write_exports(
    folder: Path,
    run_id: str,
    findings: pd.DataFrame,
    joined: dict[str, pd.DataFrame | None],
    metrics: dict,
    history: History,
    redactor: Redactor,
) -> list[ExportFile]:
    """Write every export of the run into ``folder``; returns what was written, in the documented order."""
    folder.mkdir(parents=True, exist_ok=True)
    out = [_fixed(findings_export_frame(findings, run_id), "findings", run_id, folder, redactor)]
    out += [_joined(frame, name, run_id, folder, redactor) for name, frame in joined.items() if frame is not None]
    out.append(_fixed(metrics_frame(metrics, run_id), "metrics", run_id, folder, redactor))
    runs = history.runs.assign(started_at=pd.to_datetime(history.runs["started_at"], utc=True))
    out.append(_fixed(runs, "history_runs", run_id, folder, redactor))
    out.append(_fixed(history.by_check, "history_by_check", run_id, folder, redactor))
    out.append(_fixed(history.episodes, "episodes", run_id, folder, redactor))
    return out
