"""SQLAlchemy models for verification state and alerts (issue 6); migration 0003_automation.py creates them."""

from __future__ import annotations

from .models import Base  # noqa: F401  (tables declared here join Base.metadata)
