"""Report sections: the worst entities, unknowns and why, repairs and reviews, the findings of each check."""

from __future__ import annotations

import pandas as pd

from .data import ReportData
from .html_parts import badge, card, code, count, details, duration, esc, ident, moment, plural, section, table
from .summary import EntityFindings, repair_kind

OPEN_ENTITIES = 3  # the worst few are open when the page loads
SHOWN_ACTIVITY = 50
REPAIR_TILES = (
    ("automatic", "Automatic repairs", "findings an automatic action restores"),
    ("manual", "Wait for review", "findings only a person can settle"),
    ("recheck", "Re-check", "looked at again by a later run"),
    ("none", "Nothing to do", "warnings without an action"),
)


def _status_badge(status: str, severity: str) -> str:
    return badge(severity if status == "fail" else "unknown")


def _tally(entity: EntityFindings) -> str:
    parts = [
        (entity.critical, "critical"),
        (entity.warning, "warning"),
        (entity.info, "info"),
        (entity.unknown, "unknown"),
    ]
    return "".join(badge(f"{n} {kind}", kind) for n, kind in parts if n)


def _entity(entity: EntityFindings, opened: bool) -> str:
    rows = [
        [ident(f.check_id), _status_badge(f.status, f.severity), ident(f.repair), details(f.details)]
        for f in entity.findings.itertuples()
    ]
    more = f"<p class='note'>and {plural(entity.more, 'more finding')} in findings.parquet</p>" if entity.more else ""
    title = f"<span class='entity-title'>{esc(entity.entity_type)} {code(entity.entity_id)}</span>"
    summary = f"<summary>{title}<span class='score'>{_tally(entity)}</span></summary>"
    body = table(["Check", "Severity", "Repair", "Details"], rows) + more
    return f"<details{' open' if opened else ''}>{summary}<div class='body'>{body}</div></details>"


def worst_section(data: ReportData) -> str:
    shown = len(data.worst)
    lead = (
        f"The {count(shown)} {'entity' if shown == 1 else 'entities'} with the heaviest findings (critical 100, "
        "warning 10, info 1, unknown ½ each); the worst are open, click any other to see its findings."
    )
    body = "".join(_entity(e, i < OPEN_ENTITIES) for i, e in enumerate(data.worst))
    return section("worst", "Worst entities", lead, body or "<p class='muted'>No entity has a finding.</p>")


