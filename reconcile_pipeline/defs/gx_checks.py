"""The GX expectation suites as Dagster asset checks (GX 1.x called directly, not dagster-ge).

One asset check per expectation, named by the suite's ``check_name``, with its severity (WARN or
ERROR), blocking where the suite says so, and a bounded sample of failing entity ids as metadata.
"""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from ..checks.gx_runner import check_metas, validate_frame
from .resources import SettingsResource


def _specs(suite: str, asset_key: AssetKey) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(meta.check_name, asset=asset_key, blocking=meta.blocking, description=meta.description)
        for meta in check_metas(suite)
    ]


def _results(outcomes, asset_key: AssetKey):
    for outcome in outcomes:
        severity = AssetCheckSeverity.ERROR if outcome.meta.severity == "ERROR" else AssetCheckSeverity.WARN
        metadata = {
            "expectation": outcome.expectation_type,
            "unexpected_count": outcome.unexpected_count,
            "element_count": outcome.element_count,
            "sample_entity_ids": MetadataValue.json(outcome.sample_entity_ids),
        }
        if outcome.error:
            metadata["error"] = outcome.error[:1000]
        yield AssetCheckResult(
            asset_key=asset_key,
            check_name=outcome.meta.check_name,
            passed=outcome.success and not outcome.error,
            severity=severity,
            metadata=metadata,
        )


def build_gx_checks(prefix: tuple[str, ...] = ()) -> list:
    """The two suites' asset checks on ``nft_consistency`` and ``block_consistency`` (under ``prefix``)."""
    nft_key, block_key = AssetKey([*prefix, "nft_consistency"]), AssetKey([*prefix, "block_consistency"])
    name = "_".join([*prefix, ""])

    @multi_asset_check(
        specs=_specs("nft_consistency", nft_key), ins={"frame": AssetIn(nft_key)},
        name=f"{name}nft_consistency_expectations",
    )  # fmt: skip
    def nft_consistency_expectations(settings: SettingsResource, frame: pd.DataFrame):
        authority = settings.load().solana.update_authority
        parameters = {"update_authorities": [authority] if authority else []}
        yield from _results(validate_frame(frame, "nft_consistency", parameters), nft_key)

    @multi_asset_check(
        specs=_specs("block_consistency", block_key), ins={"frame": AssetIn(block_key)},
        name=f"{name}block_consistency_expectations",
    )  # fmt: skip
    def block_consistency_expectations(frame: pd.DataFrame):
        yield from _results(validate_frame(frame, "block_consistency", id_column="block_number"), block_key)

    return [nft_consistency_expectations, block_consistency_expectations]


GX_CHECKS = build_gx_checks()
