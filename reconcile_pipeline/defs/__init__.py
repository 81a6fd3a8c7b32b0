"""Dagster definitions, loaded by ``workspace.yaml`` (``python_module: reconcile_pipeline.defs``)."""

from __future__ import annotations

from dagster import Definitions, define_asset_job

from .assets import SNAPSHOT_ASSETS
from .automation import AUTOMATION_JOBS, SCHEDULES, SENSORS
from .consistency import CONSISTENCY_ASSETS
from .deep_graph import deep_graph
from .gx_checks import GX_CHECKS
from .io import ParquetIOManager
from .repairs import REPAIR_ASSETS, REPAIR_JOBS
from .reports import REPORT_ASSETS
from .resources import SettingsResource
from .retention import RETENTION_JOBS, RETENTION_SCHEDULES
from .verify import VERIFY_JOBS

ALL_ASSETS = [*SNAPSHOT_ASSETS, *CONSISTENCY_ASSETS, *REPAIR_ASSETS, *REPORT_ASSETS]
DEEP_ASSETS, DEEP_GX_CHECKS = deep_graph(ALL_ASSETS)  # the deep scan: the same graph under deep/, by shard
snapshot_job = define_asset_job("snapshot_all_layers", selection=SNAPSHOT_ASSETS, description="Read every layer.")
reconcile_job = define_asset_job(
    "reconcile", selection=ALL_ASSETS, description="Snapshot every layer, join, check, record the findings."
)


def build_definitions(config_path: str | None = None) -> Definitions:
    settings = SettingsResource(config_path=config_path)
    return Definitions(
        assets=[*ALL_ASSETS, *DEEP_ASSETS],
        asset_checks=[*GX_CHECKS, *DEEP_GX_CHECKS],
        jobs=[snapshot_job, reconcile_job, *REPAIR_JOBS, *AUTOMATION_JOBS, *RETENTION_JOBS, *VERIFY_JOBS],
        schedules=[*SCHEDULES, *RETENTION_SCHEDULES],
        sensors=SENSORS,
        resources={"settings": settings, "io_manager": ParquetIOManager(settings=settings)},
    )


defs = build_definitions()