def _some(items: list[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return esc(shown + (f" and {len(items) - limit} more" if len(items) > limit else ""))


def unknowns_section(data: ReportData) -> str:
    unreadable = [(layer.title, m) for layer in data.layers for m in layer.messages if layer.read != "ok"]
    parts = (
        [
            card(
                table(["Layer", "Why"], [[esc(t), esc(m[:400])] for t, m in unreadable]),
                "Layers not fully read",
                spaced=False,
            )
        ]
        if unreadable
        else []
    )
    rows = [
        [esc(r.reason[:400]), _some(r.checks, 6), count(r["count"]), esc(", ".join(r.examples))]
        for _, r in data.unknowns.iterrows()
    ]
    empty = "No unknowns: every check could be judged."
    parts.append(
        card(
            table(["Why", "Checks", "Findings", "For example"], rows, numeric=(2,), empty=empty),
            "Unknown findings by reason",
            spaced=bool(parts),
        )
    )
    lead = (
        "A check is unknown, never failed, when a layer it needs could not be read; nothing is repaired from "
        "an unknown. Grouped by the reason the layer gave."
    )
    return section("unknowns", "Unknowns and why", lead, "".join(parts))


LEDGER_STATUSES = ("planned", "applying", "applied", "verified", "failed", "manual_review")


def _ledger_table(counts: pd.DataFrame) -> str:
    pivot = counts.pivot_table(index="repair", columns="status", values="count", fill_value=0, aggfunc="sum")
    statuses = [s for s in LEDGER_STATUSES if s in pivot.columns] + [
        s for s in pivot.columns if s not in LEDGER_STATUSES
    ]
    timing = counts[counts["status"] == "verified"].set_index("repair")["median_s"]
    rows = [
        [ident(repair), *[count(pivot.loc[repair, s]) for s in statuses], duration(timing.get(repair))]
        for repair in pivot.index
    ]
    headers = ["Repair", *[s.replace("_", " ") for s in statuses], "Planned → verified"]
    return table(headers, rows, numeric=tuple(range(1, len(statuses) + 2)), empty="The repair ledger is empty.")


def _activity_table(activity: pd.DataFrame) -> str:
    rows = [
        [
            ident(r.repair),
            ident(r.check_id),
            code(r.entity_id),
            badge(r.status.replace("_", " "), r.status),
            moment(r.at),
        ]
        for r in activity.tail(SHOWN_ACTIVITY).iloc[::-1].itertuples()
    ]
    more = (
        f"<p class='note'>The last {SHOWN_ACTIVITY} of {count(len(activity))}.</p>"
        if len(activity) > SHOWN_ACTIVITY
        else ""
    )
    headers = ["Repair", "Check", "Entity", "Status", "Last event"]
    return table(headers, rows, empty="Nothing was repaired between this run and the next.") + more


def _queue_table(data: ReportData) -> str:
    repairs = data.repairs
    rows = [
        [ident(r.repair), ident(r.check_id), code(r.entity_id), esc(r.source), details(str(r.reason or "")[:300])]
        for r in repairs.queue.itertuples()
    ]
    shown = len(repairs.queue)
    more = (
        f"<p class='note'>Showing {shown} of {count(repairs.queue_total)}.</p>" if repairs.queue_total > shown else ""
    )
    headers = ["Repair", "Check", "Entity", "Why here", "Reason"]
    return table(headers, rows, empty="The manual-review queue is empty.") + more


def _ledger(data: ReportData) -> str:
    repairs = data.repairs
    if repairs.ledger_counts is None:
        return ""
    return (
        card(_activity_table(repairs.activity), "Repaired after this run (before the next)")
        + card(_ledger_table(repairs.ledger_counts), "Repair ledger, all actions by status")
        + card(_queue_table(data), f"Manual-review queue: {plural(repairs.queue_total, 'open item')}")
    )


def _plan(data: ReportData) -> str:
    plan = data.repairs.plan
    rows = [
        [ident(r.repair), badge(repair_kind(r.repair)), count(r.findings), count(r.critical)] for r in plan.itertuples()
    ]
    by_kind = plan.groupby("kind")["findings"].sum() if not plan.empty else pd.Series(dtype="int64")
    tiles = "".join(
        f"<div class='tile'><div class='label'>{esc(label)}</div><div class='value'>{count(by_kind.get(kind, 0))}</div>"
        f"<div class='sub'>{esc(sub)}</div></div>"
        for kind, label, sub in REPAIR_TILES
    )
    table_html = table(["Repair", "Kind", "Findings", "Critical"], rows, numeric=(2, 3), empty="Nothing to repair.")
    return f"<div class='tiles'>{tiles}</div>" + card(table_html, "What the findings call for")


def repairs_section(data: ReportData) -> str:
    repairs = data.repairs
    rows = [
        [ident(r.check_id), esc(r.entity_type), code(r.entity_id), badge(r.severity), details(r.details)]
        for r in repairs.review.itertuples()
    ]
    shown = len(repairs.review)
    more = (
        f"<p class='note'>Showing {shown} of {count(repairs.review_total)}.</p>" if repairs.review_total > shown else ""
    )
    review = table(["Check", "Entity", "Id", "Severity", "Details"], rows, empty="Nothing waits for review.") + more
    lead = (
        "Automatic repairs restore agreement from the layer that holds the truth; the rest wait for a person. "
        "The repair ledger, when there is one, says what was applied and verified."
    )
    return section(
        "repairs", "Repairs and reviews", lead, _plan(data) + _ledger(data) + card(review, "Waiting for review")
    )


def _sample(check_id: str, rows: pd.DataFrame, total: int, severity: str) -> str:
    cells = [
        [
            esc(r.entity_type),
            code(r.entity_id),
            _status_badge(r.status, r.severity),
            ident(r.repair),
            details(r.details),
        ]
        for r in rows.itertuples()
    ]
    more = (
        f"<p class='note'>Showing {len(rows)} of {count(total)}; all are in findings.parquet.</p>"
        if total > len(rows)
        else ""
    )
    summary = (
        f"<summary>{ident(check_id)} {badge(severity)} <span class='muted'>{plural(total, 'finding')}</span></summary>"
    )
    body = table(["Entity", "Id", "Status", "Repair", "Details"], cells) + more
    return f"<details>{summary}<div class='body'>{body}</div></details>"


def findings_section(data: ReportData) -> str:
    worst = data.checks.drop_duplicates("check_id") if not data.checks.empty else data.checks
    body = "".join(
        _sample(r.check_id, *data.samples[r.check_id], r.severity)
        for r in worst.itertuples()
        if r.check_id in data.samples
    )
    lead = f"Up to {data.per_check} findings of each check, worst first; every finding is in the Parquet export."
    return section("findings", "Findings of each check", lead, body or "<p class='muted'>No findings.</p>")
