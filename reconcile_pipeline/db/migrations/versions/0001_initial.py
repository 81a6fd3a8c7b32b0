"""Initial schema: seed 000's three tables (with the documented extensions), findings, run_history.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Names of keys, indexes and CHECK constraints are spelled out (``op.f``) so this revision does not
depend on the models' naming convention. Enums are VARCHAR + CHECK on both backends.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")


def timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def enum(table: str, name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=op.f(f"ck_{table}_{name}"), native_enum=False, create_constraint=True)


def upgrade() -> None:
    op.create_table(
        "minting_operations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_wallet_address", sa.String(length=44), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("source_image_path", sa.String(length=255), nullable=False),
        sa.Column(
            "status",
            enum(
                "minting_operations",
                "minting_status",
                "PENDING",
                "SOURCE_READ",
                "IPFS_UPLOADED",
                "BLOCKCHAIN_SUBMITTED",
                "BLOCKCHAIN_CONFIRMED",
                "VERIFIED",
                "COMPLETED",
                "FAILED",
            ),
            nullable=False,
        ),
        sa.Column("transaction_signature", sa.String(length=88), nullable=True),
        sa.Column("metadata_uri", sa.Text(), nullable=True),
        sa.Column("image_uri", sa.Text(), nullable=True),
        sa.Column("created_at", timestamp(), server_default=NOW, nullable=False),
        sa.Column("updated_at", timestamp(), server_default=NOW, nullable=False),
        sa.Column("verified_at", timestamp(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("retry_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("mint_address", sa.String(length=44), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_minting_operations")),
    )
    for column in ("mint_address", "status", "transaction_signature", "updated_at"):
        op.create_index(op.f(f"ix_minting_operations_{column}"), "minting_operations", [column], unique=False)

    op.create_table(
        "consistency_checks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("operation_id", sa.String(length=36), nullable=True),
        sa.Column(
            "check_type",
            enum(
                "consistency_checks",
                "check_type",
                "SOURCE_IMAGE",
                "BLOCKCHAIN",
                "IPFS",
                "PARTNER_VERIFICATION",
                "BLOCK_STORE",
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            enum("consistency_checks", "check_status", "PASSED", "FAILED", "PENDING", "UNKNOWN"),
            nullable=False,
        ),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("checked_at", timestamp(), server_default=NOW, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("check_id", sa.String(length=64), nullable=True),
        sa.Column("entity_type", sa.String(length=32), nullable=True),
        sa.Column("entity_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["minting_operations.id"],
            name=op.f("fk_consistency_checks_operation_id_minting_operations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consistency_checks")),
    )
    for column in ("operation_id", "run_id"):
        op.create_index(op.f(f"ix_consistency_checks_{column}"), "consistency_checks", [column], unique=False)

    op.create_table(
        "source_image_registry",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("file_path", sa.String(length=255), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=True),
        sa.Column("last_verified", timestamp(), server_default=NOW, nullable=True),
        sa.Column("ipfs_hash", sa.String(length=100), nullable=True),
        sa.Column("last_uploaded", timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_image_registry")),
        sa.UniqueConstraint("level", name=op.f("uq_source_image_registry_level")),
    )

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("check_id", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("layers", sa.JSON(), nullable=False),
        sa.Column("status", enum("findings", "finding_status", "fail", "unknown"), nullable=False),
        sa.Column("severity", enum("findings", "severity", "info", "warning", "critical"), nullable=False),
        sa.Column("truth", sa.String(length=32), nullable=True),
        sa.Column("repair", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("found_at", timestamp(), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
    )
    op.create_index(op.f("ix_findings_run_id"), "findings", ["run_id"], unique=False)

    op.create_table(
        "run_history",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("cadence", sa.String(length=16), nullable=False),
        sa.Column("started_at", timestamp(), nullable=False),
        sa.Column("finished_at", timestamp(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_history")),
    )


def downgrade() -> None:
    op.drop_table("run_history")
    op.drop_index(op.f("ix_findings_run_id"), table_name="findings")
    op.drop_table("findings")
    op.drop_table("source_image_registry")
    for column in ("operation_id", "run_id"):
        op.drop_index(op.f(f"ix_consistency_checks_{column}"), table_name="consistency_checks")
    op.drop_table("consistency_checks")
    for column in ("mint_address", "status", "transaction_signature", "updated_at"):
        op.drop_index(op.f(f"ix_minting_operations_{column}"), table_name="minting_operations")
    op.drop_table("minting_operations")
