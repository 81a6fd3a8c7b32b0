"""The repair ledger and the manual-review queue, in the backend database (tables of db/models_repairs.py).

:class:`Ledger` records each action once, by its unique idempotency key, and moves it through
``planned -> applying -> applied -> verified | failed`` (``manual_review`` when it leaves for the queue).
An action is **claimed** before anything is written (``applying``, ``claimed_by`` = host:pid:session,
attempts + 1) with a compare-and-set on (status, attempts), so two applies never work on one action; every
later change of the row is a compare-and-set on the same pair too, so a session whose claim was taken over
gets :class:`ClaimLost` instead of overwriting the new owner's row. An unfinished claim (``applying`` or
``applied``) whose owner died (same host, no such process) or that is older than the lease
(``settings.repairs.claim_lease_s``) can be taken over: that is how a crashed apply resumes. Before its
first write an action's ``state_before`` is stored (:meth:`Ledger.stash`), so a crash after a destructive
write still leaves what was there. Every change appends an event to ``history``; the queue row of an
escalated action carries that history.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..db.models import TABLES
from ..layers.database import DatabaseClient
from .actions import Action

LEDGER, QUEUE = TABLES["repair_ledger"], TABLES["manual_review_queue"]
_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
UNFINISHED = ("applying", "applied")
COUNTED_FAILURE = "failed"  # history events that count toward max_attempts (an outage does not)


class ClaimLost(Exception):
    """The ledger row changed since this session read it (another apply took the action over)."""


def now() -> datetime:
    return datetime.now(UTC)


def session_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str | None) -> bool:
    """True if ``owner`` ran on this host and its process no longer exists."""
    host, _, rest = (owner or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def history_event(event: str, by: str, detail: Any = None) -> dict:
    """One entry of a ledger row's or a queue item's ``history``."""
    return {"at": now().isoformat(), "event": event, "by": by, "detail": detail}


def action_json(action: Action) -> dict:
    record = action.record()
    return record | {name: getattr(action, name) for name in ("truth", "target", "before")}


class Ledger:
    """Ledger and queue operations for one apply session (``owner``)."""

    def __init__(self, db: DatabaseClient, owner: str, *, max_attempts: int = 3, lease_s: float = 600.0) -> None:
        self.db, self.owner, self.max_attempts, self.lease_s = db, owner, max_attempts, lease_s

    # -- reads ---------------------------------------------------------------------------------
    def row(self, key: str) -> dict | None:
        with self.db.connect() as conn:
            found = conn.execute(select(LEDGER).where(LEDGER.c.idempotency_key == key)).mappings().first()
        return dict(found) if found else None

    def rows(self, statuses: tuple[str, ...] | None = None) -> list[dict]:
        statement = select(LEDGER).order_by(LEDGER.c.created_at, LEDGER.c.action_id)
        if statuses:
            statement = statement.where(LEDGER.c.status.in_(statuses))
        with self.db.connect() as conn:
            return [dict(r) for r in conn.execute(statement).mappings()]

    def queue(self, status: str | None = "open") -> list[dict]:
        statement = select(QUEUE).order_by(QUEUE.c.created_at, QUEUE.c.action_id)
        if status:
            statement = statement.where(QUEUE.c.status == status)
        with self.db.connect() as conn:
            return [dict(r) for r in conn.execute(statement).mappings()]

    def failures(self, row: dict) -> int:
        return sum(1 for event in row.get("history") or [] if event.get("event") == COUNTED_FAILURE)

    def claim_is_stale(self, row: dict) -> bool:
        claimed = row.get("claimed_at")
        expired = claimed is None or claimed < now() - timedelta(seconds=self.lease_s)
        return row["status"] in UNFINISHED and (expired or owner_is_dead(row.get("claimed_by")))

    # -- writes --------------------------------------------------------------------------------
    def _event(self, event: str, detail: Any = None) -> dict:
        return history_event(event, self.owner, detail)

    def _insert_ignore(self, table, values: dict) -> int:
        """Insert unless the idempotency key is taken; the number of rows inserted (0 or 1)."""
        with self.db.connect(write=True) as conn:
            statement = _INSERT[conn.dialect.name](table).values(**values)
            return conn.execute(statement.on_conflict_do_nothing(index_elements=["idempotency_key"])).rowcount

    def _update(self, row: dict, values: dict[str, Any]) -> dict:
        """Compare-and-set ``values`` on the row as read (status, attempts); ClaimLost if it changed since."""
        where = and_(LEDGER.c.id == row["id"], LEDGER.c.status == row["status"], LEDGER.c.attempts == row["attempts"])
        with self.db.connect(write=True) as conn:
            changed = conn.execute(update(LEDGER).where(where).values(**values)).rowcount
        stored = self.row(row["idempotency_key"])
        if changed != 1:
            now_status = stored["status"] if stored else "gone"
            raise ClaimLost(f"ledger row {row['action_id']} changed under this apply (now {now_status})")
        return stored  # type: ignore[return-value]

    def ensure(self, action: Action) -> dict:
        """The action's row, inserted as ``planned`` if the key is new."""
        values = {
            "id": str(uuid.uuid4()), "action_id": action.action_id, "idempotency_key": action.key,
            "check_id": action.check_id, "entity_type": action.entity_type, "entity_id": action.entity_id,
            "repair": action.repair, "destructive": action.destructive, "status": "planned", "attempts": 0,
            "action": action_json(action), "history": [self._event("planned", action.reason)],
        }  # fmt: skip
        self._insert_ignore(LEDGER, values)
        return self.row(action.key)  # type: ignore[return-value]

    def claim(self, row: dict, event: str = "claimed", approved_by: str | None = None) -> dict | None:
        """Take the action (compare-and-set on status and attempts); None if another session got it first."""
        values: dict[str, Any] = {
            "status": "applying", "claimed_by": self.owner, "claimed_at": now(), "attempts": row["attempts"] + 1,
            "history": [*(row.get("history") or []), self._event(event, {"attempt": row["attempts"] + 1})],
        }  # fmt: skip
        if approved_by:
            values |= {"approved_by": approved_by[:128], "approved_at": now()}
        if event == "recurred":  # a new application: the previous one's states stay in history only
            values |= {"state_before": None, "state_after": None, "verification": None}
        try:
            return self._update(row, values)
        except ClaimLost:
            return None

    def stash(self, row: dict, state_before: Any) -> dict:
        """Store what the layer holds before the first write (no event); the row as stored."""
        return self._update(row, {"state_before": state_before})

    def record(self, row: dict, status: str, event: str, detail: Any = None, **fields: Any) -> dict:
        """Set ``status`` (and columns), appending one history event; returns the row as stored (or ClaimLost)."""
        history = [*(row.get("history") or []), self._event(event, detail)]
        return self._update(row, {"status": status, "history": history, **fields})

    def note_once(self, row: dict, event: str, detail: Any = None) -> dict:
        """Append ``event`` unless it is already the last event (a second apply leaves the row unchanged)."""
        history = row.get("history") or []
        if history and history[-1].get("event") == event:
            return row
        return self.record(row, row["status"], event, detail)

    def enqueue(self, action: Action, source: str, reason: str, history: list | None = None) -> bool:
        """Put the action on the manual-review queue (once per key); True if this call added it."""
        if self._queued(action.key):
            return False
        values = {
            "id": str(uuid.uuid4()), "idempotency_key": action.key, "action_id": action.action_id,
            "check_id": action.check_id, "entity_type": action.entity_type, "entity_id": action.entity_id,
            "repair": action.repair, "source": source, "status": "open", "reason": reason,
            "action": action_json(action), "history": history or [self._event("queued", reason)],
        }  # fmt: skip
        return self._insert_ignore(QUEUE, values) == 1

    def _queued(self, key: str) -> bool:
        with self.db.connect() as conn:
            return conn.execute(select(QUEUE.c.id).where(QUEUE.c.idempotency_key == key)).first() is not None


def rehydrated_blocks(db: DatabaseClient) -> set[int]:
    """Block numbers a verified REHYDRATE_BLOCK restored a tier of (seed 004's ``rehydrated`` status)."""
    statement = select(LEDGER.c.entity_id).where(
        (LEDGER.c.repair == "REHYDRATE_BLOCK") & (LEDGER.c.status == "verified") & (LEDGER.c.entity_type == "block")
    )
    with db.connect() as conn:
        return {int(entity) for (entity,) in conn.execute(statement) if str(entity).isdigit()}
