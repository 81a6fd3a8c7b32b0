"""Report sections: the verdict, the headline numbers, health per layer, findings by check and severity."""

from __future__ import annotations

from .charts import COLORS, bar_rows
from .data import ReportData
from .html_parts import badge, card, count, esc, ident, percent, plural, section, table

VERDICT_ORDER = ("critical", "warning", "unreadable", "partial", "healthy", "not read")


def overall(data: ReportData) -> str:
    verdicts = {layer.verdict for layer in data.layers}
    return next((v for v in VERDICT_ORDER if v in verdicts), "healthy")


def banner(data: ReportData) -> str:
    t, state = data.totals, overall(data)
    unreadable = [layer.title for layer in data.layers if layer.verdict == "unreadable"]
    disagree = sum(layer.critical + layer.warning + layer.info > 0 for layer in data.layers)
    if t["fail"]:
        head = f"{count(t['fail'])} failing findings" + (f", {count(t['critical'])} critical" if t["critical"] else "")
        text = f"{disagree} of {len(data.layers)} layers are named by a failing finding."
    elif t["unknown"]:
        head, text = "No failing findings, but not everything could be judged", ""
    else:
        head, text = "All layers agree", "Every layer was read and every check passed."
    if unreadable:
        text += f" Could not be read: {', '.join(unreadable)} — the checks that need them are unknown, not failed."
    elif t["unknown"]:
        text += f" {count(t['unknown'])} findings are unknown (see Unknowns)."
    words = f"<div><strong>{esc(head)}</strong><br>{esc(text)}</div>"
    return f"<div class='banner {esc(state)}'><span class='dot'></span>{words}</div>"


def _tile(label: str, value: str, sub: str = "") -> str:
    parts = f"<div class='label'>{esc(label)}</div><div class='value'>{value}</div><div class='sub'>{sub}</div>"
    return f"<div class='tile'>{parts}</div>"


def tiles(data: ReportData) -> str:
    t, judged = data.totals, data.judged
    cross = data.metrics.get("crossLayer", {})
    ops = sum(cross.get(k, 0) or 0 for k in ("consistentOperations", "inconsistentOperations", "unverifiedOperations"))
    blocks = data.metrics.get("blockStore", {})
    plan = data.repairs.plan
    automatic = int(plan.loc[plan["kind"] == "automatic", "findings"].sum()) if not plan.empty else 0
    parts = [
        _tile(
            "Failing findings",
            count(t["fail"]),
            f"<span class='crit'>{count(t['critical'])} critical</span> · {count(t['warning'])} warning"
            f" · {count(t['info'])} info",
        ),
        _tile("Unknown", count(t["unknown"]), "could not be judged: a layer was unreadable"),
        _tile(
            "Entities judged",
            count(judged["entities"]),
            f"{count(judged['nft_rows'])} NFT rows · {count(judged['blocks'])} blocks",
        ),
        _tile("Failing entities", count(t["failing_entities"]), f"{count(t['checks_failing'])} checks failing"),
        _tile(
            "Consistent operations",
            percent(cross.get("consistentOperations", 0), ops),
            f"{count(cross.get('consistentOperations'))} of {count(ops)} NFT rows" if cross else "not available",
        ),
        _tile(
            "Blocks complete",
            percent(blocks.get("complete", 0), blocks.get("total_blocks", 0)),
            f"{count(blocks.get('complete'))} of {count(blocks.get('total_blocks'))} blocks"
            if blocks
            else "not available",
        ),
        _tile("Repairs", count(automatic), f"automatic · {count(data.repairs.review_total)} wait for review"),
    ]
    return f"<div class='tiles'>{''.join(parts)}</div>"


def _layer_card(layer) -> str:
    counts = [
        f"<span class='crit'>{count(layer.critical)} critical</span>",
        f"<span class='warn'>{count(layer.warning)} warning</span>",
        f"<span class='muted'>{count(layer.unknown)} unknown</span>",
    ]
    read = f"read {esc(layer.read)}" + (f" · {plural(layer.rows, 'record')}" if layer.read != "not read" else "")
    if layer.unreadable_rows:
        read += f" · {count(layer.unreadable_rows)} unreadable"
    chips = "".join(f"<span class='chip'>{esc(c)}</span>" for c in layer.checks[:4])
    chips += f"<span class='chip more'>+{len(layer.checks) - 4} more</span>" if len(layer.checks) > 4 else ""
    body = f"<div class='counts'>{''.join(counts)}</div><div class='why'>{read}</div>"
    body += f"<div class='chips'>{chips}</div>" if chips else ""
    body += "".join(f"<p class='why'>{esc(m[:300])}</p>" for m in layer.messages[:3])
    title = f"<h3>{esc(layer.title)} {badge(layer.verdict)}</h3>"
    return f"<div class='card layer {esc(layer.verdict)}'>{title}{body}</div>"


def layers_section(data: ReportData) -> str:
    lead = (
        "Each layer's read and the findings that name it (a disagreement counts against every layer it names; "
        "the finding's truth says which one wins)."
    )
    cards = "".join(_layer_card(layer) for layer in data.layers)
    return section("layers", "Health per layer", lead, f"<div class='grid'>{cards}</div>")


def _check_rows(data: ReportData) -> list[tuple[str, list]]:
    checks = data.checks
    if checks.empty:
        return []
    grouped = checks.groupby("check_id", sort=False)
    rows = []
    for check_id, rows_of in grouped:
        segments = [
            (float(r.fail), COLORS.get(r.severity, COLORS["info"]), f"{check_id}: {r.fail:,} failing ({r.severity})")
            for r in rows_of.itertuples()
            if r.fail
        ]
        unknown = int(rows_of["unknown"].sum())
        segments += [(float(unknown), COLORS["unknown"], f"{check_id}: {unknown:,} unknown")] if unknown else []
        rows.append((str(check_id), segments))
    return rows


def _repair_badge(repair: str) -> str:
    if repair in ("NONE", "RECHECK", ""):
        return f"<span class='muted'>{esc(repair.lower() or '—')}</span>"
    return badge(repair.replace("_", " ").lower(), "manual" if repair == "MANUAL_REVIEW" else "automatic")


def checks_section(data: ReportData) -> str:
    chart = bar_rows(_check_rows(data), label="Findings by check: failing by severity, unknown in grey")
    rows = [
        [
            f"{ident(r.check_id)}<div class='note'>{esc(r.summary)}</div>",
            badge(r.severity),
            count(r.fail),
            count(r.unknown),
            f"{esc(r.entity_type)}<div class='note'>{esc(r.layers)}</div>",
            _repair_badge(r.repair),
        ]
        for r in data.checks.itertuples()
    ]
    headers = ["Check", "Severity", "Failing", "Unknown", "Entity · layers", "Planned repair"]
    empty = "No findings in this run: every check passed."
    body = card(chart, spaced=False) + card(table(headers, rows, numeric=(2, 3), empty=empty))
    lead = "Every check of the catalogue that reported something in this run, worst first."
    return section("checks", "Findings by check and severity", lead, body)
