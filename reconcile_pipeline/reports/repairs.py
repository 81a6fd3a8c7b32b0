"""What was repaired and what waits for review.

Two sources:

- the run's findings: each failing finding carries the repair the catalogue plans for it (an automatic
  action, ``MANUAL_REVIEW``, ``RECHECK`` or ``NONE``); unknown findings are never repaired;
- the repair ledger and the manual-review queue (``repair_ledger``, ``manual_review_queue``; issue 5),
  read only if the database has them (a database not migrated that far, or unreachable, is a note).
  The report shows the ledger as it stands, the actions taken *after* this run and before the next
  one (what was done about this run's findings: its ``reconciliationEvents``), and the open queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from .. import clients
from ..db.models import TABLES
from ..layers.errors import LayerError
from ..settings import Settings
from .frame_tools import lookup, plain
from .summary import SEVERITY_RANK, details_text, repair_kind

LEDGER_COLUMNS = [
    "action_id",
    "repair",
    "check_id",
    "entity_type",
    "entity_id",
    "status",
    "attempts",
    "approved_by",
    "last_error",
    "created_at",
    "updated_at",
    "history",
]
QUEUE_COLUMNS = ["action_id", "repair", "check_id", "entity_type", "entity_id", "source", "reason", "created_at"]
MAX_LEDGER_ROWS = 200_000
SHOWN_ROWS = 50
QUIET_EVENTS = frozenset({"planned"})  # history events that are not a repair activity


@dataclass
class RepairSummary:
    plan: pd.DataFrame  # repair, kind, findings, critical: what this run's findings call for
    review: pd.DataFrame  # failing findings whose repair is MANUAL_REVIEW (a bounded sample)
    review_total: int
    ledger_counts: pd.DataFrame | None = None  # repair, status, count, median_s (planned -> verified)
    activity: pd.DataFrame | None = None  # ledger actions with an event after this run, before the next
    queue: pd.DataFrame | None = None  # open manual-review items (bounded)
    queue_total: int = 0
    rehydrated: list[int] = field(default_factory=list)  # blocks a verified rehydration restored before the run
    notes: list[str] = field(default_factory=list)

    @property
    def events(self) -> int | None:
        """Seed 000's reconciliationEvents for this run: ledger actions taken about it (None: no ledger)."""
        return None if self.activity is None else len(self.activity)


def planned_repairs(findings: pd.DataFrame) -> pd.DataFrame:
    """Failing findings by repair code: repair, kind, findings, critical; automatic first, then by size."""
    fails = findings[findings["status"] == "fail"]
    if fails.empty:
        return pd.DataFrame(columns=["repair", "kind", "findings", "critical"])
    plan = fails.assign(critical=fails["severity"] == "critical").groupby("repair")
    plan = plain(plan.agg(findings=("critical", "size"), critical=("critical", "sum")).reset_index())
    plan["kind"] = plan["repair"].map(repair_kind)
    order = plan["kind"].map({"automatic": 0, "manual": 1, "recheck": 2, "none": 3})
    plan = plan.assign(_o=order).sort_values(["_o", "findings", "repair"], ascending=[True, False, True])
    return plan[["repair", "kind", "findings", "critical"]].reset_index(drop=True)


def review_sample(findings: pd.DataFrame, limit: int = SHOWN_ROWS) -> tuple[pd.DataFrame, int]:
    rows = findings[(findings["status"] == "fail") & (findings["repair"] == "MANUAL_REVIEW")]
    rows = rows.assign(_r=lookup(rows["severity"], SEVERITY_RANK, 9)).sort_values(["_r", "check_id"])
    shown = plain(rows.head(limit))[["check_id", "entity_type", "entity_id", "severity", "details"]].copy()
    shown["details"] = [details_text(d, 160) for d in shown["details"]]
    return shown.reset_index(drop=True), len(rows)


def _events(history: object) -> list[tuple[pd.Timestamp, str]]:
    if not isinstance(history, list):
        return []
    out = []
    for event in history:
        if isinstance(event, dict) and event.get("at"):
            out.append((pd.Timestamp(event["at"]), str(event.get("event", ""))))
    return out


def _time_to_verify(history: object) -> float | None:
    events = _events(history)
    planned = [at for at, name in events if name == "planned"]
    verified = [at for at, name in events if name == "verified"]
    return (verified[-1] - planned[0]).total_seconds() if planned and verified else None


