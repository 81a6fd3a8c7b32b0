"""The ``alerts`` table (and ``automation_cursors``): live alerts in, decisions and deliveries out.

:meth:`AlertStore.apply` writes one evaluation's decisions in one transaction and returns the notifications
to send (alerts opened, alerts resolved). ``deliveries`` holds, per event, each channel's outcome; an
event with a channel not yet ``delivered`` is retried by the engine (:meth:`AlertStore.undelivered`) for
``RETRY_WINDOW``. Errors come out as the LayerError tree (database down, not migrated).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import insert, select, update

from .. import clients
from ..db.models import TABLES
from .channels import DELIVERED, Notification
from .rules import LIVE, Decision, Known

RETRY_WINDOW = timedelta(hours=24)
EVENT_OF = {"open": "opened", "resolve": "resolved"}
FINAL = {"resolve": "resolved", "clear": "cleared", "merge": "merged"}


def _alerts():
    return TABLES["alerts"]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if isinstance(moment, datetime) else None


def notification(row: dict, event: str) -> Notification:
    return Notification(
        event=event,
        fingerprint=row["fingerprint"],
        severity="info" if event == "resolved" else row["severity"],
        status=row["status"],
        title=row["title"],
        message=row.get("message") or "",
        details=row.get("details") or {},
        kind=row["kind"],
        check_id=row.get("check_id"),
        entity_type=row.get("entity_type"),
        entity_id=row.get("entity_id"),
        alert_id=row.get("id"),
        run_id=row.get("resolved_run_id") if event == "resolved" else row.get("last_run_id"),
        opened_at=_iso(row.get("opened_at")),
        resolved_at=_iso(row.get("resolved_at")),
    )


class AlertStore:
    def __init__(self, settings) -> None:
        self.settings = settings

    def _db(self):
        return clients.database_client(self.settings)

    def live(self, fingerprints: list[str] | None = None) -> dict[str, Known]:
        """Pending and open alerts by fingerprint (all of them, or those of ``fingerprints``)."""
        table = _alerts()
        statement = select(table).where(table.c.status.in_(LIVE))
        if fingerprints is not None:
            statement = statement.where(table.c.active_fingerprint.in_(fingerprints))
        with self._db() as db, db.connect() as conn:
            rows = conn.execute(statement).mappings().all()
        return {
            row["fingerprint"]: Known(
                row["fingerprint"],
                row["kind"],
                row["status"],
                row["severity"],
                row["streak"],
                row["title"],
                row["last_run_id"],
                row["check_id"],
                row["entity_type"],
                row["entity_id"],
                row["id"],
            )  # fmt: skip
            for row in rows
        }

    def has(self, fingerprint: str) -> bool:
        table = _alerts()
        with self._db() as db, db.connect() as conn:
            found = conn.execute(select(table.c.id).where(table.c.fingerprint == fingerprint).limit(1)).first()
        return found is not None

    def apply(self, decisions: list[Decision], run_id: str | None, now: datetime) -> list[Notification]:
        """Write the decisions; the notifications of alerts opened or resolved (with their ids)."""
        table = _alerts()
        notes: list[Notification] = []
        with self._db() as db, db.connect(write=True) as conn:
            for decision in decisions:
                values = self._values(decision, run_id, now)
                if decision.action == "resolve":  # keep the opened event's outcomes beside the resolution's
                    current = conn.execute(select(table.c.deliveries).where(table.c.id == decision.known.alert_id))
                    values["deliveries"] = dict(current.scalar() or {}) | {"resolved": {}}
                if decision.known is not None and decision.known.alert_id is not None:
                    conn.execute(update(table).where(table.c.id == decision.known.alert_id).values(**values))
                    alert_id = decision.known.alert_id
                else:
                    alert_id = conn.execute(insert(table).values(**values)).inserted_primary_key[0]
                if decision.notify:
                    row = conn.execute(select(table).where(table.c.id == alert_id)).mappings().one()
                    notes.append(notification(dict(row), EVENT_OF[decision.action]))
        return notes

    @staticmethod
    def _values(decision: Decision, run_id: str | None, now: datetime) -> dict[str, Any]:
        if decision.action in FINAL:
            values = {"status": FINAL[decision.action], "active_fingerprint": None, "resolved_at": now}
            values |= {"resolved_run_id": run_id, "streak": decision.streak, "last_seen_at": now}
            return values
        signal = decision.signal
        status = "open" if decision.action in ("open", "update") else "pending"
        values = {"status": status, "active_fingerprint": signal.fingerprint, "streak": decision.streak}
        values |= {"last_seen_at": now, "last_run_id": run_id, "severity": signal.severity, "title": signal.title}
        values |= {"message": signal.message, "details": signal.details}
        if decision.known is None:
            values |= {"fingerprint": signal.fingerprint, "kind": signal.kind, "first_seen_at": now,
                       "first_run_id": run_id, "check_id": signal.check_id, "entity_type": signal.entity_type,
                       "entity_id": signal.entity_id}  # fmt: skip
        if decision.action == "open":
            values |= {"opened_at": now, "deliveries": {"opened": {}}}
        return values

    def add_notice(self, fingerprint: str, title: str, message: str, details: dict, run_id: str | None,
                   now: datetime) -> Notification:  # fmt: skip
        values = {"fingerprint": fingerprint, "kind": "notice", "status": "notice", "severity": "info",
                  "title": title[:255], "message": message, "details": details, "streak": 0, "first_seen_at": now,
                  "last_seen_at": now, "first_run_id": run_id, "last_run_id": run_id,
                  "deliveries": {"notice": {}}}  # fmt: skip
        with self._db() as db, db.connect(write=True) as conn:
            alert_id = conn.execute(insert(_alerts()).values(**values)).inserted_primary_key[0]
        return notification(values | {"id": alert_id}, "notice")

    def record_deliveries(self, results: list[tuple[Notification, dict[str, str]]]) -> None:
        table = _alerts()
        with self._db() as db, db.connect(write=True) as conn:
            for note, outcome in results:
                row = conn.execute(select(table.c.deliveries).where(table.c.id == note.alert_id)).first()
                deliveries = dict(row[0] or {}) if row else {}
                merged = dict(deliveries.get(note.event) or {})
                merged.update({name: result for name, result in outcome.items() if merged.get(name) != DELIVERED})
                deliveries[note.event] = merged
                conn.execute(update(table).where(table.c.id == note.alert_id).values(deliveries=deliveries))

    def undelivered(self, now: datetime) -> list[tuple[Notification, set[str]]]:
        """Recent notifications with the channels that delivered them (the caller compares with its channels)."""
        table = _alerts()
        with self._db() as db, db.connect() as conn:
            rows = conn.execute(
                select(table).where(table.c.deliveries.is_not(None), table.c.last_seen_at >= now - RETRY_WINDOW)
            ).mappings().all()  # fmt: skip
        found = []
        for row in rows:
            for event, outcome in (row["deliveries"] or {}).items():
                if event == "opened" and row["status"] != "open":
                    continue  # resolved since: the resolution notice says it all
                done = {name for name, result in (outcome or {}).items() if result == DELIVERED}
                found.append((notification(dict(row), event), done))
        return found

    def frame(self, statuses: tuple[str, ...] | None = None, limit: int = 500) -> pd.DataFrame:
        table = _alerts()
        statement = select(table).order_by(table.c.id.desc()).limit(limit)
        if statuses:
            statement = statement.where(table.c.status.in_(statuses))
        with self._db() as db:
            return db.read_table("alerts", [statement])

    # -- named cursors ---------------------------------------------------------------------------
    def get_cursor(self, name: str) -> dict | None:
        table = TABLES["automation_cursors"]
        with self._db() as db, db.connect() as conn:
            row = conn.execute(select(table.c.value).where(table.c.name == name)).first()
        return dict(row[0]) if row else None

    def set_cursor(self, name: str, value: dict) -> None:
        table = TABLES["automation_cursors"]
        now = datetime.now(UTC)
        with self._db() as db, db.connect(write=True) as conn:
            done = conn.execute(update(table).where(table.c.name == name).values(value=value, updated_at=now))
            if done.rowcount == 0:
                conn.execute(insert(table).values(name=name, value=value, updated_at=now))
