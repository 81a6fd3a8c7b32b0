"""Dagster definitions, loaded by ``workspace.yaml`` (``python_module: reconcile_pipeline.defs``)."""

from __future__ import annotations

from dagster import Definitions, define_asset_job

from .assets import SNAPSHOT_ASSETS
from .io import ParquetIOManager
from .resources import SettingsResource

snapshot_job = define_asset_job("snapshot_all_layers", selection=SNAPSHOT_ASSETS, description="Read every layer.")


def build_definitions(config_path: str | None = None) -> Definitions:
    settings = SettingsResource(config_path=config_path)
    return Definitions(
        assets=SNAPSHOT_ASSETS,
        jobs=[snapshot_job],
        resources={"settings": settings, "io_manager": ParquetIOManager(settings=settings)},
    )


defs = build_definitions()
