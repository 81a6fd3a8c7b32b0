"""Small HTML building blocks for the report: escaping, tables, badges, numbers, times and durations.

Every value from data goes through :func:`esc`; nothing from a finding becomes markup, an attribute that
loads something (``src``, ``href`` to a remote place) or a script.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape

import pandas as pd


def esc(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return escape(str(value), quote=True)


def code(value: object) -> str:
    return f"<code>{esc(value)}</code>"


def ident(value: object) -> str:
    """A catalogue id or code: monospace, never broken across lines."""
    return f"<code class='id'>{esc(value)}</code>"


def plural(number: int, word: str) -> str:
    return f"{count(number)} {word}" + ("" if number == 1 else "s")


def card(body: str, title: str = "", *, spaced: bool = True) -> str:
    """A white card, optionally with a small heading; spaced: a gap above it."""
    heading = f"<h3>{esc(title)}</h3>" if title else ""
    return f"<div class='card{' spaced' if spaced else ''}'>{heading}{body}</div>"


def count(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{int(value):,}" if float(value).is_integer() else f"{float(value):,.1f}"


def percent(part: float, whole: float) -> str:
    return "—" if not whole else f"{100 * part / whole:.1f}%"


def badge(text: str, kind: str | None = None) -> str:
    return f"<span class='badge {esc(kind or text)}'>{esc(text)}</span>"


def when(value: datetime | pd.Timestamp | None) -> str:
    """A UTC time as text (escaped, plain: for cells that must not wrap use :func:`moment`)."""
    if value is None or pd.isna(value):
        return "—"
    stamp = pd.Timestamp(value)
    return (
        stamp.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
        if stamp.tzinfo
        else stamp.strftime("%Y-%m-%d %H:%M:%S")
    )


def moment(value: datetime | pd.Timestamp | None) -> str:
    return f"<span class='nowrap'>{esc(when(value))}</span>"


def short_time(value: datetime | pd.Timestamp | None) -> str:
    if value is None or pd.isna(value):
        return "?"
    return pd.Timestamp(value).strftime("%m-%d %H:%M")


def duration(seconds: float | None) -> str:
    """42 s, 7 min, 3.5 h, 2.1 d; — for none."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            value = seconds / size
            return f"{value:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds:.0f} s"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = (), empty: str = ""
) -> str:
    """A table of already-escaped cells; ``numeric`` column indexes are right-aligned."""
    head = "".join(
        f"<th class='n'>{esc(h)}</th>" if i in numeric else f"<th>{esc(h)}</th>" for i, h in enumerate(headers)
    )
    body = [
        "<tr>"
        + "".join(f"<td class='n'>{c}</td>" if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    ]
    if not body:
        return f"<p class='muted'>{esc(empty or 'Nothing to show.')}</p>"
    return f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def section(anchor: str, title: str, lead: str, body: str) -> str:
    intro = f"<p class='lead'>{lead}</p>" if lead else ""
    return f"<section id='{esc(anchor)}'><h2>{esc(title)}</h2>{intro}{body}</section>"


def details(text: str) -> str:
    return f"<span class='details'>{esc(text)}</span>"
