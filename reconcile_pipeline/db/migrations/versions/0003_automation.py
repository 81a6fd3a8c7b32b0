"""Tables for the cadences and alerts (issue 6): verification_state, alerts, automation_cursors.

Revision ID: 0003
Revises: 0002

Names of keys, indexes and CHECK constraints are spelled out (``op.f``), as in 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")
ALERT_STATUSES = ("pending", "open", "resolved", "cleared", "merged", "notice")
ALERT_SEVERITIES = ("info", "warning", "critical")


def timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def enum(table: str, name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=op.f(f"ck_{table}_{name}"), native_enum=False, create_constraint=True)


def _verification_state() -> None:
    op.create_table(
        "verification_state",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("last_checked_at", timestamp(), nullable=False),
        sa.Column("last_verified_at", timestamp(), nullable=True),
        sa.Column("cadence", sa.String(length=16), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_verification_state")),
    )


def _alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.String(length=255), nullable=False),
        sa.Column("active_fingerprint", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", enum("alerts", "alert_status", *ALERT_STATUSES), nullable=False),
        sa.Column("severity", enum("alerts", "alert_severity", *ALERT_SEVERITIES), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("check_id", sa.String(length=64), nullable=True),
        sa.Column("entity_type", sa.String(length=32), nullable=True),
        sa.Column("entity_id", sa.String(length=128), nullable=True),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", timestamp(), server_default=NOW, nullable=False),
        sa.Column("last_seen_at", timestamp(), server_default=NOW, nullable=False),
        sa.Column("opened_at", timestamp(), nullable=True),
        sa.Column("resolved_at", timestamp(), nullable=True),
        sa.Column("first_run_id", sa.String(length=64), nullable=True),
        sa.Column("last_run_id", sa.String(length=64), nullable=True),
        sa.Column("resolved_run_id", sa.String(length=64), nullable=True),
        sa.Column("deliveries", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("active_fingerprint", name=op.f("uq_alerts_active_fingerprint")),
    )
    for column in ("fingerprint", "status"):
        op.create_index(op.f(f"ix_alerts_{column}"), "alerts", [column], unique=False)


def _cursors() -> None:
    op.create_table(
        "automation_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", timestamp(), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_automation_cursors")),
    )


def upgrade() -> None:
    _verification_state()
    _alerts()
    _cursors()


def downgrade() -> None:
    op.drop_table("automation_cursors")
    for column in ("status", "fingerprint"):
        op.drop_index(op.f(f"ix_alerts_{column}"), table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("verification_state")
