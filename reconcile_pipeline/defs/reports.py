"""Dagster wiring of the consistency report."""

REPORT_ASSETS: list = []  # in the main graph (one report per run)
