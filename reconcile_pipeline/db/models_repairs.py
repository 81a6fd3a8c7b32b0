"""SQLAlchemy models for the repair ledger and the manual-review queue (issue 5, DESIGN §5).

- ``repair_ledger``: one row per repair action, keyed by its idempotency key (check, entity, the
  truth's version; unique) and its ``action_id`` (a short stable hash of that key, what operators
  approve). ``status`` moves planned -> applying (claimed by ``claimed_by`` before any write) ->
  applied (written, or found already in the target state) -> verified | failed; a row that failed
  too often, or whose repair was refused (its source did not validate), becomes ``manual_review``.
  ``state_before`` / ``state_after`` hold what the layer held before the write and what was
  written; ``verification`` the re-check's outcome; ``history`` every event with its time.
- ``manual_review_queue``: what a person must decide (the seeds' dead-letter queue): findings whose
  repair is manual (``source`` "plan") and actions moved here after failures (``source``
  "failures") or refusals (``source`` "refused"), with the action and its ledger history.

Migration 0002_repairs.py creates them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from .models import _NOW, Base, _enum, new_uuid, utcnow

REPAIR_STATUSES = ("planned", "applying", "applied", "verified", "failed", "manual_review")
QUEUE_STATUSES = ("open", "resolved")
QUEUE_SOURCES = ("plan", "failures", "refused")


class RepairLedgerRow(Base):
    __tablename__ = "repair_ledger"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    action_id: Mapped[str] = mapped_column(String(32), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    check_id: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(128), index=True)
    repair: Mapped[str] = mapped_column(String(64))
    destructive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(_enum(REPAIR_STATUSES, "repair_status"), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    action: Mapped[dict[str, Any]] = mapped_column(JSON)
    state_before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state_after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    last_error: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(String(128))
    approved_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=_NOW)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=_NOW, onupdate=utcnow)


class ManualReviewItem(Base):
    __tablename__ = "manual_review_queue"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    action_id: Mapped[str] = mapped_column(String(32), index=True)
    check_id: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(128))
    repair: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(_enum(QUEUE_SOURCES, "queue_source"))
    status: Mapped[str] = mapped_column(_enum(QUEUE_STATUSES, "queue_status"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    action: Mapped[dict[str, Any]] = mapped_column(JSON)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=_NOW)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=_NOW, onupdate=utcnow)
    resolved_at: Mapped[datetime | None]
