"""Dagster wiring of the cadences and alerts: schedules, sensors, their jobs."""

AUTOMATION_JOBS: list = []
SCHEDULES: list = []
SENSORS: list = []
