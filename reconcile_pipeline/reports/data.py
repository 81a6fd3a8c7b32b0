"""Assemble a report's numbers: one :class:`ReportData` from a run's frames, the history and the repair ledger.

Everything the HTML shows and the exports hold comes from here, so a test can compare these numbers
with the findings of a known world without reading HTML. Reads only the database (history, ledger);
a database that cannot be read leaves notes in the report, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from ..layers.errors import LayerError
from ..settings import Settings
from .frame_tools import compact
from .history import KEY_COLUMNS, History, build_history, window
from .layers import LayerHealth, layer_health
from .metrics import run_metrics
from .repairs import RepairSummary, repair_summary
from .runs import RunFrames, RunInfo, read_columns
from .summary import EntityFindings, check_counts, finding_samples, totals, unknown_reasons, worst_entities


@dataclass
class ReportData:
    run: RunInfo
    generated_at: datetime
    totals: dict[str, int]
    judged: dict[str, int]  # entities the run judged: nft rows, blocks
    layers: list[LayerHealth]
    checks: pd.DataFrame
    worst: list[EntityFindings]
    unknowns: pd.DataFrame
    repairs: RepairSummary
    metrics: dict
    history: History
    samples: dict[str, tuple[pd.DataFrame, int]]
    per_check: int
    findings_source: str
    notes: list[str] = field(default_factory=list)


def current_keys(run_id: str, findings: pd.DataFrame) -> pd.DataFrame:
    return findings[["check_id", "entity_type", "entity_id", "status", "severity"]].assign(run_id=run_id)[KEY_COLUMNS]


def load_history(
    settings: Settings | None, findings: pd.DataFrame, info: RunInfo, table: pd.DataFrame | None, note: str | None
) -> History:
    """The trend window up to this run: earlier runs' keys from the findings table, this run's from its frame."""
    limit = settings.reports.history_runs if settings is not None else 1
    started = pd.Timestamp(info.started_at) if info.started_at is not None else None
    runs = window(table, info.run_id, started, limit)
    runs.loc[runs["run_id"] == info.run_id, "cadence"] = info.cadence
    earlier = [run for run in runs["run_id"] if run != info.run_id]
    keys = [current_keys(info.run_id, findings)]
    if earlier and settings is not None:
        try:
            keys.insert(0, read_columns(settings, "findings", KEY_COLUMNS, earlier))
        except LayerError as exc:
            note = f"findings of earlier runs unavailable: {exc}"
            runs = runs[runs["run_id"] == info.run_id].reset_index(drop=True)
    return build_history(runs, pd.concat(keys, ignore_index=True), note)


def next_run_start(history: pd.DataFrame | None, info: RunInfo) -> datetime | None:
    """When the run after this one started (None: this is the latest), bounding "what was done about it"."""
    if history is None or history.empty or info.started_at is None:
        return None
    later = history.loc[history["started_at"] > pd.Timestamp(info.started_at), "started_at"]
    return later.min().to_pydatetime() if len(later) else None


def judged_entities(frames: RunFrames) -> dict[str, int]:
    nft = 0 if frames.nft is None else len(frames.nft)
    blocks = 0 if frames.blocks is None else len(frames.blocks)
    return {"nft_rows": nft, "blocks": blocks, "entities": nft + blocks}


def assemble(
    settings: Settings | None,
    frames: RunFrames,
    info: RunInfo,
    *,
    history_table: pd.DataFrame | None = None,
    history_note: str | None = None,
) -> ReportData:
    """All of the report's numbers for one run."""
    findings = compact(frames.findings)
    worst_limit = settings.reports.worst_entities if settings is not None else 20
    per_check = settings.reports.rows_per_check if settings is not None else 25
    repairs = repair_summary(findings, settings, start=info.started_at, end=next_run_start(history_table, info))
    verified_at = info.started_at.isoformat(timespec="seconds") if info.started_at else None
    metrics = run_metrics(frames, verified_at=verified_at, repair_events=repairs.events, rehydrated=repairs.rehydrated)
    from_table = frames.findings_source == "database"
    notes = ["findings read from the findings table (the run's Parquet file is gone)"] if from_table else []
    if frames.nft is None and frames.blocks is None:
        notes.append("the joined frames of this run are not on disk: metrics and entity counts are missing")
    return ReportData(
        run=info,
        generated_at=datetime.now(UTC),
        totals=totals(findings),
        judged=judged_entities(frames),
        layers=layer_health(findings, frames.snapshots),
        checks=check_counts(findings),
        worst=worst_entities(findings, worst_limit),
        unknowns=unknown_reasons(findings),
        repairs=repairs,
        metrics=metrics,
        history=load_history(settings, findings, info, history_table, history_note),
        samples=finding_samples(findings, per_check),
        per_check=per_check,
        findings_source=frames.findings_source,
        notes=notes + repairs.notes,
    )
