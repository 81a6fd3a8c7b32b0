"""Inline SVG charts (no library, no network): bars, a donut, stacked columns over runs, a heatmap.

Each function returns one ``<svg>`` element as text, sized by its viewBox so it scales with the page,
with a ``<title>`` on every mark (the browser shows it as a tooltip) and an ``aria-label`` for readers.
Colours come from :data:`COLORS`, shared with the page's CSS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

COLORS = {
    "critical": "#d64545",
    "warning": "#e59f2b",
    "info": "#4a8fd9",
    "unknown": "#98a2b3",
    "ok": "#3c9d6d",
    "partial": "#e5c02b",
    "failed": "#d64545",
    "rehydrated": "#4a8fd9",
    "grid": "#e4e7ec",
    "axis": "#667085",
    "text": "#344054",
}
LABEL_WIDTH = 290  # room for the longest check id at 12px
FONT = "font-family='system-ui, -apple-system, Segoe UI, Roboto, sans-serif'"

Segment = tuple[float, str, str]  # value, colour, tooltip


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def number(value: float) -> str:
    """1234567 -> '1.2M', 12345 -> '12.3k', small numbers as they are."""
    for threshold, size, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _svg(width: float, height: float, label: str, body: str) -> str:
    return (
        f"<svg viewBox='0 0 {width:.0f} {height:.0f}' role='img' "
        f"aria-label='{escape(label)}' class='chart' {FONT}><title>{escape(label)}</title>{body}</svg>"
    )


def _text(x: float, y: float, text: str, *, size: int = 12, anchor: str = "start", color: str = "", weight="") -> str:
    fill = color or COLORS["text"]
    bold = f" font-weight='{weight}'" if weight else ""
    where = f"x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}'"
    return f"<text {where} fill='{fill}'{bold}>{escape(text)}</text>"


def _rect(x: float, y: float, w: float, h: float, color: str, tip: str, radius: float = 0) -> str:
    return (
        f"<rect x='{x:.2f}' y='{y:.2f}' width='{max(w, 0):.2f}' height='{h:.2f}' rx='{radius}' fill='{color}'>"
        f"<title>{escape(tip)}</title></rect>"
    )


def bar_rows(rows: Sequence[tuple[str, Sequence[Segment]]], *, label: str, width: int = 1080, bar: int = 16) -> str:
    """Horizontal stacked bars, one per row (label on the left, total on the right), on a shared scale."""
    if not rows:
        return _svg(width, 40, label, _text(10, 24, "nothing to show", color=COLORS["axis"]))
    label_w, right, gap = LABEL_WIDTH, 60, 8
    top = max(sum(v for v, _, _ in segs) for _, segs in rows)
    scale = (width - label_w - right) / nice_ceiling(top)
    parts, height = [], len(rows) * (bar + gap) + 8
    for i, (name, segments) in enumerate(rows):
        y = 4 + i * (bar + gap)
        parts.append(
            _text(label_w - 8, y + bar - 4, name if len(name) <= 36 else name[:35] + "…", size=12, anchor="end")
        )
        x = float(label_w)
        for value, color, tip in segments:
            parts.append(_rect(x, y, value * scale, bar, color, tip, 2))
            x += value * scale
        total = sum(v for v, _, _ in segments)
        parts.append(_text(x + 6, y + bar - 4, number(total), size=12, color=COLORS["axis"]))
    return _svg(width, height, label, "".join(parts))


def donut(parts: Sequence[tuple[str, float, str]], *, label: str, center: str, sub: str = "", size: int = 200) -> str:
    """A ring of ``(name, value, colour)`` parts with a big number in the middle."""
    radius, stroke, c = size / 2 - 16, 26, size / 2
    circumference = 2 * math.pi * radius
    total = sum(v for _, v, _ in parts)
    ring = [
        f"<circle cx='{c}' cy='{c}' r='{radius:.1f}' fill='none' stroke='{COLORS['grid']}' stroke-width='{stroke}'/>"
    ]
    offset = 0.0
    for name, value, color in parts:
        if value <= 0 or total <= 0:
            continue
        length = circumference * value / total
        ring.append(
            f"<circle cx='{c}' cy='{c}' r='{radius:.1f}' fill='none' stroke='{color}' stroke-width='{stroke}' "
            f"stroke-dasharray='{length:.2f} {circumference - length:.2f}' stroke-dashoffset='{-offset:.2f}' "
            f"transform='rotate(-90 {c} {c})'><title>{escape(f'{name}: {number(value)}')}</title></circle>"
        )
        offset += length
    ring.append(_text(c, c + 4, center, size=26, anchor="middle", weight="600"))
    if sub:
        ring.append(_text(c, c + 24, sub, size=11, anchor="middle", color=COLORS["axis"]))
    return _svg(size, size, label, "".join(ring))


def _y_axis(left: float, top: float, plot_w: float, plot_h: float, ceiling: float) -> list[str]:
    parts = []
    for step in range(5):
        value = ceiling * step / 4
        y = top + plot_h - plot_h * step / 4
        parts.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y:.1f}' y2='{y:.1f}' stroke='{COLORS['grid']}'/>")
        parts.append(_text(left - 6, y + 4, number(value), size=11, anchor="end", color=COLORS["axis"]))
    return parts


def stacked_columns(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    label: str,
    highlight: int | None = None,
    width: int = 1080,
    height: int = 240,
) -> str:
    """Columns over runs, each stacked from ``series`` = (name, colour, values per column)."""
    left, top, bottom = 48, 12, 42
    plot_w, plot_h = width - left - 12, height - top - bottom
    count = max(len(labels), 1)
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    ceiling = 4 * nice_ceiling(max(totals, default=0) / 4)
    slot = plot_w / count
    column_w = max(min(slot * 0.7, 46), 2)
    parts = _y_axis(left, top, plot_w, plot_h, ceiling)
    every = max(1, math.ceil(count / 12))
    for i, name in enumerate(labels):
        x = left + i * slot + (slot - column_w) / 2
        y = top + plot_h
        if highlight == i:
            parts.append(_rect(left + i * slot, top, slot, plot_h, "#eef2ff", f"{name} (this run)"))
        for part, color, values in series:
            h = plot_h * values[i] / ceiling
            y -= h
            parts.append(_rect(x, y, column_w, h, color, f"{name} — {part}: {number(values[i])}"))
        if i % every == 0 or i == count - 1:
            parts.append(
                _text(x + column_w / 2, top + plot_h + 16, name, size=11, anchor="middle", color=COLORS["axis"])
            )
    legend_x = left
    for part, color, _ in series:
        parts.append(_rect(legend_x, height - 14, 10, 10, color, part, 2))
        parts.append(_text(legend_x + 14, height - 5, part, size=12))
        legend_x += 24 + 7 * len(part)
    return _svg(width, height, label, "".join(parts))


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    cells: Sequence[Sequence[float]],
    *,
    label: str,
    unknown: Sequence[Sequence[float]] | None = None,
    width: int = 1080,
) -> str:
    """Rows × columns of counts shaded from light to red (the largest count); grey where only unknowns were."""
    label_w, cell_h, top = LABEL_WIDTH, 16, 4
    cell_w = (width - label_w - 8) / max(len(columns), 1)
    peak = max((max(r, default=0) for r in cells), default=0) or 1
    parts = []
    for i, (name, values) in enumerate(zip(rows, cells, strict=True)):
        y = top + i * (cell_h + 2)
        short = name if len(name) <= 36 else name[:35] + "…"
        parts.append(_text(label_w - 8, y + cell_h - 4, short, size=12, anchor="end"))
        for j, value in enumerate(values):
            unknowns = unknown[i][j] if unknown is not None else 0
            color, tip = _cell(value, unknowns, peak)
            parts.append(_rect(label_w + j * cell_w, y, cell_w - 1, cell_h, color, f"{name} · {columns[j]}: {tip}", 2))
    height = top + len(rows) * (cell_h + 2) + 4
    return _svg(width, max(height, 24), label, "".join(parts))


def _cell(value: float, unknowns: float, peak: float) -> tuple[str, str]:
    if value:
        return f"rgba(214,69,69,{0.12 + 0.88 * math.sqrt(value / peak):.2f})", f"{number(value)} failing"
    if unknowns:
        return "#d0d5dd", f"{number(unknowns)} unknown"
    return "#f2f4f7", "none"
