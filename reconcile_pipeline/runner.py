"""Materialize assets in process (the CLI's `demo`, `run`), outside the Dagster daemon."""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import DagsterInstance, materialize

from .defs import ALL_ASSETS, build_definitions
from .defs.assets import SNAPSHOT_ASSETS
from .defs.gx_checks import GX_CHECKS

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunSummary:
    run_id: str
    success: bool
    assets: dict[str, dict] = field(default_factory=dict)  # asset -> materialization metadata (plain values)
    checks: dict[str, dict] = field(default_factory=dict)  # check -> {passed, severity, metadata}


def _plain(metadata: dict) -> dict:
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


def materialize_in_process(
    config_path: str | None, selection: list, *, tags: dict[str, str] | None = None
) -> RunSummary:
    """Run the given assets (and asset checks) once on an ephemeral instance."""
    defs = build_definitions(config_path)
    result = materialize(
        selection,
        resources=defs.resources,
        instance=DagsterInstance.ephemeral(),
        tags=tags,
        run_config=QUIET,
        raise_on_error=False,
    )
    summary = RunSummary(result.run_id, result.success)
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        summary.assets[materialization.asset_key.to_user_string()] = _plain(materialization.metadata)
    for evaluation in result.get_asset_check_evaluations():
        summary.checks[evaluation.check_name] = {
            "passed": evaluation.passed,
            "severity": evaluation.severity.value,
            "metadata": _plain(evaluation.metadata),
        }
    return summary


def materialize_snapshots(config_path: str | None, *, tags: dict[str, str] | None = None) -> dict[str, dict]:
    """Every snapshot asset once; each asset's materialization metadata."""
    return materialize_in_process(config_path, SNAPSHOT_ASSETS, tags=tags).assets


def run_reconciliation(config_path: str | None, *, cadence: str, tags: dict[str, str] | None = None) -> RunSummary:
    """Snapshots, joined frames, expectation suites, every check, findings recorded."""
    return materialize_in_process(
        config_path, [*ALL_ASSETS, *GX_CHECKS], tags={"reconcile/cadence": cadence, **(tags or {})}
    )
