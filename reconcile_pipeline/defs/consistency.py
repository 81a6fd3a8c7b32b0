"""Consistency assets: the joined frames, the findings of every check, and the audit trail.

Thin wiring: each asset calls a pure function of ``checks/`` over the snapshot frames. The GX
suites on the joined frames are asset checks (``defs/gx_checks.py``); the run's outcome (every check judged,
none failing) is two asset checks on ``consistency_findings`` (``defs/outcome.py``). The findings are those the
run's scope judges (:mod:`..checks.scoped`, the scope from the run's tags: the immediate sensor's, the schedules'
and the CLI's runs alike): a shard of the deep scan other than the home shard drops its findings on the whole
population's entities, a run that read some blocks or none judges neither ``vdc:latest`` nor the pending queue,
before they are written, alerted or repaired.
"""

from collections.abc import Iterator

import pandas as pd
from dagster import AssetCheckResult, AssetExecutionContext, AssetIn, MetadataValue, Output, asset

from ..cadences import scope_from_tags
from ..checks.block_join import build_block_consistency
from ..checks.block_status import block_metrics, block_statuses, unreadable_tiers
from ..checks.findings import concat_findings
from ..checks.nft_join import build_nft_consistency
from ..checks.scoped import context_blocks, scoped_block_findings, scoped_nft_findings, without_context
from ..recording import record_findings, rehydrated_block_numbers
from ..repairs.plan import resolve_repairs
from ..snapshots import BLOCK_SNAPSHOTS, NFT_SNAPSHOTS
from .outcome import outcome_check_specs, outcome_checks
from .resources import SettingsResource

GROUP = "consistency"
CONTEXT_ATTR = "contextBlocks"  # block_findings attrs: the block numbers read only as context (not judged)


def _ins(names: tuple[str, ...]) -> dict[str, AssetIn]:
    return {name: AssetIn(name) for name in names}


def finding_counts(findings: pd.DataFrame) -> dict:
    return {
        "fail": int((findings["status"] == "fail").sum()),
        "unknown": int((findings["status"] == "unknown").sum()),
        "by_check": MetadataValue.json(
            {f"{c}:{s}": int(n) for (c, s), n in findings.groupby(["check_id", "status"]).size().items()}
        ),
    }


@asset(
    group_name=GROUP,
    ins=_ins(NFT_SNAPSHOTS),
    kinds={"parquet"},
    description="One row per minting operation or on-chain mint, every NFT layer joined (outer join).",
)
def nft_consistency(settings: SettingsResource, **frames: pd.DataFrame) -> Output[pd.DataFrame]:
    joined = build_nft_consistency(frames, settings.load())
    unreadable = list(joined.attrs.get("unreadable", []))
    return Output(joined, metadata={"dagster/row_count": len(joined), "unreadable_layers": unreadable})


@asset(
    group_name=GROUP,
    ins=_ins(("nft_consistency", *NFT_SNAPSHOTS)),
    kinds={"parquet"},
    description="Findings of every NFT check (fail and unknown), with seed 000's consistencyMetrics.",
)
def nft_findings(
    context: AssetExecutionContext, settings: SettingsResource, nft_consistency: pd.DataFrame, **frames: pd.DataFrame
) -> Output:
    scope = scope_from_tags(context.run.tags)
    findings, metrics = scoped_nft_findings(nft_consistency, frames, settings.load(), scope)
    findings.attrs["consistencyMetrics"] = metrics  # kept by the Parquet IO manager: run_history.metrics
    return Output(findings, metadata={**finding_counts(findings), "consistencyMetrics": MetadataValue.json(metrics)})


@asset(
    group_name=GROUP,
    ins=_ins(BLOCK_SNAPSHOTS),
    kinds={"parquet"},
    description="One row per block number, the KV, R2 and IPFS copies side by side.",
)
def block_consistency(settings: SettingsResource, **frames: pd.DataFrame) -> Output[pd.DataFrame]:
    joined = build_block_consistency(frames, settings.load())
    return Output(joined, metadata={"dagster/row_count": len(joined)})


@asset(
    group_name=GROUP,
    ins=_ins(("block_consistency", *BLOCK_SNAPSHOTS)),
    kinds={"parquet"},
    description="Findings of every block-store check, and each block's status (ok/partial/rehydrated/failed).",
)
def block_findings(
    context: AssetExecutionContext, settings: SettingsResource, block_consistency: pd.DataFrame, **frames: pd.DataFrame
) -> Output:
    loaded = settings.load()
    # a run judges only what it read: no block when it read none, vdc:latest and the pending queue only when it read
    # every block (the home shard of a sharded scan), not the context block below a scoped range (checks.scoped)
    findings = scoped_block_findings(frames, loaded, scope_from_tags(context.run.tags), blocks=block_consistency)
    read_as_context = context_blocks(frames)
    judged = without_context(block_consistency, read_as_context)
    statuses = block_statuses(judged, findings, rehydrated=rehydrated_block_numbers(loaded))
    summary = block_metrics(statuses, findings, unreadable_tiers(frames))
    findings.attrs["blockStatus"] = summary
    findings.attrs[CONTEXT_ATTR] = read_as_context  # kept by Parquet: consistency_findings audits the judged only
    return Output(findings, metadata={**finding_counts(findings), "blockStatus": MetadataValue.json(summary)})


@asset(
    group_name=GROUP,
    kinds={"parquet", "sql"},
    description="All findings of the run, each failing one's repair as the repair plan has it; written to the findings"
    " and consistency_checks tables (audit).",
    check_specs=outcome_check_specs(),
)
def consistency_findings(
    context: AssetExecutionContext,
    settings: SettingsResource,
    nft_findings: pd.DataFrame,
    block_findings: pd.DataFrame,
    nft_consistency: pd.DataFrame,
    block_consistency: pd.DataFrame,
) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
    scope = scope_from_tags(context.run.tags)
    loaded = settings.load()
    findings = concat_findings([nft_findings, block_findings])  # both already home_entities_only
    findings = resolve_repairs(findings, nft_consistency, block_consistency, loaded)  # repair = the plan's entry
    cadence = context.run.tags.get("reconcile/cadence", "manual")
    metrics = {name: part.attrs[name] for name, part in (("consistencyMetrics", nft_findings),
               ("blockStatus", block_findings)) if name in part.attrs}  # fmt: skip
    judged_blocks = without_context(block_consistency, list(block_findings.attrs.get(CONTEXT_ATTR) or []))
    written = record_findings(loaded, context.run_id, cadence, findings, nft_consistency, judged_blocks,
                              context.log, metrics=metrics)  # fmt: skip
    shard = {"shard": scope.shard.key, "judges_population": scope.judges_population} if scope.shard else {}
    yield Output(findings, metadata={**finding_counts(findings), **written, "cadence": cadence, **shard})
    yield from outcome_checks(findings, nft_consistency)


CONSISTENCY_ASSETS = [nft_consistency, nft_findings, block_consistency, block_findings, consistency_findings]
