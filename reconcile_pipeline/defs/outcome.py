"""The run's outcome as asset checks on ``consistency_findings`` (and ``deep/consistency_findings``).

A run whose layers could not all be read must not look like a plain success in the UI: the asset
check ``every_check_judged`` (severity ERROR) fails when any finding is unknown, naming the checks left
unknown and the layers that could not be read; ``no_failing_findings`` (ERROR) fails on any failing
finding. Together they follow `reconcile run`'s exit codes (:mod:`..outcome`): both pass is 0,
``no_failing_findings`` failed is 1, only ``every_check_judged`` failed is 3. The run itself still succeeds
(its findings, repairs and report are written); the checks are not blocking.
"""

from collections.abc import Iterator

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from ..outcome import outcome_of

JUDGED, NOT_FAILING = "every_check_judged", "no_failing_findings"
OUTCOME_CHECK_NAMES = frozenset({JUDGED, NOT_FAILING})
SAMPLE = 50  # check ids listed in the metadata at most


def outcome_check_specs(asset: str = "consistency_findings") -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(JUDGED, asset=asset, description="Every check in scope was judged: no layer left a check "
                       "unknown (exit status 3 of `reconcile run` when this alone fails)."),
        AssetCheckSpec(NOT_FAILING, asset=asset, description="No failing finding (exit status 1 of `reconcile run`)."),
    ]  # fmt: skip


def outcome_checks(findings: pd.DataFrame, nft_consistency: pd.DataFrame) -> Iterator[AssetCheckResult]:
    """The two outcome checks of a run's judged findings."""
    outcome = outcome_of(findings)
    unreadable = nft_consistency.attrs.get("unreadable") or {}
    yield AssetCheckResult(
        check_name=JUDGED,
        passed=outcome.unknown == 0,
        severity=AssetCheckSeverity.ERROR,
        description=outcome.describe(),
        metadata={
            "exit_code": outcome.exit_code,
            "unknown": outcome.unknown,
            "unknown_checks": MetadataValue.json(list(outcome.unknown_checks[:SAMPLE])),
            "unreadable_layers": MetadataValue.json({str(k): str(v)[:300] for k, v in dict(unreadable).items()}),
        },
    )
    yield AssetCheckResult(
        check_name=NOT_FAILING,
        passed=outcome.failing == 0,
        severity=AssetCheckSeverity.ERROR,
        description=outcome.describe(),
        metadata={
            "exit_code": outcome.exit_code,
            "failing": outcome.failing,
            "failing_checks": MetadataValue.json(list(outcome.failing_checks[:SAMPLE])),
        },
    )
