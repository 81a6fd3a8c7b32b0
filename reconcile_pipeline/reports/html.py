"""The report page: one self-contained HTML file (styles and SVG charts inline, no script, nothing fetched).

A Content-Security-Policy meta tag forbids every load (``default-src 'none'``) except inline styles and
``data:`` images, so even a URL that slipped into a finding's text could not make the page reach out.
"""

from __future__ import annotations

from .data import ReportData
from .exports import ExportFile
from .html_parts import code, count, esc, section, table, when
from .sections_details import findings_section, repairs_section, unknowns_section, worst_section
from .sections_overview import banner, checks_section, layers_section, tiles
from .sections_trends import metrics_section, trends_section
from .style import CSS

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
NAV = (
    ("overview", "Overview"),
    ("layers", "Layers"),
    ("checks", "Checks"),
    ("worst", "Worst entities"),
    ("unknowns", "Unknowns"),
    ("repairs", "Repairs"),
    ("metrics", "Metrics"),
    ("trends", "Trends"),
    ("findings", "Findings"),
    ("data", "Data"),
)


def _header(data: ReportData) -> str:
    run = data.run
    meta = (
        f"Run {code(run.run_id)} · cadence {esc(run.cadence)} · started {esc(when(run.started_at))} · "
        f"report generated {esc(when(data.generated_at))}"
    )
    return f"<header class='top'><h1>Consistency report</h1><div class='meta'>{meta}</div></header>"


def _nav() -> str:
    return "<nav>" + "".join(f"<a href='#{anchor}'>{esc(title)}</a>" for anchor, title in NAV) + "</nav>"


def _overview(data: ReportData) -> str:
    notes = "".join(f"<p class='notes'>{esc(n)}</p>" for n in data.notes)
    return section("overview", "Overview", "", banner(data) + tiles(data) + notes)


def _data_section(exports: list[ExportFile]) -> str:
    rows = [[f"<a href='{esc(e.name)}'>{esc(e.name)}</a>", count(e.rows), esc(e.description)] for e in exports]
    usage = (
        "<pre class='card usage'>"
        'import pandas as pd\nfindings = pd.read_parquet("findings.parquet")\n\n'
        "-- DuckDB\nSELECT check_id, severity, count(*) FROM 'findings.parquet' GROUP BY ALL ORDER BY 3 DESC;</pre>"
    )
    body = "<div class='card'>" + table(["File", "Rows", "What it holds"], rows, numeric=(1,)) + "</div>" + usage
    lead = (
        "Beside this file: Parquet exports of everything above, with the schema in each file's metadata and in "
        "docs/report-schema.md. They load in pandas or DuckDB."
    )
    return section("data", "Data", lead, body)


def render(data: ReportData, exports: list[ExportFile]) -> str:
    body = "".join(
        [
            _overview(data),
            layers_section(data),
            checks_section(data),
            worst_section(data),
            unknowns_section(data),
            repairs_section(data),
            metrics_section(data),
            trends_section(data),
            findings_section(data),
            _data_section(exports),
        ]
    )
    title = f"Consistency report · {data.run.run_id}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<meta name='referrer' content='no-referrer'><link rel='icon' href='data:,'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"{_header(data)}{_nav()}<main>{body}</main>"
        f"<footer>reconcile-pipeline · run {esc(data.run.run_id)} · {count(data.totals['findings'])} findings</footer>"
        "</body></html>"
    )
