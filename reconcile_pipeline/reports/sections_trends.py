"""Report sections: seed 000's consistencyMetrics (per layer and cross-layer) and the trends across runs."""

from __future__ import annotations

import pandas as pd

from .charts import COLORS, donut, heatmap, stacked_columns
from .data import ReportData
from .html_parts import (
    badge,
    card,
    code,
    count,
    duration,
    esc,
    ident,
    moment,
    percent,
    plural,
    section,
    short_time,
    table,
    when,
)
from .metrics import METRIC_GROUPS, METRIC_ROWS

HEATMAP_CHECKS = 20
RUNS_LISTED = 12
LEGEND = (
    ("consistent / ok", "ok"),
    ("inconsistent / failed", "critical"),
    ("partial", "warning"),
    ("unverified / unknown", "unknown"),
)
EPISODE_NOTE = (
    "An episode is a stretch of consecutive runs reporting one finding. Time to detect: from the last run that "
    "judged it clean to the first that reported it (an upper bound). Time to repair: from the first report to the "
    "first full-scope run without it."
)


def _metric_value(value: object) -> str:
    if value is None:
        return "<span class='muted'>n/a</span>"
    if isinstance(value, str):
        return esc(when(pd.Timestamp(value))) if value[:2] == "20" else esc(value)
    return count(value)


def _metric_label(row) -> str:
    tag = "" if row.seed else "<span class='tag'>added</span>"
    note = f"<div class='note'>{esc(row.note)}</div>" if row.note else ""
    return f"{esc(row.label)}{tag}{note}"


def _group(metrics: dict, group: str) -> str:
    values = metrics[group]
    rows = [[_metric_label(r), _metric_value(values.get(r.key))] for r in METRIC_ROWS if r.group == group]
    return card(table(["Metric", "Value"], rows, numeric=(1,)), METRIC_GROUPS[group], spaced=False)


def _donuts(metrics: dict) -> str:
    charts = []
    cross = metrics.get("crossLayer")
    if cross:
        parts = [
            ("consistent", cross.get("consistentOperations", 0), COLORS["ok"]),
            ("inconsistent", cross.get("inconsistentOperations", 0), COLORS["critical"]),
            ("unverified", cross.get("unverifiedOperations", 0), COLORS["unknown"]),
        ]
        whole = sum(v for _, v, _ in parts)
        charts.append(
            donut(
                parts,
                label="NFT rows: consistent, inconsistent, unverified",
                center=percent(parts[0][1], whole),
                sub="consistent",
            )
        )
    blocks = metrics.get("blockStore")
    if blocks:
        parts = [
            (s, blocks.get(f"status_{s}", 0), COLORS[s if s != "unknown" else "unknown"])
            for s in ("ok", "rehydrated", "partial", "failed", "unknown")
        ]
        charts.append(donut(parts, label="Blocks by status", center=count(blocks.get("total_blocks", 0)), sub="blocks"))
    if not charts:
        return ""
    legend = "".join(badge(name, kind) for name, kind in LEGEND)
    items = "".join(f"<div class='donut'>{chart}</div>" for chart in charts)
    return f"<div class='card donuts'>{items}<div class='legend'>{legend}</div></div>"


def metrics_section(data: ReportData) -> str:
    metrics = data.metrics
    if not metrics:
        body = "<p class='muted'>The joined frames of this run are not available: its metrics cannot be computed.</p>"
    else:
        groups = "".join(_group(metrics, g) for g in METRIC_GROUPS if g in metrics)
        body = f"{_donuts(metrics)}<div class='grid metrics'>{groups}</div>"
    lead = (
        "Seed 000's <code>consistencyMetrics</code> per layer and across layers, and seed 004's block statuses. "
        "<span class='tag'>added</span> marks numbers this pipeline adds, such as what could not be read."
    )
    return section("metrics", "Consistency metrics", lead, body)


def run_labels(runs: pd.DataFrame) -> list[str]:
    """Short x-axis labels: time of day when the runs share a day (with seconds when they share a minute)."""
    times = pd.to_datetime(runs["started_at"], utc=True)
    if times.isna().any() or times.dt.date.nunique() > 1:
        return [short_time(t) for t in times]
    fmt = "%H:%M:%S" if times.dt.floor("min").nunique() < len(times) else "%H:%M"
    return [t.strftime(fmt) for t in times]


