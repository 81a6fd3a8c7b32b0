"""Build one run's report: ``report.html`` and its Parquet exports in ``{output_dir}/{run_id}/``.

Used by the ``consistency_report`` asset (with the frames Dagster hands it) and by ``reconcile report``
(which loads the frames of any past run from their Parquet files). The output folder defaults to
``{data_dir}/reports`` (``[reports] output_dir``); ``out_dir`` overrides it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings
from .data import ReportData, assemble
from .exports import ExportFile, write_exports
from .html import render
from .redact import Redactor
from .runs import RunFrames, check_run_id, latest_run_id, load_run, read_history_table, run_info

REPORT_FILE = "report.html"


@dataclass
class ReportResult:
    run_id: str
    folder: Path
    html_path: Path
    html_bytes: int
    exports: list[ExportFile]
    data: ReportData


def report_folder(settings: Settings, run_id: str, out_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where a run's report goes: ``out_dir`` as given, else ``{output_dir or data_dir/reports}/{run_id}``."""
    if out_dir is not None:
        return Path(out_dir)
    base = settings.reports.output_dir or Path(settings.data_dir) / "reports"
    return Path(base) / check_run_id(run_id)


def _write_text(path: Path, text: str) -> int:
    tmp = path.with_suffix(".html.tmp")
    data = text.encode("utf-8")
    tmp.write_bytes(data)
    tmp.replace(path)
    return len(data)


def build_report(
    settings: Settings,
    run_id: str | None = None,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    frames: RunFrames | None = None,
    cadence: str | None = None,
) -> ReportResult:
    """Assemble, export and render the report of ``run_id`` (default: the given frames' run, else the latest)."""
    run_id = check_run_id(run_id or (frames.run_id if frames is not None else latest_run_id(settings)))
    frames = frames if frames is not None else load_run(settings, run_id)
    history_table, note = read_history_table(settings)
    info = run_info(settings, run_id, history_table)
    if cadence:
        info.cadence = cadence
    data = assemble(settings, frames, info, history_table=history_table, history_note=note)
    redactor = Redactor.from_settings(settings)
    folder = report_folder(settings, run_id, out_dir)
    joined = {"nft_consistency": frames.nft, "block_consistency": frames.blocks}
    exports = write_exports(folder, run_id, frames.findings, joined, data.metrics, data.history, redactor)
    html_path = folder / REPORT_FILE
    size = _write_text(html_path, redactor.text(render(data, exports)))
    return ReportResult(run_id, folder, html_path, size, exports, data)
