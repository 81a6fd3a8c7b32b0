"""Materialize assets in process (the CLI's `demo` and `run`), outside the Dagster daemon."""

from __future__ import annotations

from dagster import AssetMaterialization, DagsterInstance, materialize

from .defs import build_definitions
from .defs.assets import SNAPSHOT_ASSETS


def materialize_snapshots(config_path: str, *, tags: dict[str, str] | None = None) -> dict[str, dict]:
    """Run every snapshot asset once; return each asset's materialization metadata (plain values)."""
    defs = build_definitions(config_path)
    resources = defs.resources
    result = materialize(
        SNAPSHOT_ASSETS,
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    summary: dict[str, dict] = {}
    for event in result.get_asset_materialization_events():
        materialization: AssetMaterialization = event.event_specific_data.materialization
        summary[materialization.asset_key.to_user_string()] = {
            key: getattr(value, "value", value) for key, value in materialization.metadata.items()
        }
    return summary
