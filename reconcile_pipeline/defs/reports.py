"""Dagster wiring of the consistency report: one ``consistency_report`` per run, linked from the UI.

The asset reads the run's findings, joined frames and snapshots through the IO manager, hands them to
:func:`reconcile_pipeline.reports.build_report` and returns no value (nothing for the IO manager to
write): the report folder holds ``report.html`` and the Parquet exports, and the materialization's
metadata carries the HTML's path and a ``file://`` URL so the UI links to it. It does not wait for
``repair_plan``: planning writes nothing to the ledger, and a plan that is refused must not cost the
run its report (the ledger's actions show in the report built after they were applied).
"""

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MaterializeResult, MetadataValue, asset

from ..reports import RunFrames, build_report
from ..snapshots import SNAPSHOT_NAMES
from .resources import SettingsResource

GROUP = "reports"


def _metadata(result) -> dict:
    totals = result.data.totals
    return {
        "report": MetadataValue.path(str(result.html_path)),
        "report_url": MetadataValue.url(result.html_path.resolve().as_uri()),
        "report_bytes": result.html_bytes,
        "exports": MetadataValue.json({e.name: {"path": str(e.path), "rows": e.rows} for e in result.exports}),
        "fail": totals["fail"],
        "unknown": totals["unknown"],
        "critical": totals["critical"],
        "history_runs": len(result.data.history.runs),
    }


@asset(
    group_name=GROUP,
    ins={
        "consistency_findings": AssetIn("consistency_findings"),
        "nft_consistency": AssetIn("nft_consistency"),
        "block_consistency": AssetIn("block_consistency"),
        **{name: AssetIn(name) for name in SNAPSHOT_NAMES},
    },
    kinds={"html", "parquet"},
    description="The run's consistency report for analysts: self-contained HTML and Parquet exports.",
)
def consistency_report(
    context: AssetExecutionContext,
    settings: SettingsResource,
    consistency_findings: pd.DataFrame,
    nft_consistency: pd.DataFrame,
    block_consistency: pd.DataFrame,
    **snapshots: pd.DataFrame,
) -> MaterializeResult:
    frames = RunFrames(
        run_id=context.run_id,
        findings=consistency_findings,
        nft=nft_consistency,
        blocks=block_consistency,
        snapshots=snapshots,
        findings_source="given",
    )
    cadence = context.run.tags.get("reconcile/cadence", "manual")
    result = build_report(settings.load(), frames=frames, cadence=cadence)
    context.log.info(f"consistency report: {result.html_path} ({result.html_bytes:,} bytes)")
    return MaterializeResult(metadata=_metadata(result))


REPORT_ASSETS = [consistency_report]  # in the main graph (one report per run)
