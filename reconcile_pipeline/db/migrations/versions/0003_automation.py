"""Tables for verification state and alerts (issue 6).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the tables of db/models_automation.py (none yet)."""


def downgrade() -> None:
    """Drop them."""
