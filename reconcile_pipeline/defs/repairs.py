"""Dagster wiring of repairs: the repair_plan asset (part of every reconciliation) and the apply job."""

REPAIR_ASSETS: list = []  # in the main graph (planned on every run)
REPAIR_JOBS: list = []  # launched on purpose (apply)