def _trend_chart(runs: pd.DataFrame, run_id: str) -> str:
    labels = run_labels(runs)
    series = [(s, COLORS[s], runs[s].tolist()) for s in ("critical", "warning", "info", "unknown")]
    here = runs.index[runs["run_id"] == run_id]
    highlight = int(here[-1]) if len(here) else None
    return stacked_columns(labels, series, label="Findings per run by severity (unknown in grey)", highlight=highlight)


def _consistency_chart(data: ReportData) -> str:
    """Joined NFT rows per run: consistent, inconsistent, unverified (runs that stored their metrics)."""
    trend = data.history.metrics
    if trend is None or trend.empty:
        return "<p class='note'>No run in this window stored its consistency metrics.</p>"
    runs = data.history.runs.merge(trend, on="run_id", how="inner")
    colours = {"consistent": COLORS["ok"], "inconsistent": COLORS["critical"], "unverified": COLORS["unknown"]}
    series = [(name, colour, runs[name].fillna(0).astype(int).tolist()) for name, colour in colours.items()]
    here = runs.index[runs["run_id"] == data.run.run_id]
    highlight = int(here[-1]) if len(here) else None
    label = "NFT rows per run: consistent, inconsistent, unverified"
    return stacked_columns(run_labels(runs), series, label=label, highlight=highlight)


def _heatmap(data: ReportData) -> str:
    runs, by_check = data.history.runs, data.history.by_check
    if by_check.empty:
        return "<p class='muted'>No findings in these runs.</p>"
    grid = by_check.pivot_table(index="check_id", columns=["status", "run_id"], values="count", aggfunc="sum")
    fails = grid.get("fail", pd.DataFrame(index=grid.index)).reindex(columns=list(runs["run_id"])).fillna(0)
    unknown = grid.get("unknown", pd.DataFrame(index=grid.index)).reindex(columns=list(runs["run_id"])).fillna(0)
    order = (fails.sum(axis=1) * 1e6 + unknown.sum(axis=1)).sort_values(ascending=False).index[:HEATMAP_CHECKS]
    fails, unknown = fails.loc[order], unknown.loc[order]
    chart = heatmap(
        list(order),
        run_labels(runs),
        fails.to_numpy().tolist(),
        unknown=unknown.to_numpy().tolist(),
        label="Failing findings by check and run; grey: only unknown",
    )
    more = len(grid) - len(order)
    note = f"<p class='note'>The {HEATMAP_CHECKS} checks with the most findings; {more} more in the history export.</p>"
    return chart + (note if more > 0 else "")


def _times(data: ReportData) -> str:
    rows = [
        [
            ident(r.check_id),
            count(r.episodes),
            count(r.open),
            count(r.resolved),
            duration(r.detect_median_s),
            duration(r.detect_max_s),
            duration(r.repair_median_s),
            duration(r.repair_max_s),
            duration(r.oldest_open_s),
        ]
        for r in data.history.times.itertuples()
    ]
    headers = [
        "Check",
        "Episodes",
        "Open",
        "Repaired",
        "Detect (median)",
        "Detect (max)",
        "Repair (median)",
        "Repair (max)",
        "Oldest open",
    ]
    return table(headers, rows, numeric=tuple(range(1, 9)), empty="No failing findings in these runs.")


def _runs_table(runs: pd.DataFrame, run_id: str) -> str:
    recent = runs.tail(RUNS_LISTED).iloc[::-1]
    rows = [
        [
            code(r.run_id) + (" <span class='tag'>this report</span>" if r.run_id == run_id else ""),
            moment(r.started_at),
            esc(r.cadence),
            esc(r.status),
            count(r.critical),
            count(r.fail),
            count(r.unknown),
        ]
        for r in recent.itertuples()
    ]
    return table(["Run", "Started", "Cadence", "Status", "Critical", "Failing", "Unknown"], rows, numeric=(4, 5, 6))


def trends_section(data: ReportData) -> str:
    history = data.history
    note = f"<p class='notes'>{esc(history.note)}</p>" if history.note else ""
    body = "".join(
        [
            note,
            card(_trend_chart(history.runs, data.run.run_id), "Findings per run", spaced=False),
            card(_consistency_chart(data), "Consistency per run (seed 000's crossLayer metrics)"),
            card(_heatmap(data), "Failing findings by check"),
            card(_times(data) + f"<p class='note'>{esc(EPISODE_NOTE)}</p>", "Time to detect and to repair"),
            card(_runs_table(history.runs, data.run.run_id), "Recent runs"),
        ]
    )
    lead = f"The last {plural(len(history.runs), 'run')} up to this one, from the run history table."
    return section("trends", "Trends across runs", lead, body)
