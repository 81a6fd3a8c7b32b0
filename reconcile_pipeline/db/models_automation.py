"""SQLAlchemy models for the cadences and alerts (issue 6); migration 0003_automation.py creates them.

- ``verification_state``: one row per CID (``kind`` "cid") and per judged entity (``kind`` its entity type:
  nft, operation, block, ...): when it was last checked and last verified, the result, and the bytes hash
  (a CID's SHA-256 and size; an entity's content fingerprint). The regular cadence reads it to take content
  already verified by CID from the archive instead of downloading it again; the deep cadence rewrites it.
- ``alerts``: one row per alert episode: a fingerprint (check and entity, a group, an unreadable layer, a
  failed repair, a failed run or sensor) goes ``pending`` (failing, under its threshold) -> ``open`` (notified)
  -> ``resolved`` (one resolution notice), or ``cleared`` (passed before reaching its threshold) or ``merged``
  (rolled into a grouped alert). ``active_fingerprint`` equals ``fingerprint`` while pending or open and is
  NULL afterwards: its unique constraint keeps one live episode per fingerprint on every backend. Notices
  (informational, no episode) have ``status`` "notice". ``deliveries`` records each channel's outcome.
- ``automation_cursors``: small named cursors (the CLI's immediate cadence, the repair-ledger watermark).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import _NOW, Base, _enum, utcnow

ALERT_STATUSES = ("pending", "open", "resolved", "cleared", "merged", "notice")
ALERT_SEVERITIES = ("info", "warning", "critical")


class VerificationState(Base):
    __tablename__ = "verification_state"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    result: Mapped[str] = mapped_column(String(16))
    verified: Mapped[bool] = mapped_column(Boolean)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    last_checked_at: Mapped[datetime]
    last_verified_at: Mapped[datetime | None]
    cadence: Mapped[str | None] = mapped_column(String(16))
    run_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(255), index=True)
    active_fingerprint: Mapped[str | None] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(_enum(ALERT_STATUSES, "alert_status"), index=True)
    severity: Mapped[str] = mapped_column(_enum(ALERT_SEVERITIES, "alert_severity"))
    title: Mapped[str] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    check_id: Mapped[str | None] = mapped_column(String(64))
    entity_type: Mapped[str | None] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(128))
    streak: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=_NOW)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=_NOW)
    opened_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    first_run_id: Mapped[str | None] = mapped_column(String(64))
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    resolved_run_id: Mapped[str | None] = mapped_column(String(64))
    deliveries: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AutomationCursor(Base):
    __tablename__ = "automation_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=_NOW, onupdate=utcnow)
