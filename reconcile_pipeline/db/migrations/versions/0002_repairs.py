"""Tables for the repair ledger and the manual-review queue (issue 5).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the tables of db/models_repairs.py (none yet)."""


def downgrade() -> None:
    """Drop them."""
