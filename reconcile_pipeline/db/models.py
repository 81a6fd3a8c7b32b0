"""The backend database schema: SQLAlchemy 2 models, portable to PostgreSQL and SQLite.

Tables (seed 000 "Database Schema Requirements", plus the pipeline's own):

- ``minting_operations``     one row per mint attempt, as in seed 000, plus ``mint_address``
- ``consistency_checks``     seed 000's check log, plus ``run_id``, ``check_id``, ``entity_type``, ``entity_id``
- ``source_image_registry``  expected SHA-256 and IPFS CID per level, as in seed 000
- ``findings``               the pipeline's findings per run (the catalogue, DESIGN §3)
- ``run_history``            one row per reconciliation run, for trends in the reports

Extensions to seed 000, and why:

- ``minting_operations.mint_address`` (nullable, indexed): the chain is keyed by mint address,
  the seed's table only by operation id and transaction signature; without it the cross-layer
  join would have to go through transaction lookups.
- ``consistency_checks.check_type`` gains ``BLOCK_STORE`` and ``status`` gains ``UNKNOWN`` (a
  layer that could not be read); ``run_id``/``check_id``/``entity_type``/``entity_id`` tie a row
  to a run and to the catalogue.
- ``source_image_registry.ipfs_hash`` is ``String(100)``, not 64: a CIDv1 (base32) is 59+ chars
  and longer with other codecs/hashes.
- ``created_at``/``updated_at`` are NOT NULL (defaults as in the seed); ``updated_at`` is bumped
  on ORM updates (``onupdate``); MySQL's ``ON UPDATE CURRENT_TIMESTAMP`` has no portable twin.

Portability: UUIDs are ``String(36)``; enums are non-native (``VARCHAR`` + a named ``CHECK``);
JSON is ``sqlalchemy.JSON``; timestamps are :class:`UtcDateTime` (timezone-aware on PostgreSQL,
stored as UTC text on SQLite, always returned tz-aware UTC).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, ForeignKey, Integer, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

MINT_STATUSES = (
    "PENDING",
    "SOURCE_READ",
    "IPFS_UPLOADED",
    "BLOCKCHAIN_SUBMITTED",
    "BLOCKCHAIN_CONFIRMED",
    "VERIFIED",
    "COMPLETED",
    "FAILED",
)
CHECK_TYPES = ("SOURCE_IMAGE", "BLOCKCHAIN", "IPFS", "PARTNER_VERIFICATION", "BLOCK_STORE")
CHECK_STATUSES = ("PASSED", "FAILED", "PENDING", "UNKNOWN")
FINDING_STATUSES = ("fail", "unknown")
SEVERITIES = ("info", "warning", "critical")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that stores UTC and always returns tz-aware UTC (SQLite too).

    Naive datetimes are refused on write: a naive value's zone is a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None or value != value:  # None, pandas.NaT
            return None
        if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
            value = value.to_pydatetime()
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give it a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(values: tuple[str, ...], name: str) -> Enum:
    """A portable enum: VARCHAR plus a CHECK constraint named ``ck_<table>_<name>``."""
    return Enum(*values, name=name, native_enum=False, create_constraint=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


_NOW = text("CURRENT_TIMESTAMP")


class MintingOperation(Base):
    __tablename__ = "minting_operations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    user_wallet_address: Mapped[str] = mapped_column(String(44))
    level: Mapped[str] = mapped_column(String(20))
    source_image_path: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(_enum(MINT_STATUSES, "minting_status"), index=True)
    transaction_signature: Mapped[str | None] = mapped_column(String(88), index=True)
    metadata_uri: Mapped[str | None] = mapped_column(Text)
    image_uri: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=_NOW)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=_NOW, onupdate=utcnow, index=True)
    verified_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(Text)
    retry_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    mint_address: Mapped[str | None] = mapped_column(String(44), index=True)


class ConsistencyCheck(Base):
    __tablename__ = "consistency_checks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    operation_id: Mapped[str | None] = mapped_column(ForeignKey("minting_operations.id"), index=True)
    check_type: Mapped[str] = mapped_column(_enum(CHECK_TYPES, "check_type"))
    status: Mapped[str] = mapped_column(_enum(CHECK_STATUSES, "check_status"))
    details: Mapped[dict[str, Any] | None]
    checked_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=_NOW)
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    check_id: Mapped[str | None] = mapped_column(String(64))
    entity_type: Mapped[str | None] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(128))


class SourceImageRegistry(Base):
    __tablename__ = "source_image_registry"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    level: Mapped[str] = mapped_column(String(20), unique=True)
    file_path: Mapped[str] = mapped_column(String(255))
    file_hash: Mapped[str | None] = mapped_column(String(64))
    last_verified: Mapped[datetime | None] = mapped_column(default=utcnow, server_default=_NOW)
    ipfs_hash: Mapped[str | None] = mapped_column(String(100))
    last_uploaded: Mapped[datetime | None]


class Finding(Base):
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    check_id: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(128))
    layers: Mapped[list[str]]
    status: Mapped[str] = mapped_column(_enum(FINDING_STATUSES, "finding_status"))
    severity: Mapped[str] = mapped_column(_enum(SEVERITIES, "severity"))
    truth: Mapped[str | None] = mapped_column(String(32))
    repair: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None]
    found_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=_NOW)


class RunHistory(Base):
    __tablename__ = "run_history"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cadence: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict[str, Any] | None]
    metrics: Mapped[dict[str, Any] | None]


from . import models_automation, models_repairs  # noqa: E402,F401  (their tables join Base.metadata)

TABLES = Base.metadata.tables
