"""Tables for the repair ledger and the manual-review queue (issue 5).

Revision ID: 0002
Revises: 0001

Names of keys, indexes and CHECK constraints are spelled out (``op.f``), as in 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")
REPAIR_STATUSES = ("planned", "applying", "applied", "verified", "failed", "manual_review")


def timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def enum(table: str, name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=op.f(f"ck_{table}_{name}"), native_enum=False, create_constraint=True)


def _finding_columns() -> list[sa.Column]:
    return [
        sa.Column("check_id", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("repair", sa.String(length=64), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "repair_ledger",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("action_id", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        *_finding_columns(),
        sa.Column("destructive", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("status", enum("repair_ledger", "repair_status", *REPAIR_STATUSES), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("action", sa.JSON(), nullable=False),
        sa.Column("state_before", sa.JSON(), nullable=True),
        sa.Column("state_after", sa.JSON(), nullable=True),
        sa.Column("verification", sa.JSON(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", timestamp(), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", timestamp(), nullable=True),
        sa.Column("created_at", timestamp(), server_default=NOW, nullable=False),
        sa.Column("updated_at", timestamp(), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_ledger")),
        sa.UniqueConstraint("action_id", name=op.f("uq_repair_ledger_action_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_repair_ledger_idempotency_key")),
    )
    for column in ("entity_id", "status"):
        op.create_index(op.f(f"ix_repair_ledger_{column}"), "repair_ledger", [column], unique=False)

    op.create_table(
        "manual_review_queue",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("action_id", sa.String(length=32), nullable=False),
        *_finding_columns(),
        sa.Column("source", enum("manual_review_queue", "queue_source", "plan", "failures", "refused"), nullable=False),
        sa.Column("status", enum("manual_review_queue", "queue_status", "open", "resolved"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("action", sa.JSON(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_at", timestamp(), server_default=NOW, nullable=False),
        sa.Column("updated_at", timestamp(), server_default=NOW, nullable=False),
        sa.Column("resolved_at", timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_review_queue")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_manual_review_queue_idempotency_key")),
    )
    for column in ("action_id", "status"):
        op.create_index(op.f(f"ix_manual_review_queue_{column}"), "manual_review_queue", [column], unique=False)


def downgrade() -> None:
    for column in ("action_id", "status"):
        op.drop_index(op.f(f"ix_manual_review_queue_{column}"), table_name="manual_review_queue")
    op.drop_table("manual_review_queue")
    for column in ("entity_id", "status"):
        op.drop_index(op.f(f"ix_repair_ledger_{column}"), table_name="repair_ledger")
    op.drop_table("repair_ledger")
