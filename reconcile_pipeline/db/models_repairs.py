"""SQLAlchemy models for the repair ledger and the manual-review queue (issue 5).

Migration 0002_repairs.py creates them.
"""

from __future__ import annotations

from .models import Base  # noqa: F401  (tables declared here join Base.metadata)
