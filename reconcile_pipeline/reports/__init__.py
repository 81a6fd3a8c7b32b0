"""Consistency reports for analysts (DESIGN §8): one self-contained HTML file and Parquet exports per run.

- :mod:`.runs`      find a past run and load its Parquet files and history row
- :mod:`.summary`, :mod:`.layers`, :mod:`.metrics`, :mod:`.repairs`, :mod:`.history`  the numbers (pure)
- :mod:`.data`      assemble them into one :class:`~.data.ReportData`
- :mod:`.charts`    inline SVG;  :mod:`.html` (+ ``sections_*``, ``html_parts``, ``style``)  the page
- :mod:`.exports`   Parquet with documented schemas (``docs/report-schema.md``)
- :mod:`.build`     :func:`~.build.build_report`, used by the ``consistency_report`` asset and ``reconcile report``
"""

from .build import ReportResult, build_report, report_folder
from .runs import ReportError, RunFrames, latest_run_id, list_runs, load_run

__all__ = [
    "ReportError",
    "ReportResult",
    "RunFrames",
    "build_report",
    "latest_run_id",
    "list_runs",
    "load_run",
    "report_folder",
]