def ledger_counts(ledger: pd.DataFrame) -> pd.DataFrame:
    """Per repair and status: count, and the median time from planned to verified (seconds)."""
    timed = ledger.assign(median_s=[_time_to_verify(h) for h in ledger["history"]])
    grouped = timed.groupby(["repair", "status"], dropna=False)
    counts = grouped.agg(count=("action_id", "size"), median_s=("median_s", "median")).reset_index()
    return counts.sort_values(["repair", "status"], ignore_index=True)


def activity(ledger: pd.DataFrame, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    """Ledger actions with a repair event in [start, end): what was done after a run and before the next."""
    low = pd.Timestamp(start) if start is not None else None
    high = pd.Timestamp(end) if end is not None else None
    rows = []
    for row in ledger.itertuples():
        events = [(at, name) for at, name in _events(row.history) if name not in QUIET_EVENTS]
        window = [(at, name) for at, name in events if (low is None or at >= low) and (high is None or at < high)]
        if window:
            at, name = window[-1]
            rows.append(
                {
                    "action_id": row.action_id,
                    "repair": row.repair,
                    "check_id": row.check_id,
                    "entity_type": row.entity_type,
                    "entity_id": row.entity_id,
                    "status": row.status,
                    "last_event": name,
                    "at": at,
                }
            )
    columns = ["action_id", "repair", "check_id", "entity_type", "entity_id", "status", "last_event", "at"]
    return pd.DataFrame(rows, columns=columns).sort_values("at", ignore_index=True)


def rehydrated_blocks(ledger: pd.DataFrame, before: datetime | None) -> list[int]:
    """Blocks whose rehydration was verified before ``before`` (seed 004's ``rehydrated`` status)."""
    done = ledger[(ledger["repair"] == "REHYDRATE_BLOCK") & (ledger["status"] == "verified")]
    if before is not None:
        done = done[pd.to_datetime(done["updated_at"], utc=True) <= pd.Timestamp(before)]
    numbers = pd.to_numeric(done["entity_id"], errors="coerce").dropna()
    return sorted(int(n) for n in numbers)


def _read(conn, name: str, columns: list[str], limit: int, where=None) -> tuple[pd.DataFrame, int]:
    table = TABLES[name]
    chosen = [table.c[c] for c in columns if c in table.c]
    count = select(func.count()).select_from(table)
    query = select(*chosen).order_by(table.c.created_at).limit(limit)
    if where is not None:
        count, query = count.where(where(table)), query.where(where(table))
    result = conn.execute(query)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys())).reindex(columns=columns)
    return frame, int(conn.execute(count).scalar_one())


def read_ledger(settings: Settings, summary: RepairSummary, start: datetime | None, end: datetime | None) -> None:
    """Fill the ledger parts of ``summary`` when the tables exist; problems become notes."""
    try:
        with clients.database_client(settings) as client, client.connect() as conn:
            names = set(inspect(conn).get_table_names())
            if not {"repair_ledger", "manual_review_queue"} <= names or "repair_ledger" not in TABLES:
                summary.notes.append("no repair ledger in the database yet: repairs are planned from the findings")
                return
            ledger, total = _read(conn, "repair_ledger", LEDGER_COLUMNS, MAX_LEDGER_ROWS)
            open_items = lambda table: table.c.status == "open"  # noqa: E731
            summary.queue, summary.queue_total = _read(
                conn, "manual_review_queue", QUEUE_COLUMNS, SHOWN_ROWS, open_items
            )
    except (LayerError, SQLAlchemyError) as exc:
        summary.notes.append(f"repair ledger not read: {str(exc)[:300]}")
        return
    if total > len(ledger):
        summary.notes.append(f"repair ledger: the first {len(ledger):,} of {total:,} actions were read")
    summary.ledger_counts = ledger_counts(ledger)
    summary.activity = activity(ledger, start, end)
    summary.rehydrated = rehydrated_blocks(ledger, start)


def repair_summary(
    findings: pd.DataFrame, settings: Settings | None, *, start: datetime | None = None, end: datetime | None = None
) -> RepairSummary:
    """The repairs part of a report; ``start``/``end`` bound the ledger activity shown (this run to the next)."""
    review, review_total = review_sample(findings)
    summary = RepairSummary(plan=planned_repairs(findings), review=review, review_total=review_total)
    if settings is not None:
        read_ledger(settings, summary, start, end)
    return summary
